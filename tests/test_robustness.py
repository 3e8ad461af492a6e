"""Bad input through the real command line: one line on stderr, exit status 2, no traceback.

Every case runs `python -m sentvae ...` in a subprocess. The cases are independent, so they are
run a few at a time by one module fixture (most of the wall time is interpreter start-up); each
test then checks its own case: status 2, exactly one stderr line, no traceback, and the file,
line or key that the line must name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sentvae.corpus import generate

ENV = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_DATASETS_OFFLINE="1")
TINY_CHECKPOINT = {"embed_dim": 16, "encoder_hidden_dim": 16, "decoder_hidden_dim": 16,
                   "latent_dim": 4}


def without_root_override() -> list[str]:
    """A command prefix under which file permissions hold even for root (who ignores chmod):
    `setpriv` drops the capabilities that let root read and write anything."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]


@dataclass
class Case:
    """One bad input: the command-line arguments and what its error line must contain."""

    name: str
    args: list[str]
    named: list[str]  # substrings of the error line (the file, line, key or value at fault)
    prefix: list[str] = field(default_factory=list)


def _write_inputs(root: Path) -> None:
    """The bad (and a few good) input files the cases refer to, in `root`."""
    good = [s.text for s in generate(40, seed=3)]
    (root / "good.txt").write_text("\n".join(good) + "\n", encoding="utf-8")
    (root / "empty.txt").write_bytes(b"")
    (root / "blank.txt").write_text("\n   \n\t\n\n", encoding="utf-8")
    (root / "latin1.txt").write_bytes(b"a good line\nanother one\ncaf\xe9 au lait\nfine\n")
    (root / "folder").mkdir()
    (root / "a_file").write_text("not a directory\n", encoding="utf-8")
    (root / "secret.txt").write_text("\n".join(good) + "\n", encoding="utf-8")
    (root / "secret.txt").chmod(0o000)
    (root / "readonly").mkdir()
    (root / "readonly").chmod(0o555)
    (root / "nocolumn.csv").write_text("id,sentence\n1,the cat sat .\n2,a dog ran .\n")
    (root / "nocolumn.tsv").write_text("id\tsentence\n1\tthe cat sat .\n2\ta dog ran .\n")
    (root / "nocolumn.jsonl").write_text('{"sentence": "the cat sat ."}\n{"sentence": "a dog ."}\n')
    (root / "broken.jsonl").write_text('{"text": "the cat sat ."}\n\n{"text": "a dog ran .",\n'
                                       '{"text": "fine"}\n')
    # every line far longer than any sentence (model.max_length is 60 tokens)
    (root / "long.txt").write_text("\n".join(" ".join(["word"] * 5000) for _ in range(5)) + "\n")
    (root / "unknown_key.yaml").write_text("model:\n  latent_dim: 8\n  latent_size: 8\n")
    (root / "wrong_type.yaml").write_text("train:\n  batch_size: lots\n")


def _write_checkpoints(root: Path) -> None:
    """A valid tiny (untrained) checkpoint and broken copies of it."""
    from sentvae.config import ModelConfig
    from sentvae.model import SentenceVAE
    from sentvae.pipeline import VAEPipeline
    from sentvae.tokenizer import TextTokenizer

    texts = [s.text for s in generate(300, seed=1)]
    tokenizer = TextTokenizer.train(texts)
    model = SentenceVAE(ModelConfig(vocab_size=tokenizer.vocab_size, **TINY_CHECKPOINT))
    VAEPipeline(model, tokenizer).save_pretrained(root / "model")
    for name in ("no_weights", "no_tokenizer", "newer", "other_vocab"):
        shutil.copytree(root / "model", root / name)
    (root / "no_weights" / "model.safetensors").unlink()
    (root / "no_tokenizer" / "tokenizer.json").unlink()
    config = json.loads((root / "newer" / "config.json").read_text())
    config["format_version"] = 99
    (root / "newer" / "config.json").write_text(json.dumps(config))
    smaller = TextTokenizer.train(texts[:20])
    assert smaller.vocab_size != tokenizer.vocab_size
    smaller.save(root / "other_vocab" / "tokenizer.json")
    # a run directory that already holds a run, and one with nothing to resume
    (root / "old_run" / "checkpoints").mkdir(parents=True)
    shutil.copytree(root / "model", root / "old_run" / "checkpoints" / "step-0000010")
    (root / "old_run" / "last").symlink_to("checkpoints/step-0000010")
    (root / "no_run").mkdir()


TRAIN = ["train", "--quiet", "--set", "train.max_steps=2"]


