"""Crashes lose at most the work since the last checkpoint; untrusted checkpoints run no code.

Real subprocesses and real signals: SIGKILL at random moments (also in the middle of a save),
then `--resume`, must give exactly the weights of an uninterrupted run with the same seed; SIGINT
saves a resumable checkpoint and exits 130; a diverging run stops with one line and keeps `last`
and `best`; a full disk leaves the previous checkpoint intact; pickles are refused unopened.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sentvae.checkpoint import load_checkpoint, resolve_checkpoint
from sentvae.config import load_config
from sentvae.errors import CheckpointError
from sentvae.pipeline import VAEPipeline
from sentvae.run import load_resume_state
from sentvae.train import train

ENV = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_DATASETS_OFFLINE="1")
QUIET = dict(progress=False, echo=lambda *a, **k: None)
MAX_STEPS = 100
RUN = ["model.embed_dim=16", "model.encoder_hidden_dim=16", "model.decoder_hidden_dim=32",
       "model.latent_dim=8", "train.builtin_train_size=600", "train.builtin_valid_size=50",
       "train.builtin_test_size=0", "train.batch_size=16", "train.warmup_steps=10",
       "train.kl_warmup_steps=50", "train.log_every=5", "train.threads=1",
       f"train.max_steps={MAX_STEPS}", "train.eval_every=20"]


# --- helpers ------------------------------------------------------------------------------------

def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sentvae", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=600)


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_process_left_behind():
    """A test that fails while waiting on a training process does not leave it running."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


def start_training(run: Path, settings: list[str], resume: bool = False,
                   capture: bool = False) -> subprocess.Popen:
    """`sentvae train` in the background (a resumed run reads its config.resolved.yaml).

    Its output goes to `<run>.log` next to the run, or to pipes with `capture`."""
    command = [sys.executable, "-m", "sentvae", "train", "--out", str(run), "--quiet"]
    if resume:
        command.append("--resume")
    else:
        for item in settings:
            command += ["--set", item]
    if capture:
        process = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    else:
        with open(run.parent / f"{run.name}.log", "a") as log:
            process = subprocess.Popen(command, env=ENV, stdout=log, stderr=log)
    STARTED.append(process)
    return process


def last_step(run: Path) -> int:
    """Step of the checkpoint `run/last` points at; -1 before the first one."""
    try:
        return int(os.readlink(run / "last").rsplit("-", 1)[1])
    except OSError:
        return -1


