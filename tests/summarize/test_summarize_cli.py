"""`sentvae summarize` end to end on a tiny run."""

import json

from review_groups import review_groups


def test_cli_summarize_reads_stdin_and_writes_json(trained_run, tmp_path, capsys, monkeypatch):
    import io
    import sys

    from sentvae.cli import main

    text = " ".join(review_groups(1)[0].texts)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    out = tmp_path / "out.json"
    assert main(["summarize", "-m", str(trained_run), "--length", "12", "--json", str(out)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    record = json.loads(out.read_text())
    assert len(printed) == 1 and printed[0] == record["summaries"][0]["text"] != ""
    assert record["method"] == "cluster" and record["summaries"][0]["scores"]["words"] >= 12

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xff\xfe not text")))
    assert main(["summarize", "-m", str(trained_run)]) == 2
    assert "not valid UTF-8" in capsys.readouterr().err