def _cases() -> list[Case]:
    out = ["--out", "run"]
    return [
        # paths
        Case("missing_corpus", TRAIN + ["--train", "nowhere.txt"] + out, ["nowhere.txt", "no such file"]),
        Case("unreadable_corpus", TRAIN + ["--train", "secret.txt"] + out,
             ["secret.txt", "Permission denied"], prefix=["ROOTLESS"]),
        Case("directory_as_corpus", TRAIN + ["--train", "folder"] + out, ["folder", "is a directory"]),
        Case("directory_as_valid", TRAIN + ["--train", "good.txt", "--valid", "folder"] + out,
             ["folder", "is a directory"]),
        Case("directory_as_input", ["reconstruct", "-m", "model", "--input", "folder"],
             ["folder", "is a directory"]),
        Case("missing_input", ["reconstruct", "-m", "model", "--input", "nowhere.txt"],
             ["nowhere.txt", "no such file"]),
        Case("file_as_model", ["sample", "-m", "good.txt"], ["good.txt", "found a file"]),
        Case("directory_as_config", TRAIN + ["--config", "folder"] + out, ["folder", "is a directory"]),
        # contents
        Case("empty_corpus", TRAIN + ["--train", "empty.txt"] + out, ["empty.txt", "empty"]),
        Case("blank_corpus", TRAIN + ["--train", "blank.txt"] + out, ["blank.txt", "empty"]),
        Case("blank_input", ["reconstruct", "-m", "model", "--input", "blank.txt"],
             ["blank.txt", "no non-blank lines"]),
        Case("non_utf8_corpus", TRAIN + ["--train", "latin1.txt"] + out,
             ["latin1.txt:3", "UTF-8", "--encoding-errors replace"]),
        Case("non_utf8_valid", TRAIN + ["--train", "good.txt", "--valid", "latin1.txt"] + out,
             ["latin1.txt:3", "UTF-8"]),
        Case("non_utf8_input", ["reconstruct", "-m", "model", "--input", "latin1.txt"],
             ["latin1.txt:3", "UTF-8", "--encoding-errors replace"]),
        Case("only_overlong_lines", TRAIN + ["--train", "long.txt"] + out,
             ["long.txt", "at most 60 tokens", "train.long_sentences=truncate"]),
        Case("csv_without_column", TRAIN + ["--train", "nocolumn.csv"] + out,
             ["nocolumn.csv", "'text'", "id, sentence", "train.text_column"]),
        Case("tsv_without_column", TRAIN + ["--train", "nocolumn.tsv"] + out,
             ["nocolumn.tsv", "'text'", "train.text_column"]),
        Case("jsonl_without_column",
             TRAIN + ["--train", "nocolumn.jsonl", "--set", "train.text_column=body"] + out,
             ["nocolumn.jsonl", "'body'", "sentence"]),
        Case("malformed_jsonl", TRAIN + ["--train", "broken.jsonl"] + out, ["broken.jsonl:3", "JSON"]),
        # configuration
        Case("unknown_key_in_file", TRAIN + ["--config", "unknown_key.yaml"] + out,
             ["unknown_key.yaml", "model.latent_size"]),
        Case("wrong_type_in_file", TRAIN + ["--config", "wrong_type.yaml"] + out,
             ["wrong_type.yaml", "train.batch_size", "lots"]),
        Case("unknown_key_set", TRAIN + ["--set", "train.learning_rate=0.1"] + out,
             ["train.learning_rate"]),
        Case("wrong_type_set", TRAIN + ["--set", "model.bidirectional=maybe"] + out,
             ["model.bidirectional", "maybe"]),
        Case("not_a_number_set", TRAIN + ["--set", "train.lr=.nan"] + out, ["train.lr", "finite"]),
        Case("negative_latent_dim", TRAIN + ["--set", "model.latent_dim=-3"] + out,
             ["model.latent_dim", "-3"]),
        Case("bad_flag_value", ["interpolate", "-m", "model", "--steps", "many", "a", "b"],
             ["--steps", "many"]),
        # output directory
        Case("output_under_a_file", TRAIN + ["--out", "a_file/run"], ["a_file/run", "Not a directory"]),
        Case("output_not_writable", TRAIN + ["--out", "readonly/run"],
             ["readonly/run", "Permission denied"], prefix=["ROOTLESS"]),
        Case("run_exists_without_resume", TRAIN + ["--out", "old_run"], ["old_run", "--resume"]),
        Case("nothing_to_resume", TRAIN + ["--out", "no_run", "--resume"],
             ["no_run", "nothing to resume"]),
        # checkpoints
        Case("checkpoint_without_weights", ["sample", "-m", "no_weights"],
             ["no_weights/model.safetensors", "missing"]),
        Case("checkpoint_without_tokenizer", ["reconstruct", "-m", "no_tokenizer", "a cat"],
             ["no_tokenizer/tokenizer.json", "not found"]),
        Case("checkpoint_from_newer_version", ["sample", "-m", "newer"],
             ["newer/config.json", "format version 99", "upgrade"]),
        Case("tokenizer_does_not_match_weights", ["sample", "-m", "other_vocab"],
             ["other_vocab/tokenizer.json", "does not match"]),
        # decoding arguments out of range
        Case("unknown_strategy", ["sample", "-m", "model", "--strategy", "telepathy"],
             ["--strategy", "telepathy"]),
        Case("top_p_out_of_range", ["sample", "-m", "model", "--strategy", "sample", "--top-p", "1.5"],
             ["top-p", "1.5"]),
        Case("too_few_interpolation_steps", ["interpolate", "-m", "model", "--steps", "1", "a", "b"],
             ["2 steps", "1"]),
    ]