def wait_until(condition, process: subprocess.Popen, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"training ended (status {process.returncode}) too early"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def kill_9(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL


def logged(run: Path) -> list[dict]:
    """metrics.jsonl without its timing fields (everything else is deterministic)."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in records]


def weights(run: Path, link: str = "last") -> dict[str, torch.Tensor]:
    return load_file(str(run / link / "model.safetensors"))


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def assert_loadable(run: Path) -> int:
    """The run's best and last checkpoints load completely; returns the step of `last`."""
    VAEPipeline.from_pretrained(run)
    last = resolve_checkpoint(run / "last")
    load_checkpoint(last)
    return load_resume_state(last)["state"]["step"]


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run (in this process, same seed, CPU, one thread)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    model_cfg, train_cfg = load_config(None, RUN + [f"train.out_dir={out}"])
    train(model_cfg, train_cfg, **QUIET)
    assert last_step(out) == MAX_STEPS
    return out


def copy_run(run: Path, to: Path) -> Path:
    shutil.copytree(run, to, symlinks=True)
    return to


# --- kill -9 ------------------------------------------------------------------------------------

def test_kill_9_then_resume_gives_the_weights_of_an_uninterrupted_run(reference, tmp_path):
    run = tmp_path / "run"
    process = start_training(run, RUN)
    wait_until(lambda: last_step(run) >= 40, process)
    time.sleep(random.uniform(0.0, 0.5))  # anywhere: mid-step, mid-evaluation or mid-save
    kill_9(process)
    killed_at = last_step(run)
    assert 40 <= killed_at < MAX_STEPS
    assert assert_loadable(run) == killed_at

    resumed = start_training(run, RUN, resume=True)
    assert resumed.wait(timeout=600) == 0, (run.parent / "run.log").read_text()
    assert last_step(run) == MAX_STEPS
    assert_same_weights(weights(run), weights(reference))
    # the log forgets the lost steps (and a line the kill cut short) and redoes them identically
    assert logged(run) == logged(reference)


def test_kill_9_while_saving_always_leaves_a_loadable_checkpoint(reference, tmp_path):
    """Saving after every step (eval_every=1), kill at random moments, preferring a moment when
    a checkpoint is being written; after each kill the run loads, and it resumes exactly."""
    settings = RUN[:-1] + ["train.eval_every=1"]
    run = tmp_path / "run"
    temporaries = run / "checkpoints"
    kills, kills_during_a_save = 0, 0
    while kills < 2 or (kills_during_a_save == 0 and kills < 3):
        process = start_training(run, settings, resume=kills > 0)
        before = last_step(run)
        wait_until(lambda: last_step(run) > before + 3, process)
        time.sleep(random.uniform(0.0, 0.2))
        wait_until(lambda: any(temporaries.glob(".step-*.tmp-*")), process)
        kill_9(process)
        kills += 1
        kills_during_a_save += any(temporaries.glob(".step-*.tmp-*"))  # a save was cut short
        assert assert_loadable(run) == last_step(run)
    assert kills_during_a_save >= 1

    # finish with fewer saves (evaluation and saving never change the weights)
    model_cfg, train_cfg = load_config(None, RUN + [f"train.out_dir={run}"])
    train(model_cfg, train_cfg, resume=True, **QUIET)
    assert not any(temporaries.glob(".step-*.tmp-*"))  # leftovers of the kills are removed
    assert_same_weights(weights(run), weights(reference))


# --- Ctrl-C ---------------------------------------------------------------------------------------

def test_ctrl_c_saves_a_resumable_checkpoint_and_exits_130(reference, tmp_path):
    settings = RUN[:-1] + ["train.eval_every=1000"]  # no periodic checkpoint before the signal
    run = tmp_path / "run"
    process = start_training(run, settings, capture=True)
    metrics = run / "metrics.jsonl"
    wait_until(lambda: metrics.exists() and metrics.read_text().count('"split": "train"') >= 2,
               process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    step = assert_loadable(run)
    assert 10 <= step < MAX_STEPS and last_step(run) == step
    assert f"interrupted (SIGINT) at step {step}; resumable checkpoint saved" in stdout

    model_cfg, train_cfg = load_config(None, settings + [f"train.out_dir={run}"])
    train(model_cfg, train_cfg, resume=True, **QUIET)
    assert_same_weights(weights(run), weights(reference))


# --- divergence -----------------------------------------------------------------------------------

def test_a_diverging_run_stops_with_one_line_and_keeps_last_and_best(reference, tmp_path):
    run = copy_run(reference, tmp_path / "run")
    links = {link: os.readlink(run / link) for link in ("last", "best")}
    saved = (run / "last" / "model.safetensors").read_bytes()
    result = cli("train", "--out", str(run), "--resume", "--quiet", "--set",
                 f"train.max_steps={MAX_STEPS + 10}", "--set", "train.lr=1e38",
                 "--set", "train.eval_every=1")
    line = one_error_line(result)
    assert "training stopped" in line and "last good checkpoint" in line, line
    assert any(f"at step {step};" in line for step in (MAX_STEPS + 1, MAX_STEPS + 2)), line
    assert any(word in line for word in ("nan", "inf", "NaN")), line
    assert {link: os.readlink(run / link) for link in ("last", "best")} == links
    assert (run / "last" / "model.safetensors").read_bytes() == saved
    kept = {p.name for p in (run / "checkpoints").glob("step-*")}
    assert kept == {Path(target).name for target in links.values()}  # nothing diverged was kept
    assert assert_loadable(run) == MAX_STEPS


def test_a_nan_loss_names_its_step_and_warns_about_nothing_else(reference, tmp_path, recwarn):
    """Without an evaluation right after the bad update, the next step's loss is what
    overflows; the run stops there, before its gradient can touch the weights."""
    from sentvae.train import TrainingDiverged

    run = copy_run(reference, tmp_path / "run")
    model_cfg, train_cfg = load_config(None, RUN + [f"train.out_dir={run}", "train.lr=1e38",
                                                    f"train.max_steps={MAX_STEPS + 10}"])
    with pytest.raises(TrainingDiverged) as caught:
        train(model_cfg, train_cfg, resume=True, **QUIET)
    message = str(caught.value)
    assert "\n" not in message and "the loss became" in message, message
    assert f"at step {MAX_STEPS + 2};" in message and "step-0000100" in message, message
    assert not [str(w.message) for w in recwarn.list], "warnings would add lines to the error"
    assert last_step(run) == MAX_STEPS and assert_loadable(run) == MAX_STEPS


# --- a full disk ----------------------------------------------------------------------------------

def test_disk_full_during_a_save_keeps_the_previous_checkpoint(reference, tmp_path, monkeypatch):
    import safetensors.torch

    run = copy_run(reference, tmp_path / "run")
    saved = (run / "last" / "model.safetensors").read_bytes()

    def no_space(model, filename, *args, **kwargs):
        Path(filename).write_bytes(b"\0" * 100)  # a partial file, as a full disk leaves it
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)

    monkeypatch.setattr(safetensors.torch, "save_model", no_space)
    model_cfg, train_cfg = load_config(None, RUN + [f"train.out_dir={run}", "train.eval_every=5",
                                                    f"train.max_steps={MAX_STEPS + 10}"])
    with pytest.raises(CheckpointError) as caught:
        train(model_cfg, train_cfg, resume=True, **QUIET)
    message = str(caught.value)
    assert "\n" not in message
    assert "No space left on device" in message and "step-0000105" in message
    assert "previous checkpoint" in message
    assert last_step(run) == MAX_STEPS
    assert (run / "last" / "model.safetensors").read_bytes() == saved
    assert not any((run / "checkpoints").glob(".step-*"))  # the partial save was removed
    assert assert_loadable(run) == MAX_STEPS


def test_a_real_write_failure_is_reported_in_one_line(reference, tmp_path):
    """The file system itself refuses the write (a file-size limit: EFBIG, as ENOSPC would):
    safetensors and torch report it in their own exception types, which become one line."""
    run = copy_run(reference, tmp_path / "run")
    model_cfg, train_cfg = load_config(None, RUN + [f"train.out_dir={run}", "train.eval_every=5",
                                                    f"train.max_steps={MAX_STEPS + 10}"])
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, hard))  # smaller than model.safetensors
    try:
        with pytest.raises(CheckpointError) as caught:
            train(model_cfg, train_cfg, resume=True, **QUIET)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    message = str(caught.value)
    assert "\n" not in message and "File too large" in message, message
    assert last_step(run) == MAX_STEPS and assert_loadable(run) == MAX_STEPS
    assert not any((run / "checkpoints").glob(".step-*"))


