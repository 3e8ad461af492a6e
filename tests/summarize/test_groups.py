"""Input files and their problems: groups read from TSV / CSV / JSONL, and groups that cannot be
summarised getting a message instead of a crash (summarize/groups.py)."""

import pytest
from review_groups import review_groups

from sentvae.errors import DataError
from sentvae.summarize.groups import parse_columns, read_groups
from sentvae.summarize.summarizer import SummaryOptions, summarize


def test_read_groups_from_tsv_csv_and_jsonl(tmp_path):
    (tmp_path / "g.tsv").write_text("group_id\trev1\trev2\tsumm1\nA\tGood food.\tBad service.\tOk.\n")
    (tmp_path / "g.csv").write_text('Input.business_id,Input.original_review_0,Input.original_review_0_id,'
                                    'Answer.summary\nB,"Line one.\n\nLine ""two"".",x1,"Sum."\n')
    (tmp_path / "g.jsonl").write_text('{"topic": "C", "sentences": ["a b .", "c d ."], "gold": ["e"]}\n')
    (tmp_path / "rows.tsv").write_text("g\ttext\nX\tOne.\nY\tTwo.\nX\tThree.\n")
    [tsv] = read_groups(tmp_path / "g.tsv", references="summ1")
    assert (tsv.id, tsv.texts, tsv.references) == ("A", ["Good food.", "Bad service."], ["Ok."])
    [csv_group] = read_groups(tmp_path / "g.csv", references="Answer.summary")
    assert csv_group.id == "B" and csv_group.texts == ['Line one.\n\nLine "two".']
    [jsonl] = read_groups(tmp_path / "g.jsonl", group_column="topic", columns="sentences", references="gold")
    assert (jsonl.id, jsonl.texts, jsonl.references) == ("C", ["a b .", "c d ."], ["e"])
    rows = read_groups(tmp_path / "rows.tsv", group_column="g", text_column="text")
    assert [(g.id, g.texts) for g in rows] == [("X", ["One.", "Three."]), ("Y", ["Two."])]
    assert parse_columns("rev1..rev3,summ1") == ["rev1", "rev2", "rev3", "summ1"]
    with pytest.raises(DataError, match="no column 'rev3'"):
        read_groups(tmp_path / "g.tsv", columns="rev1..rev9")


def test_problem_groups_get_a_clear_message_not_a_crash(trained_vae, tmp_path):
    good = " ".join(s for g in review_groups(1) for s in g.texts)
    path = tmp_path / "groups.tsv"
    path.write_bytes(b"group_id\trev1\trev2\n"
                     + f"ok\t{good}\t{good}\n".encode()
                     + b"single\tthe pretty cats dance .\t\n"
                     + b"empty\t\t   \n"
                     + b"bytes\tthe cats \xff dance .\tgood\n")
    groups = read_groups(path)
    summaries = summarize(trained_vae, groups, SummaryOptions(length=10))
    by_id = {s.group_id: s for s in summaries}
    assert by_id["ok"].text and by_id["ok"].message is None
    assert by_id["single"].text and "only one sentence" in by_id["single"].message
    assert by_id["empty"].text == "" and "no text" in by_id["empty"].message
    assert by_id["bytes"].text == "" and "not valid UTF-8" in by_id["bytes"].message
    assert f"{path}:5" in by_id["bytes"].message  # names the file and line