CASES = {case.name: case for case in _cases()}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Run every case (three at a time) in one directory of bad inputs; name -> CompletedProcess."""
    root = tmp_path_factory.mktemp("bad-inputs")
    _write_inputs(root)
    _write_checkpoints(root)

    def run(case: Case) -> subprocess.CompletedProcess:
        prefix = without_root_override() if case.prefix == ["ROOTLESS"] else case.prefix
        return subprocess.run(prefix + [sys.executable, "-m", "sentvae", *case.args], cwd=root,
                              env=ENV, capture_output=True, text=True, timeout=300)

    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            results = dict(zip(CASES, pool.map(run, CASES.values())))
    finally:
        (root / "secret.txt").chmod(0o644)
        (root / "readonly").chmod(0o755)
    results["_root"] = root
    return results


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_one_line_and_status_2(outcomes, name):
    case, result = CASES[name], outcomes[name]
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sentvae"), lines[0]
    for text in case.named:
        assert text in lines[0], (text, lines[0])


def test_nothing_was_written_by_a_failed_run(outcomes):
    """A run that fails on its input leaves no half-made run directory behind."""
    root = outcomes["_root"]
    assert not (root / "run" / "last").exists()
    assert not (root / "no_run" / "last").exists()
    assert os.readlink(root / "old_run" / "last") == "checkpoints/step-0000010"


SMALL = ["model.embed_dim=8", "model.encoder_hidden_dim=8", "model.decoder_hidden_dim=8",
         "model.latent_dim=2", "train.max_steps=1", "train.valid_fraction=0.2", "train.threads=1"]


def _mixed_corpus(path: Path, encoding: str) -> None:
    """60 sentences, one of them 3,000 words long and with a non-ASCII character."""
    good = [s.text for s in generate(60, seed=5)]
    lines = good[:30] + ["caf\xe9 " + " ".join(["word"] * 3000)] + good[30:]
    path.write_bytes("\n".join(lines).encode(encoding) + b"\n")


def test_encoding_errors_flag_reaches_the_corpus_check(outcomes):
    """`--encoding-errors replace` sets train.encoding_errors: the Latin-1 file that stops a
    strict run passes, and the run gets as far as its (deliberately bad) output directory."""
    root = outcomes["_root"]
    result = subprocess.run(
        [sys.executable, "-m", "sentvae", "train", "--train", "latin1.txt", "--encoding-errors",
         "replace", "--out", "a_file/run"], cwd=root, env=ENV, capture_output=True, text=True,
        timeout=300)
    line = result.stderr.strip()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "a_file/run" in line and "UTF-8" not in line, line


@pytest.mark.parametrize("policy", ["drop", "truncate"])
def test_overlong_lines_are_dropped_or_truncated_and_counted(tmp_path, policy):
    from sentvae.config import load_config
    from sentvae.train import train

    _mixed_corpus(tmp_path / "mixed.txt", "latin-1")
    model_cfg, train_cfg = load_config(None, SMALL + [
        f"train.train_file={tmp_path / 'mixed.txt'}", f"train.out_dir={tmp_path / 'run'}",
        "train.encoding_errors=replace", f"train.long_sentences={policy}"])
    said: list[str] = []
    train(model_cfg, train_cfg, progress=False, echo=said.append)
    counted = [line for line in said if "over 60 tokens" in line]
    what = "dropped" if policy == "drop" else "truncated"
    assert counted == [counted[0]] and f"1 sentence over 60 tokens {what}" in counted[0], said


def test_read_lines_replaces_bad_bytes_only_when_asked(tmp_path):
    from sentvae.data import read_lines
    from sentvae.errors import DataError

    path = tmp_path / "input.txt"
    path.write_bytes(b"\xef\xbb\xbffirst line\n\n  caf\xe9  \r\nlast\n")
    with pytest.raises(DataError, match=r"input.txt:3: not valid UTF-8"):
        read_lines(path)
    assert read_lines(path, "replace") == ["first line", "caf\ufffd", "last"]


def test_evaluate_names_the_bad_line_and_offers_replace(trained_run, tmp_path, capsys):
    """`sentvae evaluate` reads user files like `train` does: strict by default (file:line named),
    `--encoding-errors replace` scores the file anyway."""
    from sentvae.cli import main

    data = tmp_path / "held_out.txt"
    data.write_bytes(b"the dog sees a cat .\ndid the caf\xe9 sleep ?\n")
    common = ["evaluate", "-m", str(trained_run), "--data", str(data), "--iw-samples", "2",
              "--prior-samples", "5"]
    assert main(common) == 2
    error = capsys.readouterr().err.strip()
    assert f"{data}:2" in error and "--encoding-errors replace" in error and "\n" not in error
    assert main(common + ["--encoding-errors", "replace"]) == 0
    assert "per sentence" in capsys.readouterr().out
