"""Training: the loss falls, runs are reproducible, resumption is exact, checkpoints are complete."""

import json

import pytest
import torch
from safetensors.torch import load_file

from sentvae import train as train_module
from sentvae.errors import SentvaeError
from sentvae.train import train

from conftest import tiny_configs

QUIET = dict(progress=False, echo=lambda *a, **k: None)


def validation_records(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == "valid"]


def test_training_lowers_the_validation_loss(trained_run):
    records = validation_records(trained_run)
    assert len(records) >= 3
    assert records[-1]["neg_elbo_per_sentence"] < records[0]["neg_elbo_per_sentence"] - 2.0
    for name in ("best", "last"):
        for file in ("config.json", "model.safetensors", "tokenizer.json", "train_config.json", "resume.pt"):
            assert (trained_run / name / file).is_file(), f"{name}/{file}"
    train_lines = [json.loads(l) for l in (trained_run / "metrics.jsonl").read_text().splitlines()]
    assert {"loss", "rec", "kl", "beta", "lr", "tokens_per_s"} <= set(train_lines[0])


def test_best_checkpoint_has_the_lowest_validation_bound(trained_run):
    records = validation_records(trained_run)
    best_step = min(records, key=lambda r: r["neg_elbo_per_sentence"])["step"]
    assert (trained_run / "best").resolve().name == f"step-{best_step:07d}"


def test_an_autoencoder_keeps_its_best_reconstruction_not_its_lowest_bound(tmp_path):
    """beta = 0: the KL grows freely, so the lowest -ELBO is an early checkpoint; the best one is
    the lowest validation reconstruction NLL (objective.validation_loss)."""
    model_cfg, train_cfg = tiny_configs(tmp_path, "train.max_steps=120", "train.eval_every=20",
                                        "train.builtin_train_size=1000", "train.kl_schedule=constant",
                                        "train.beta=0.0", "train.free_bits=0", "model.word_dropout=0")
    summary = train(model_cfg, train_cfg, **QUIET)
    records = validation_records(tmp_path)
    assert all(r["loss_per_sentence"] == r["rec_per_sentence"] for r in records)
    best = min(records, key=lambda r: r["rec_per_sentence"])
    assert (tmp_path / "best").resolve().name == f"step-{best['step']:07d}"
    assert summary["best_valid_loss_per_sentence"] == best["rec_per_sentence"]
    assert best["step"] != min(records, key=lambda r: r["neg_elbo_per_sentence"])["step"]  # they differ here


def _weights(run_dir, link="last"):
    return load_file(str(run_dir / link / "model.safetensors"))


def test_same_seed_same_weights_and_exact_resume(tmp_path, monkeypatch):
    steps = ["train.max_steps=60", "train.eval_every=20", "train.builtin_train_size=600"]
    model_cfg, train_cfg = tiny_configs(tmp_path / "straight", *steps)
    train(model_cfg, train_cfg, **QUIET)

    # Interrupt a second run of the same configuration at step 33 (as Ctrl-C would) ...
    model_cfg, train_cfg = tiny_configs(tmp_path / "resumed", *steps)
    original = train_module.kl_weight
    calls = {"n": 0}

    def interrupt_once(step, *args, **kwargs):
        if step == 33 and calls["n"] == 0:
            calls["n"] += 1
            raise KeyboardInterrupt
        return original(step, *args, **kwargs)

    monkeypatch.setattr(train_module, "kl_weight", interrupt_once)
    summary = train(model_cfg, train_cfg, **QUIET)
    assert summary["stopped"] == "interrupted" and summary["steps"] == 33
    # an interrupted run writes its summary too
    assert json.loads((tmp_path / "resumed" / "summary.json").read_text()) == json.loads(json.dumps(summary))
    # ... then continue it from its last checkpoint.
    model_cfg, train_cfg = tiny_configs(tmp_path / "resumed", *steps)
    train(model_cfg, train_cfg, resume=True, **QUIET)

    straight, resumed = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert straight.keys() == resumed.keys()
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name