# --- overwriting a saved model ------------------------------------------------------------------

def test_overwriting_a_saved_model_never_leaves_it_incomplete(reference, tmp_path, monkeypatch):
    """save_pretrained over an existing directory swaps old for new in one atomic step: after
    every rename the directory holds a complete checkpoint (a kill there loses nothing)."""
    import sentvae.checkpoint as checkpoint

    vae = VAEPipeline.from_pretrained(reference)
    target = tmp_path / "model"
    vae.save_pretrained(target)
    complete_after_each_rename = []

    def checked(operation):
        def run(*args, **kwargs):
            result = operation(*args, **kwargs)
            complete_after_each_rename.append(all(
                (target / name).is_file()
                for name in ("config.json", "model.safetensors", "tokenizer.json")))
            return result
        return run

    monkeypatch.setattr(os, "replace", checked(os.replace))
    monkeypatch.setattr(checkpoint, "exchange_paths", checked(checkpoint.exchange_paths))
    vae.save_pretrained(target)
    monkeypatch.undo()
    assert complete_after_each_rename and all(complete_after_each_rename)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary left
    load_checkpoint(target)


# --- untrusted checkpoints ------------------------------------------------------------------------

class _RunsCode:
    """Unpickling this object runs code: it creates the file `marker`."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


def malicious_pickle(marker: Path) -> bytes:
    """A pickle that creates `marker` when loaded by `pickle.loads` (checked on a decoy)."""
    def payload(path: Path) -> bytes:
        return pickle.dumps({"state": _RunsCode(path), "optimizer": {}, "torch_rng": None})

    decoy = marker.with_name(marker.name + ".decoy")
    pickle.loads(payload(decoy))
    assert decoy.exists()  # the payload really runs code when unpickled
    decoy.unlink()
    return payload(marker)


@pytest.mark.parametrize("container", ["pickle", "torch.save"])
def test_a_pickled_resume_state_is_refused_without_running_it(reference, tmp_path, container,
                                                              recwarn):
    run = copy_run(reference, tmp_path / "run")
    marker = tmp_path / "pwned"
    last = resolve_checkpoint(run / "last")
    if container == "pickle":
        (last / "resume.pt").write_bytes(malicious_pickle(marker))
    else:  # the zip archive torch.load expects, with the same object inside
        torch.save({"state": _RunsCode(marker), "optimizer": {}, "torch_rng": torch.zeros(1)},
                   last / "resume.pt")
    model_cfg, train_cfg = load_config(None, RUN + [f"train.out_dir={run}"])
    with pytest.raises(CheckpointError) as caught:
        train(model_cfg, train_cfg, resume=True, **QUIET)
    message = str(caught.value)
    assert "\n" not in message and "resume.pt: refused" in message and "could run code" in message
    assert not marker.exists()
    assert not [str(w.message) for w in recwarn.list], "warnings would add lines to the error"


def test_pickled_weights_and_yaml_tags_are_refused_without_running_them(reference, tmp_path):
    marker = tmp_path / "pwned"
    as_safetensors = shutil.copytree(resolve_checkpoint(reference / "last"), tmp_path / "evil")
    (as_safetensors / "model.safetensors").write_bytes(malicious_pickle(marker))
    line = one_error_line(cli("sample", "-m", str(as_safetensors)))
    assert "model.safetensors" in line and "not a safetensors file" in line and "pickle" in line

    as_bin = shutil.copytree(resolve_checkpoint(reference / "last"), tmp_path / "bin")
    (as_bin / "model.safetensors").unlink()
    (as_bin / "pytorch_model.bin").write_bytes(malicious_pickle(marker))
    line = one_error_line(cli("reconstruct", "-m", str(as_bin), "a sentence"))
    assert "pytorch_model.bin" in line and "never loads pickled weights" in line

    config = tmp_path / "evil.yaml"
    config.write_text(f"train: !!python/object/apply:builtins.exec [\"open({str(marker)!r}, 'w')\"]\n")
    line = one_error_line(cli("train", "--config", str(config), "--out", str(tmp_path / "out")))
    assert "evil.yaml" in line and "not a valid YAML file" in line
    assert not marker.exists()
