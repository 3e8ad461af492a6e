"""The command line end to end, in a temporary directory, as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import TINY_MODEL, TINY_TRAIN

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_DATASETS_OFFLINE": "1"}


def run(*args, cwd):
    return subprocess.run([sys.executable, *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=600)


def test_train_sample_reconstruct_interpolate_from_files(tmp_path):
    from sentvae.corpus import splits

    parts = splits(train=1500, valid=100, test=20, seed=5)
    for name in ("train", "valid"):
        (tmp_path / f"{name}.txt").write_text("\n".join(s.text for s in parts[name]) + "\n")
    overrides = [item for kv in TINY_MODEL + TINY_TRAIN for item in ("--set", kv)]
    trained = run("-m", "sentvae", "train", "--train", "train.txt", "--valid", "valid.txt", "--out", "run",
                  "--set", "train.max_steps=60", "--set", "train.eval_every=30", "--quiet", *overrides,
                  cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "done" in trained.stdout and (tmp_path / "run" / "best" / "model.safetensors").exists()

    sampled = run("-m", "sentvae", "sample", "-m", "run", "-n", "5", "--seed", "1", cwd=tmp_path)
    assert sampled.returncode == 0, sampled.stderr
    assert len(sampled.stdout.strip().splitlines()) == 5
    refined = run("-m", "sentvae", "sample", "-m", "run", "-n", "5", "--seed", "1", "--refine", "1",
                  "--format", "jsonl", cwd=tmp_path)
    assert refined.returncode == 0, refined.stderr
    assert [json.loads(line)["extra"]["refined"] for line in refined.stdout.splitlines()] == [1] * 5

    sentence = parts["test"][0].text
    rebuilt = run(str(ROOT / "scripts" / "reconstruct.py"), "-m", "run/last", sentence, "--format", "jsonl",
                  cwd=tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stderr
    record = json.loads(rebuilt.stdout.strip().splitlines()[0])
    assert record["source"] == sentence and isinstance(record["text"], str) and "logprob" in record

    (tmp_path / "inputs.txt").write_text("\n".join(s.text for s in parts["test"][:5]) + "\n")
    from_file = run("-m", "sentvae", "reconstruct", "-m", "run", "--input", "inputs.txt", cwd=tmp_path)
    assert from_file.returncode == 0, from_file.stderr
    assert "BLEU" in from_file.stdout and "exact match" in from_file.stdout

    path = run("-m", "sentvae", "interpolate", "-m", "run", parts["test"][1].text, parts["test"][2].text,
               "--steps", "4", cwd=tmp_path)
    assert path.returncode == 0, path.stderr
    assert len(path.stdout.strip().splitlines()) == 4


def test_errors_are_one_line_with_status_2(tmp_path):
    result = run("-m", "sentvae", "train", "--train", "missing.txt", "--out", "run", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "missing.txt" in result.stderr
    assert "Traceback" not in result.stderr
    result = run("-m", "sentvae", "sample", "-m", "nowhere", cwd=tmp_path)
    assert result.returncode == 2 and "nowhere" in result.stderr and "Traceback" not in result.stderr


def test_help_lists_the_subcommands(tmp_path):
    result = run("-m", "sentvae", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("train", "sample", "reconstruct", "interpolate", "demo"):
        assert command in result.stdout


# --- errors from the library: one line, status 2 (in-process, with sentvae.cli.main) ----------------

def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err, captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert captured.out == ""
    return lines[0]


def test_reconstruct_with_a_language_model_exits_2_with_one_line(tmp_path, capsys):
    """A `latent_dim: 0` model has no code to encode into: refused by name, not a traceback."""
    from conftest import tiny_configs
    from sentvae.cli import main
    from sentvae.train import train

    model_cfg, train_cfg = tiny_configs(tmp_path / "lm", "model.latent_dim=0", "train.max_steps=4",
                                        "train.eval_every=4", "train.builtin_train_size=200",
                                        "train.builtin_valid_size=20", "train.builtin_test_size=0")
    train(model_cfg, train_cfg, progress=False, echo=lambda *a, **k: None)
    capsys.readouterr()  # what training printed
    for command in (["reconstruct", "a sentence ."], ["interpolate", "a cat sleeps .", "a dog runs ."],
                    ["sample", "--refine", "1"]):
        assert main([command[0], "-m", str(tmp_path / "lm"), *command[1:]]) == 2
        line = _one_error_line(capsys)
        assert line.startswith(f"sentvae {command[0]}: error:") and "latent" in line, line
    assert main(["sample", "-m", str(tmp_path / "lm"), "-n", "2", "--seed", "0"]) == 0  # it can sample
    assert len(capsys.readouterr().out.strip().splitlines()) == 2


def test_interpolating_an_empty_sentence_exits_2_naming_it(trained_run, capsys):
    from sentvae.cli import main

    assert main(["interpolate", "-m", str(trained_run), "", "hello"]) == 2
    line = _one_error_line(capsys)
    assert line.startswith("sentvae interpolate: error:") and "sentence 1 ('')" in line, line
    assert "no tokens" in line, line
    assert main(["interpolate", "-m", str(trained_run), "a cat sleeps .", " \t "]) == 2  # white space only
    line = _one_error_line(capsys)
    assert "sentence 2 (' \\t ')" in line and "no tokens" in line, line
    assert main(["reconstruct", "-m", str(trained_run), "a cat sleeps .", ""]) == 2
    assert "sentence 2 ('')" in _one_error_line(capsys)


def test_fit_prior_tries_both_covariances_and_keeps_the_best(trained_run, tmp_path, capsys):
    import shutil

    from sentvae.cli import main
    from sentvae.pipeline import VAEPipeline

    shutil.copytree(trained_run, tmp_path / "run", symlinks=True)
    assert main(["fit-prior", "-m", str(tmp_path / "run"), "--components", "1,2", "--full-components", "1",
                 "--threads", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    scored = {line.split()[0] + " " + line.split()[1]: float(line.split()[2]) for line in lines
              if line.startswith("  ")}
    assert set(scored) == {"1 diagonal", "2 diagonal", "1 full"}
    chosen = [line for line in lines if "<- chosen" in line]
    assert len(chosen) == 1 and float(chosen[0].split()[2]) == max(scored.values())
    prior = VAEPipeline.from_pretrained(tmp_path / "run").prior
    assert prior.label == " ".join(chosen[0].split()[:2])
    # nothing to fit: one line, status 2, and the prior already there is kept
    assert main(["fit-prior", "-m", str(tmp_path / "run"), "--components", "", "--full-components", ""]) == 2
    assert "both empty" in _one_error_line(capsys)
    assert VAEPipeline.from_pretrained(tmp_path / "run").prior.label == prior.label


def test_the_demo_trains_then_shows_samples_reconstructions_and_an_interpolation(tmp_path, capsys):
    from sentvae.cli import main

    overrides = [item for kv in TINY_MODEL + TINY_TRAIN + ["train.max_steps=30", "train.eval_every=30",
                                                          "train.builtin_train_size=600"]
                 for item in ("--set", kv)]
    assert main(["demo", "--out", str(tmp_path / "demo"), "--quiet", *overrides]) == 0
    out = capsys.readouterr().out
    assert "ten sentences from the prior (z drawn from the mixture fitted" in out
    assert "beam search of width 5, refined once through the autoencoder" in out
    from sentvae.corpus import is_grammatical
    from sentvae.decoding import DecodingOptions
    from sentvae.pipeline import VAEPipeline

    assert "prior samples and interpolation points below are decoded with the language model fused in " \
           "(weight 0.5" in out
    language_model = VAEPipeline.from_pretrained(tmp_path / "demo_lm")  # trained on the same sentences
    assert not language_model.cfg.has_latent
    vae = VAEPipeline.from_pretrained(tmp_path / "demo").fuse_with(language_model, 0.5)
    samples = vae.sample(1000, DecodingOptions("beam", beam=5), seed=0, refine=1)
    share = sum(is_grammatical(s.text) for s in samples) / 1000
    assert f"grammatical: {100 * share:.1f}% of 1,000 prior samples" in out
    rebuilt = [line for line in out.splitlines() if line.startswith(("  same  ", "  DIFF  "))]
    assert len(rebuilt) == 5
    exact = next(line for line in out.splitlines() if line.startswith("exact: "))
    assert exact.endswith("of 200 test sentences come back word for word")
    assert "beam search of width 10 from the posterior mean, re-ranked by re-encoding" in out
    assert "interpolation between" in out
    lines = out.split("interpolation between")[1].splitlines()[3:]
    positions = [line.split()[0] for line in lines[:8]]
    assert positions[0] == "0.00" and positions[-1] == "1.00"
    assert lines[8].startswith("ends: A ") and lines[8].endswith("of 8 points grammatical")
    assert len(lines) == 9