def test_a_fresh_run_refuses_to_overwrite_an_existing_one(trained_run):
    model_cfg, train_cfg = tiny_configs(trained_run, "train.max_steps=5")
    with pytest.raises(SentvaeError, match="--resume"):
        train(model_cfg, train_cfg, **QUIET)


def test_language_model_baseline_trains(tmp_path):
    model_cfg, train_cfg = tiny_configs(tmp_path, "model.latent_dim=0", "train.max_steps=40",
                                        "train.builtin_train_size=500")
    summary = train(model_cfg, train_cfg, **QUIET)
    assert summary["last_valid"]["kl_per_sentence"] == 0.0
    assert summary["last_valid"]["rec_per_sentence"] > 0
    assert summary["last_valid"]["neg_elbo_per_sentence"] == summary["last_valid"]["rec_per_sentence"]


@pytest.mark.parametrize("schedule", ["logistic", "cyclical", "constant"])
def test_every_kl_schedule_runs_and_logs_beta(tmp_path, schedule):
    model_cfg, train_cfg = tiny_configs(tmp_path, f"train.kl_schedule={schedule}", "train.max_steps=20",
                                        "train.log_every=5", "train.builtin_train_size=300",
                                        "train.logistic_x0=10", "train.logistic_k=0.5", "train.cycles=2")
    train(model_cfg, train_cfg, **QUIET)
    betas = [json.loads(l)["beta"] for l in (tmp_path / "metrics.jsonl").read_text().splitlines()
             if json.loads(l)["split"] == "train"]
    assert betas and all(0.0 <= b <= 1.0 for b in betas)
    if schedule == "constant":
        assert set(betas) == {1.0}
    else:
        assert len(set(betas)) > 1


def test_a_test_file_is_scored_with_the_best_checkpoint(tmp_path):
    from sentvae.corpus import splits
    from sentvae.evaluate import evaluate_bound, load_evaluation_split
    from sentvae.pipeline import VAEPipeline

    files = {}
    for name, sentences in splits(train=600, valid=60, test=50, seed=11).items():
        files[name] = tmp_path / f"{name}.txt"
        files[name].write_text("\n".join(s.text for s in sentences) + "\n")
    model_cfg, train_cfg = tiny_configs(
        tmp_path / "run", f"train.train_file={files['train']}", f"train.valid_file={files['valid']}",
        f"train.test_file={files['test']}", "train.max_steps=60", "train.eval_every=20")
    summary = train(model_cfg, train_cfg, **QUIET)

    best = (tmp_path / "run" / "best").resolve()
    assert summary["test"]["checkpoint"] == best.name
    vae = VAEPipeline.from_pretrained(best)
    expected = evaluate_bound(vae.model, load_evaluation_split(vae, str(files["test"])),
                              seed=train_cfg.seed)
    assert summary["test"]["neg_elbo_per_sentence"] == pytest.approx(expected["neg_elbo_per_sentence"],
                                                                     rel=1e-5)
    records = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["split"] for r in records].count("test") == 1
    assert 10 < summary["peak_rss_mb"] < 100_000
    assert summary["threads"] == train_cfg.threads == 1  # the tiny configs' explicit count


@pytest.mark.parametrize("tied", [False, True])
def test_an_adaptive_softmax_model_trains_and_round_trips(tmp_path, tied):
    from sentvae.data import collate
    from sentvae.decoding import DecodingOptions
    from sentvae.pipeline import VAEPipeline

    tying = ["model.tie_embeddings=true", "model.embed_dim=64"] if tied else []
    model_cfg, train_cfg = tiny_configs(tmp_path / "run", "model.adaptive_softmax_cutoffs=[40, 150]",
                                        "train.max_steps=80", "train.eval_every=40",
                                        "train.builtin_train_size=1000", *tying)
    summary = train(model_cfg, train_cfg, **QUIET)
    first, last = validation_records(tmp_path / "run")[0], summary["last_valid"]
    assert last["neg_elbo_per_sentence"] < first["neg_elbo_per_sentence"]
    vae = VAEPipeline.from_pretrained(tmp_path / "run")
    assert vae.cfg.adaptive_softmax_cutoffs == [40, 150] and vae.model.decoder.adaptive
    assert vae.model.decoder.tied_adaptive == tied
    vae.save_pretrained(tmp_path / "copy")
    again = VAEPipeline.from_pretrained(tmp_path / "copy")
    tokens, lengths = collate(vae.tokenizer.encode_batch(["the dog sees a cat .", "did the cats sleep ?"]))
    assert torch.equal(vae.model(tokens, lengths).rec, again.model(tokens, lengths).rec)
    assert all(g.text for g in vae.sample(4, DecodingOptions("beam"), seed=0))


