"""The README's Python API snippet runs as written (on a tiny trained run instead of runs/demo),
and its quick-start commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _python_api_snippet() -> str:
    section = README.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_python_api_snippet_runs(trained_run, trained_lm, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = _python_api_snippet().replace('"runs/demo"', repr(str(trained_run)))
    code = code.replace('"runs/demo_lm"', repr(str(trained_lm)))
    assert str(trained_run) in code and str(trained_lm) in code  # the snippet loads the runs it names
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 5 + 6  # five samples, six interpolation points
    assert (tmp_path / "my_checkpoint" / "model.safetensors").is_file()


def test_the_ci_runs_the_readme_test_command():
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "test-command" in ci and "pytest" in README.split("<!-- test-command -->", 1)[1].split("<!--", 1)[0]
