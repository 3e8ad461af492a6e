"""The run directory (sentvae/run.py): summary.json, links, the log, the resume state."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

from sentvae.errors import CheckpointError
from sentvae.run import (METRICS_FILE, SUMMARY_FILE, RunDirectory, RunState, point_link,
                         prepare_run_dir)


def test_training_writes_the_summary_it_returns_to_summary_json(trained_run, trained_summary):
    assert SUMMARY_FILE == "summary.json"
    written = json.loads((trained_run / SUMMARY_FILE).read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(trained_summary))
    assert written["stopped"] == "finished" and written["steps"] == 300
    assert written["out_dir"] == str(trained_run)
    # the names of the bound: -ELBO, its reconstruction term and KL, never "elbo" or "nll"
    for key in ("neg_elbo_per_sentence", "rec_per_sentence", "kl_per_sentence", "neg_elbo_per_token",
                "rec_per_token", "kl_per_token", "ppl_elbo", "active_units"):
        assert key in written["last_valid"], key
    assert not {"elbo_per_sentence", "nll_per_sentence", "elbo_per_token", "ppl_bound"} & set(written["last_valid"])
    valid = [json.loads(line) for line in (trained_run / METRICS_FILE).read_text().splitlines()]
    valid = [r for r in valid if r["split"] == "valid"]
    # beta = 1 without a target rate: the best checkpoint is the one with the lowest bound
    assert written["best_valid_loss_per_sentence"] == min(r["neg_elbo_per_sentence"] for r in valid)
    assert all(r["loss_per_sentence"] == r["neg_elbo_per_sentence"] for r in valid)


def test_a_fresh_run_refuses_a_directory_that_holds_one_and_a_resume_needs_one(tmp_path):
    run = prepare_run_dir(tmp_path / "run", resume=False)
    assert (run / "checkpoints").is_dir()
    with pytest.raises(CheckpointError, match="nothing to resume"):
        prepare_run_dir(run, resume=True)
    (run / "checkpoints" / "step-0000001").mkdir()
    (run / "checkpoints" / "step-0000001" / "config.json").write_text("{}")
    point_link(run / "last", "checkpoints/step-0000001")
    with pytest.raises(CheckpointError, match="--resume"):
        prepare_run_dir(run, resume=False)
    assert prepare_run_dir(run, resume=True) == run


def test_leftovers_of_a_killed_save_are_removed(tmp_path):
    run = prepare_run_dir(tmp_path / "run", resume=False)
    (run / "checkpoints" / ".step-0000005.tmp-123").mkdir()
    os.symlink("checkpoints/nowhere", run / ".last.tmp-123")
    kept = run / "checkpoints" / "step-0000004"
    kept.mkdir()
    prepare_run_dir(run, resume=False)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000004"]
    assert not (run / ".last.tmp-123").is_symlink()


def test_point_link_moves_a_link_in_one_step(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    point_link(tmp_path / "last", "a")
    assert os.readlink(tmp_path / "last") == "a"
    point_link(tmp_path / "last", "b")
    assert os.readlink(tmp_path / "last") == "b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "last"]


def test_rewind_log_forgets_later_steps_a_cut_line_and_the_test_record(tmp_path):
    run = RunDirectory(tmp_path)
    for record in ({"step": 5, "split": "train"}, {"step": 10, "split": "valid"},
                   {"step": 15, "split": "train"}, {"step": 10, "split": "test"}):
        run.log(record)
    with (tmp_path / METRICS_FILE).open("a") as handle:
        handle.write('{"step": 8, "spl')  # a line a kill cut short
    run.rewind_log(10)
    records = [json.loads(line) for line in (tmp_path / METRICS_FILE).read_text().splitlines()]
    assert records == [{"step": 5, "split": "train"}, {"step": 10, "split": "valid"}]


def _resume_state(run: RunDirectory, state: dict) -> None:
    checkpoint = run.checkpoints / "step-0000007"
    checkpoint.mkdir(parents=True)
    torch.save({"state": state, "optimizer": {}, "torch_rng": torch.get_rng_state()},
               checkpoint / "resume.pt")
    point_link(run.last, "checkpoints/step-0000007")


def test_restore_reads_the_run_state_and_its_old_field_names(tmp_path):
    run = RunDirectory(tmp_path / "new")
    _resume_state(run, {**vars(RunState(step=7, epoch=1)), "best_valid_loss": 41.5})
    state, payload = run.restore()
    assert state == RunState(step=7, epoch=1, best_valid_loss=41.5) and payload["optimizer"] == {}
    for index, old_name in enumerate(("best_elbo", "best_neg_elbo")):  # the earlier names
        old = RunDirectory(tmp_path / f"old{index}")
        saved = vars(RunState(step=7)).copy()
        del saved["best_valid_loss"]
        saved[old_name] = 39.0 + index
        _resume_state(old, saved)
        assert old.restore()[0].best_valid_loss == 39.0 + index
    assert math.isinf(RunState().best_valid_loss)


def test_restore_refuses_an_unknown_run_state(tmp_path):
    run = RunDirectory(tmp_path)
    _resume_state(run, {"step": 7, "mystery": 1})
    with pytest.raises(CheckpointError, match="unexpected run state"):
        run.restore()


def test_write_summary_replaces_the_file_atomically(tmp_path):
    run = RunDirectory(tmp_path)
    run.write_summary({"steps": 1})
    run.write_summary({"steps": 2, "last_valid": {"neg_elbo_per_sentence": 3.5}})
    assert json.loads((tmp_path / SUMMARY_FILE).read_text()) == {"steps": 2, "last_valid": {
        "neg_elbo_per_sentence": 3.5}}
    assert sorted(p.name for p in tmp_path.iterdir()) == [SUMMARY_FILE]