def test_the_resolved_output_layer_is_what_the_checkpoint_records(tmp_path):
    """`output_layer: adaptive` becomes cutoffs in config.json; a config.json written before the
    field existed loads as what its cutoffs say, and `auto` never changes an existing model."""
    import json

    from sentvae.pipeline import VAEPipeline

    model_cfg, train_cfg = tiny_configs(tmp_path / "run", "model.output_layer=adaptive",
                                        "train.max_steps=4", "train.eval_every=4", "train.builtin_train_size=300")
    train(model_cfg, train_cfg, **QUIET)
    config_file = tmp_path / "run" / "best" / "config.json"
    saved = json.loads(config_file.read_text())["model"]
    assert saved["output_layer"] == "adaptive" and saved["adaptive_softmax_cutoffs"] == [
        max(1, saved["vocab_size"] // 4)]  # the built-in corpus's vocabulary is below 2,000
    assert VAEPipeline.from_pretrained(tmp_path / "run").model.decoder.adaptive
    raw = json.loads(config_file.read_text())
    raw["model"].pop("output_layer")
    config_file.write_text(json.dumps(raw))
    again = VAEPipeline.from_pretrained(tmp_path / "run")
    assert again.cfg.output_layer == "adaptive" and again.model.decoder.adaptive


def test_cutoffs_beyond_the_vocabulary_are_refused_by_name(tmp_path):
    model_cfg, train_cfg = tiny_configs(tmp_path / "run", "model.adaptive_softmax_cutoffs=[100, 5000]",
                                        "train.max_steps=5", "train.builtin_train_size=200")
    with pytest.raises(SentvaeError, match=r"adaptive_softmax_cutoffs.*5000.*vocabulary size"):
        train(model_cfg, train_cfg, **QUIET)


def test_bf16_autocast_trains_float32_weights_close_to_a_float32_run(tmp_path):
    bounds, weights = {}, {}
    for bf16 in (False, True):
        out = tmp_path / f"bf16-{bf16}"
        model_cfg, train_cfg = tiny_configs(out, f"train.bf16={str(bf16).lower()}", "train.max_steps=40",
                                            "train.eval_every=40", "train.builtin_train_size=500")
        summary = train(model_cfg, train_cfg, **QUIET)
        bounds[bf16] = summary["last_valid"]["neg_elbo_per_sentence"]
        weights[bf16] = _weights(out)
    assert all(w.dtype == torch.float32 for w in weights[True].values())
    assert any(not torch.equal(weights[True][k], weights[False][k]) for k in weights[False])  # bf16 was used
    assert abs(bounds[True] - bounds[False]) < 0.02 * bounds[False], bounds



def test_a_run_that_ends_before_beta_reaches_its_target_says_so(tmp_path):
    """30 steps of a 1,000-step KL warm-up: the summary carries final_beta and a warning; a run
    whose schedule completes carries no warning."""
    lines = []
    model_cfg, train_cfg = tiny_configs(tmp_path / "short", "train.max_steps=30", "train.eval_every=30",
                                        "train.kl_warmup_steps=1000", "train.fit_prior=false")
    summary = train(model_cfg, train_cfg, progress=False, echo=lines.append)
    assert summary["final_beta"] == pytest.approx(29 / 1000)
    assert "below its target train.beta" in summary["warning"]
    assert any(line.startswith("warning: training ended at step 30") for line in lines)
    model_cfg, train_cfg = tiny_configs(tmp_path / "full", "train.max_steps=30", "train.eval_every=30",
                                        "train.kl_warmup_steps=10", "train.fit_prior=false")
    summary = train(model_cfg, train_cfg, progress=False, echo=lambda *a, **k: None)
    assert summary["final_beta"] == 1.0 and "warning" not in summary


def test_autoencoder_pretraining_then_a_fresh_decoder_and_exact_resume_across_the_switch(tmp_path, monkeypatch):
    """20 steps with beta = 0, the decoder re-initialised once at step 20, the VAE's learning-rate
    warm-up and KL schedule starting again there; an interrupted run resumes to the same weights."""
    steps = ["train.max_steps=40", "train.eval_every=20", "train.log_every=5",
             "train.autoencoder_steps=20", "train.builtin_train_size=600", "train.fit_prior=false",
             "model.encoder_word_drop=0.1", "model.encoder_shuffle=2"]
    resets = []
    original_reset = train_module.SentenceVAE.reset_decoder
    monkeypatch.setattr(train_module.SentenceVAE, "reset_decoder",
                        lambda self: resets.append(self) or original_reset(self))
    lines = []
    model_cfg, train_cfg = tiny_configs(tmp_path / "straight", *steps)
    train(model_cfg, train_cfg, progress=False, echo=lines.append)
    assert len(resets) == 1
    assert any(line.startswith("step 20: autoencoder pretraining done; decoder re-initialised")
               for line in lines)
    records = [json.loads(l) for l in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    train_lines = {r["step"]: r for r in records if r["split"] == "train"}
    assert all(train_lines[s]["beta"] == 0.0 for s in (5, 10, 15, 20))
    assert train_lines[25]["lr"] == pytest.approx(train_cfg.lr * 5 / train_cfg.warmup_steps)  # warm-up again
    assert 0 < train_lines[40]["beta"] < 1  # the KL warm-up (200 steps) started at step 20
    assert (tmp_path / "straight" / "best").resolve().name == "step-0000040", "the autoencoder is not 'best'"

    model_cfg, train_cfg = tiny_configs(tmp_path / "resumed", *steps)
    original_lr = train_module.learning_rate
    calls = {"n": 0}

    def interrupt_once(step, *args, **kwargs):
        if step == 15 and calls["n"] == 0:
            calls["n"] += 1
            raise KeyboardInterrupt
        return original_lr(step, *args, **kwargs)

    monkeypatch.setattr(train_module, "learning_rate", interrupt_once)
    assert train(model_cfg, train_cfg, **QUIET)["steps"] == 15
    model_cfg, train_cfg = tiny_configs(tmp_path / "resumed", *steps)
    train(model_cfg, train_cfg, resume=True, **QUIET)
    straight, resumed = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name


def test_the_mmd_term_is_logged_and_brings_the_codes_nearer_the_prior(tmp_path):
    """train.mmd_weight: every training record carries the batch's MMD^2 to N(0, I), and a run
    with a large weight ends with codes whose MMD is lower than the same run's without it."""
    from sentvae.corpus import splits
    from sentvae.objective import prior_mmd
    from sentvae.pipeline import VAEPipeline

    settings = ["train.max_steps=120", "train.eval_every=120", "train.builtin_train_size=1000",
                "train.kl_schedule=constant", "train.beta=0.0", "train.free_bits=0"]  # an autoencoder
    mmds = {}
    for weight in (0.0, 100.0):
        out = tmp_path / f"mmd{weight:g}"
        train(*tiny_configs(out, *settings, f"train.mmd_weight={weight}"), **QUIET)
        train_records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        train_records = [r for r in train_records if r["split"] == "train"]
        assert all(("mmd" in r) == (weight > 0) for r in train_records)
        vae = VAEPipeline.from_pretrained(out)
        codes, _ = vae.encode([s.text for s in splits(train=0, valid=0, test=240, seed=9)["test"]])  # (240, Z)
        mmds[weight] = float(prior_mmd(codes, torch.randn(codes.shape, generator=torch.Generator().manual_seed(0))))
    assert mmds[100.0] < mmds[0.0]
