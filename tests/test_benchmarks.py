"""The corpus benchmark drivers run end to end on a tiny slice of data, and their probe works."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sentvae.corpus import is_grammatical, splits
from sentvae.decoding import DecodingOptions
from sentvae.pipeline import VAEPipeline

REPO = Path(__file__).resolve().parent.parent
TINY = ["model.embed_dim=16", "model.tie_embeddings=false", "model.encoder_hidden_dim=16",
        "model.decoder_hidden_dim=32", "model.latent_dim=4", "train.batch_size=32", "train.warmup_steps=2", "train.kl_warmup_steps=10",
        "train.eval_every=0", "train.min_frequency=1", "train.log_every=5"]


def tiny_options(tmp_path: Path, data: Path) -> list[str]:
    options = ["--data", str(data), "--work-dir", str(tmp_path / "work"),
               "--results-dir", str(tmp_path / "results"), "--budget-minutes", "2", "--max-epochs", "1",
               "--iw-samples", "3", "--prior-samples", "10", "--eval-threads", "1"]
    for override in TINY:
        options += ["--set", override]
    return options


def run(script: str, options: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *options], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def load_script(name: str):
    sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_ptb_benchmark_trains_both_models_evaluates_and_reports(tmp_path):
    data = tmp_path / "ptb"
    data.mkdir()
    for name, sentences in splits(train=200, valid=40, test=40, seed=3).items():
        # PTB's layout: one sentence per line, a space at both ends of every line.
        (data / f"ptb.{name}.txt").write_text("".join(f" {s.text} \n" for s in sentences))
    options = tiny_options(tmp_path, data)
    first = run("ptb.py", options)
    assert first.returncode == 0, first.stderr[-2000:]
    results = json.loads((tmp_path / "results" / "ptb.json").read_text())
    vae, lm = results["models"]["vae"], results["models"]["lm"]
    assert vae["evaluation"]["results"]["nll_method"] == "importance-weighted"
    assert vae["evaluation"]["results"]["iw_samples"] == 3
    assert lm["evaluation"]["results"]["nll_method"] == "exact"
    assert lm["evaluation"]["parameters"] < vae["evaluation"]["parameters"]  # same decoder, no encoder
    assert results["data"]["test_sentences"] == 40
    for model in (vae, lm):
        assert model["training"]["stopped"] == "finished" and model["training"]["steps"] == 7
        assert model["training"]["train_tokens_per_s_median"] > 0
    assert "model.use_latent=false" in results["training_commands"]["lm"]
    assert [g["met"] for g in results["goals"]][0] is False  # K = 3 < 100 can never meet the NLL goal
    assert all(isinstance(g["met"], bool) for g in results["goals"]) and len(results["goals"]) == 6
    minutes = results["goals"][-1]["value"]  # the longer training plus both evaluations
    assert max(m["training"]["wall_minutes_logged"] for m in (vae, lm)) < minutes < 10
    markdown = (tmp_path / "results" / "ptb.md").read_text()
    assert "| metric | VAE | LM baseline |" in markdown and "sentvae train" in markdown
    assert "| step | epoch | VAE | LM baseline |" in markdown  # the validation curve of both models

    again = run("ptb.py", options)  # the run directories exist: refuse to overwrite them
    assert again.returncode == 2 and "--reuse" in again.stderr
    reused = run("ptb.py", options + ["--reuse"])
    assert reused.returncode == 0, reused.stderr[-2000:]
    assert reused.stdout.count("reusing the finished training") == 2
    assert reused.stdout.count("reusing the evaluation") == 2
    changed = run("ptb.py", options + ["--reuse", "--seed", "5"])  # not what the runs were trained with
    assert changed.returncode == 2 and "train.seed" in changed.stderr
    vae_only = run("ptb.py", options + ["--reuse", "--vae-set", "train.free_bits=0.5"])
    assert vae_only.returncode == 2 and "vae was trained with other settings" in vae_only.stderr
    assert "train.free_bits" in vae_only.stderr
    # a VAE-only change beside the language model of the first run, taken from its results file
    earlier = tmp_path / "earlier.json"
    earlier.write_text((tmp_path / "results" / "ptb.json").read_text())
    other_work = [o if o != str(tmp_path / "work") else str(tmp_path / "work2") for o in options]
    taken = run("ptb.py", other_work + ["--vae-set", "train.free_bits=0.5", "--lm-from", str(earlier)])
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert not (tmp_path / "work2" / "lm").exists() and (tmp_path / "work2" / "vae" / "best").exists()
    second = json.loads((tmp_path / "results" / "ptb.json").read_text())
    assert second["models"]["lm"]["evaluation"] == lm["evaluation"]
    assert second["models"]["lm"]["reused_from"].startswith(str(earlier))
    assert "train.free_bits=0.5" in second["training_commands"]["vae"]
    assert "taken from" in (tmp_path / "results" / "ptb.md").read_text()
    # refused when the earlier language model is not the one this run would train
    differs = run("ptb.py", other_work + ["--reuse", "--set", "train.lr=0.01", "--lm-from", str(earlier)])
    assert differs.returncode == 2 and "its lm was trained with train.lr=" in differs.stderr
    assert len(differs.stderr.strip().splitlines()) == 1
    missing = run("ptb.py", other_work + ["--reuse", "--lm-from", str(tmp_path / "nope.json")])
    assert missing.returncode == 2 and "nope.json: no such file" in missing.stderr


def test_a_vae_only_override_reaches_the_vae_and_not_its_language_model():
    common = load_script("common")
    parser = argparse.ArgumentParser()
    common.add_protocol_arguments(parser, "ptb", budget=1.0, max_epochs=1)
    args = parser.parse_args(["--set", "train.lr=0.01", "--vae-set", "train.free_bits=0.16"])
    files = {"train": "a.txt", "valid": "b.txt"}
    vae, lm = (common.train_arguments(args, spec, files) for spec in common.vae_and_lm(args))
    assert "train.free_bits=0.16" in vae and "train.free_bits=0.16" not in lm
    assert "train.lr=0.01" in vae and "train.lr=0.01" in lm  # --set still reaches both
    assert "model.use_latent=false" in lm and "model.use_latent=false" not in vae


def test_yelp_benchmark_reports_the_sentiment_probe(tmp_path):
    data = tmp_path / "yelp"
    data.mkdir()
    for name, sentences in splits(train=200, valid=40, test=60, seed=4).items():
        (data / f"{name}.txt").write_text("".join(f"{s.text}\n" for s in sentences))
        # The "sentiment" label of this test: whether the sentence is a question.
        (data / f"{name}.tsv").write_text("label\tsentence\n" + "".join(
            f"{int(s.labels['mood'] == 'question')}\t{s.text}\n" for s in sentences))
    result = run("yelp.py", tiny_options(tmp_path, data) + ["--probe-train", "150"])
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "results" / "yelp.json").read_text())
    assert list(results["models"]) == ["vae"]  # no --with-lm
    probe = results["probe"]
    assert probe["train_sentences"] == 150 and probe["test_sentences"] == 60
    assert 0.0 <= probe["test_accuracy"] <= 1.0
    assert results["goals"][0]["met"] == (probe["test_accuracy"] >= 0.80)
    assert "Sentiment probe" in (tmp_path / "results" / "yelp.md").read_text()


def test_linear_probe_separates_separable_classes_and_not_random_labels():
    probe = load_script("yelp").linear_probe
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[2.0, 0.0, 0.0], [-2.0, 0.0, 0.0]])
    labels = torch.randint(0, 2, (600,), generator=generator)
    points = centres[labels] + 0.7 * torch.randn(600, 3, generator=generator)
    names = ["neg" if int(y) == 0 else "pos" for y in labels]
    separable = probe(points[:400], names[:400], points[400:], names[400:])
    assert separable["test_accuracy"] > 0.97 and separable["classes"] == ["neg", "pos"]
    shuffled = [names[i] for i in torch.randperm(600, generator=generator).tolist()]
    chance = probe(points[:400], shuffled[:400], points[400:], shuffled[400:])
    assert chance["test_accuracy"] < 0.65
    with pytest.raises(ValueError):
        probe(points[:10], ["a"] * 10, points[10:12], ["a", "b"])


def test_throughput_benchmark_measures_every_variant(tmp_path):
    out = tmp_path / "throughput.json"
    result = run("throughput.py", ["--quick", "--threads", "1", "--out", str(out)])
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    anchor = report["anchor"]
    assert set(anchor["train_tokens_per_s"]) == {"reference_anchor", "reference_padded_60", "sentvae_packed",
                                                 "sentvae_packed_bucketed", "sentvae_packed_bucketed_fused_adamw",
                                                 "sentvae_packed_bucketed_bf16",
                                                 "sentvae_packed_bucketed_batch_x4",
                                                 "sentvae_packed_bucketed_adaptive",
                                                 "sentvae_packed_bucketed_adaptive_bf16"}
    rates = anchor["train_tokens_per_s"]
    bf16_keys = {"sentvae_packed_bucketed_bf16", "sentvae_packed_bucketed_adaptive_bf16"}
    # bf16 is measured exactly where the CPU has bf16 instructions (training turns it on there only)
    assert all((rates[k] is not None) == report["bf16_native"] for k in bf16_keys)
    assert all(v > 0 for k, v in rates.items() if k not in bf16_keys or report["bf16_native"])
    exact = ("sentvae_packed", "sentvae_packed_bucketed", "sentvae_packed_bucketed_fused_adamw")
    assert anchor["speedup_vs_reference"] == max(rates[k] for k in exact) / rates["reference_anchor"]
    assert anchor["anchor_vs_padded_60"] == rates["reference_anchor"] / rates["reference_padded_60"]
    loop = anchor["sentvae_train_loop"]  # what `sentvae train` itself reported over its steps
    assert loop["tokens_per_s"] > 0 and loop["steps"] == report["timed_steps"] + 3
    assert anchor["speedup_train_loop_vs_reference"] == loop["tokens_per_s"] / rates["reference_anchor"]
    assert report["hardware"]["instruction_set"] in ("AVX2", "AVX512", "AVX512_BF16", "AMX", "unknown")
    assert anchor["speedup_vs_reference"] > 0 and 0 < anchor["fraction_of_gemm_rate"]
    assert anchor["speedup_large_batch_vs_reference"] > 0 and anchor["speedup_adaptive_vs_reference"] > 0
    assert anchor["adaptive_softmax_cutoffs"] and anchor["adaptive_softmax_cutoffs"][-1] < report["vocab_size"]
    assert all(isinstance(anchor["decode_sentences_per_s"][k], float)
               for k in ("greedy", "sample", "beam5", "encode"))
    decoding = anchor["decode_sentences_per_s"]
    fraction = anchor["decode_fraction_of_flop_bound"]
    per_token = anchor["flops"]["forward"]["decoder"] + anchor["flops"]["forward"]["output_projection"]
    assert set(fraction) == {"greedy", "sample"}
    assert fraction["greedy"] == decoding["greedy_tokens_per_s"] * per_token / report["gemm_flops_per_s"]
    # at most max_length + 1 = 31 tokens per sentence, at least one
    assert decoding["greedy"] <= decoding["greedy_tokens_per_s"] <= 31 * decoding["greedy"]
    assert "| anchor |" in result.stdout


def test_threads_benchmark_times_sentvae_train_in_every_setting(tmp_path):
    result = run("threads.py", ["--quick", "--work-dir", str(tmp_path / "work"),
                                "--results-dir", str(tmp_path / "results")])
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "results" / "threads_quick.json").read_text())
    cores = os.cpu_count()
    assert set(report["settings"]) == {"1 thread", f"{cores} threads", f"{cores} processes x 1 thread"}
    runs = report["sizes"]["tiny"]
    for name, setting in report["settings"].items():
        assert runs[name]["steps"] == report["steps"] == 6 and runs[name]["tokens_per_s"] > 0
        assert (runs[name]["processes"], runs[name]["threads"]) == (setting["processes"], setting["threads"])
    assert report["fastest"]["tiny"] == max(runs, key=lambda n: runs[n]["tokens_per_s"])
    assert "| tiny |" in (tmp_path / "results" / "threads_quick.md").read_text()


def test_generation_benchmark_reports_ptb_examples_and_decoding_speed(tmp_path, trained_run):
    data = tmp_path / "ptb"
    data.mkdir()
    sentences = [s.text for s in splits(train=0, valid=0, test=200, seed=6)["test"]]
    (data / "ptb.test.txt").write_text("".join(f" {s} \n" for s in sentences))
    out = tmp_path / "results" / "generation.json"
    result = run("generation.py", ["--ptb-model", str(trained_run), "--ptb-data", str(data),
                                   "--steps", "5", "--repeats", "1", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    payload = json.loads((tmp_path / "results" / "generation_ptb.json").read_text())
    assert len(payload["prior_samples_greedy"]) == 10
    assert len(payload["interpolations"]) == 3
    for walk in payload["interpolations"]:
        assert walk["first"] in sentences and walk["second"] in sentences
        assert [position for position, _ in walk["points"]] == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    for name in ("greedy", "sample", "beam5"):
        assert payload["throughput"][name]["sentences_per_s"] > 0
        assert payload["throughput"][name]["batch"] == 64
    markdown = (tmp_path / "results" / "generation_ptb.md").read_text()
    assert markdown == result.stdout and "beam search, width 5" in markdown
    assert not out.exists()  # the built-in corpus results are not overwritten


def test_generation_benchmark_on_the_builtin_corpus_reports_refined_samples_and_copies(tmp_path, trained_run,
                                                                                      trained_lm):
    out = tmp_path / "results" / "generation.json"
    result = run("generation.py", ["-m", str(trained_run), "--pairs", "3", "--steps", "4", "--repeats", "1",
                                   "--out", str(out)])
    assert result.returncode == 0, result.stderr
    payload = json.loads(out.read_text())
    grammatical, copies = payload["grammatical"], payload["training_copies"]
    assert set(copies) == {"greedy", "sampled (temperature 1)", "beam 5", "greedy, refined once",
                           "beam 5, refined once"} and all(0 <= v <= 1 for v in copies.values())
    assert all(0 <= v <= 1 for v in grammatical.values())
    assert grammatical["real_training_sentences"] == 1.0  # the recogniser accepts the corpus
    vae = VAEPipeline.from_pretrained(trained_run)
    refined = [g.text for g in vae.sample(1000, DecodingOptions("beam", beam=5), seed=0, refine=1)]
    assert grammatical["beam5_refined_prior_samples"] == sum(map(is_grammatical, refined)) / 1000
    markdown = result.stdout
    assert "refined once (what `sentvae demo` prints, with its language model fused in)" in markdown and "| training sentences |" in markdown
    assert payload["fusion"] is None
    # with a language model fused in, as the demo decodes
    result = run("generation.py", ["-m", str(trained_run), "--pairs", "3", "--steps", "4", "--repeats", "1",
                                   "--out", str(out), "--fusion-lm", str(trained_lm)])
    assert result.returncode == 0, result.stderr
    fused = json.loads(out.read_text())
    assert fused["fusion"]["weight"] == 0.5 and "fused in (weight 0.5)" in result.stdout
    vae.fuse_with(VAEPipeline.from_pretrained(trained_lm), 0.5)
    refined = [g.text for g in vae.sample(1000, DecodingOptions("beam", beam=5), seed=0, refine=1)]
    assert fused["grammatical"]["beam5_refined_prior_samples"] == sum(map(is_grammatical, refined)) / 1000


def _levers_options(tmp_path, lever: str) -> list[str]:
    """levers.py options for `lever` on a tiny PTB-layout folder of built-in sentences."""
    data = tmp_path / "ptb"
    data.mkdir()
    for name, sentences in splits(train=300, valid=40, test=0, seed=4).items():
        if name != "test":
            (data / f"ptb.{name}.txt").write_text("".join(f" {s.text} \n" for s in sentences))
    return ["--data", str(data), "--lever", lever, "--epochs", "1",
            "--work-dir", str(tmp_path / "work"), "--results-dir", str(tmp_path / "results")]


def test_levers_benchmark_trains_the_baseline_and_the_lever_and_compares_them(tmp_path):
    options = _levers_options(tmp_path, "batch_128")
    for override in TINY:
        if not override.startswith("train.batch_size"):  # the lever's own setting must stand
            options += ["--set", override]
    result = run("levers.py", options)
    assert result.returncode == 0, result.stderr[-2000:]
    entry = json.loads((tmp_path / "results" / "levers.json").read_text())["batch_128"]
    base, lever = entry["runs"]["baseline"], entry["runs"]["batch_128"]
    # the lever's overrides reached its run (and only its run): about half as many steps per epoch
    assert 2 * lever["training"]["steps"] - 1 <= base["training"]["steps"] <= 2 * lever["training"]["steps"]
    assert entry["speedup_tokens_per_s"] > 0
    assert entry["valid_neg_elbo_change"] == pytest.approx(
        lever["best_valid"]["neg_elbo_per_sentence"] - base["best_valid"]["neg_elbo_per_sentence"])
    assert "batch 128" in (tmp_path / "results" / "levers.md").read_text()
    again = run("levers.py", options)  # the runs exist: refused without --reuse, kept with it
    assert again.returncode == 2 and "--reuse" in again.stderr
    assert run("levers.py", options + ["--reuse"]).returncode == 0


def test_a_lever_with_its_own_baseline_is_compared_with_that_baseline(tmp_path):
    options = _levers_options(tmp_path, "share_embeddings")
    for override in TINY:
        options += ["--set", override]
    result = run("levers.py", options)
    assert result.returncode == 0, result.stderr[-2000:]
    entry = json.loads((tmp_path / "results" / "levers.json").read_text())["share_embeddings"]
    assert set(entry["runs"]) == {"untied_adaptive", "share_embeddings"}
    base, lever = entry["runs"]["untied_adaptive"], entry["runs"]["share_embeddings"]
    assert "model.share_embeddings=true" not in base["overrides"]
    assert "model.tie_embeddings=false" in base["overrides"]  # not the tied configs/ptb.yaml
    assert "model.share_embeddings=true" in lever["overrides"]
    assert base["training"]["peak_rss_mb"] > 0 and lever["training"]["peak_rss_mb"] > 0
    markdown = (tmp_path / "results" / "levers.md").read_text()
    assert "share one embedding table" in markdown and " / " in markdown.splitlines()[2]


def test_memory_benchmark_records_resident_memory_and_speed_of_each_mode(tmp_path):
    from sentvae.step import native_bf16

    result = run("memory.py", ["--steps", "50", "--kernel-cache", "1024",
                               "--results-dir", str(tmp_path / "results")])
    assert result.returncode == 0, result.stderr[-2000:]
    payload = json.loads((tmp_path / "results" / "memory.json").read_text())
    # bf16 modes only where training would use bf16 (emulated elsewhere: ~20x slower)
    native = native_bf16(torch.device("cpu"))
    assert payload["bf16_native"] is native
    bf16_modes = ["bf16, train.kernel_cache=64 (default)", "bf16, train.kernel_cache=1024"]
    assert list(payload["runs"]) == ["float32", *(bf16_modes if native else [])]
    assert native or "bf16 modes not run" in result.stdout
    for run_ in payload["runs"].values():
        assert [r["step"] for r in run_["records"]] == [10, 20, 30, 40, 50]
        assert all(0 < r["resident_mb"] <= r["peak_mb"] for r in run_["records"])
        assert run_["seconds"] > 0
    table = (tmp_path / "results" / "memory.md").read_text()
    assert "| float32 | " in table and "| step 50 |" in table and "| 1.00x |" in table


def test_rate_benchmark_scores_each_point_and_update_keeps_the_other_rows(tmp_path):
    options = ["--quick", "--work-dir", str(tmp_path / "work"), "--results-dir", str(tmp_path / "results"),
               "--eval-threads", "1"]
    for override in TINY:
        options += ["--set", override]
    result = run("rate.py", options + ["--points", "beta1,target5"])
    assert result.returncode == 0, result.stderr[-2000:]
    first = json.loads((tmp_path / "results" / "rate_quick.json").read_text())
    assert [row["point"] for row in first["points"]] == ["beta1", "target5"]
    for row in first["points"]:
        assert 0.0 <= row["reconstruction_exact_match"] <= 1.0 and 0.0 <= row["fitted_prior_grammatical"] <= 1.0
        assert row["measured"] == first["date"] and set(first["goals"][row["point"]]) == {
            "reconstruction_exact_match", "fitted_prior_grammatical", "interpolation_grammatical_points"}
    result = run("rate.py", options + ["--points", "target10", "--update"])
    assert result.returncode == 0, result.stderr[-2000:]
    second = json.loads((tmp_path / "results" / "rate_quick.json").read_text())
    assert [row["point"] for row in second["points"]] == ["beta1", "target5", "target10"]
    assert second["points"][:2] == first["points"]  # kept as measured, with their date
    assert (tmp_path / "results" / "rate_quick.png").stat().st_size > 0
    # the same trained point, its reconstructions decoded by beam search: a row of its own beside it
    result = run("rate.py", options + ["--points", "beta1", "--update", "--reuse", "--beam", "3"])
    assert result.returncode == 0, result.stderr[-2000:]
    third = json.loads((tmp_path / "results" / "rate_quick.json").read_text())
    assert [row["point"] for row in third["points"]] == ["beta1", "beta1+beam3", "target5", "target10"]
    assert third["points"][0] == first["points"][0] and third["points"][1]["decoding"] == "beam 3"
    assert (tmp_path / "work" / "beta1" / "evaluation_beam3.json").is_file()
    assert "beam 3 decoding" in (tmp_path / "results" / "rate_quick.md").read_text()
    # and re-ranked by re-encoding: another row, another cached evaluation
    result = run("rate.py", options + ["--points", "beta1", "--update", "--reuse", "--beam", "3", "--rerank"])
    assert result.returncode == 0, result.stderr[-2000:]
    fourth = json.loads((tmp_path / "results" / "rate_quick.json").read_text())
    assert [row["point"] for row in fourth["points"]][:3] == ["beta1", "beta1+beam3", "beta1+beam3+re-ranked"]
    assert fourth["points"][2]["decoding"] == "beam 3, re-ranked"
    assert (tmp_path / "work" / "beta1" / "evaluation_beam3_rerank.json").is_file()
    refused = run("rate.py", options + ["--points", "beta1", "--reuse", "--rerank"])
    assert refused.returncode == 2 and "--rerank needs --beam" in refused.stderr
    # prior samples refined through the autoencoder: a row and a cached evaluation of their own
    result = run("rate.py", options + ["--points", "beta1", "--update", "--reuse", "--refine", "1"])
    assert result.returncode == 0, result.stderr[-2000:]
    fifth = {row["point"]: row for row in json.loads((tmp_path / "results" / "rate_quick.json").read_text())["points"]}
    assert fifth["beta1"] == first["points"][0] and "samples refined 1x" in fifth["beta1+refined1"]["title"]
    assert (tmp_path / "work" / "beta1" / "evaluation_refine1.json").is_file()
    refused = run("rate.py", options + ["--points", "beta1", "--reuse", "--refine", "-1"])
    assert refused.returncode == 2 and "--refine takes" in refused.stderr
    # decoded with the corpus's language model fused in: the model trained first, then a row of its own
    result = run("rate.py", options + ["--points", "beta1", "--update", "--reuse", "--fusion-weight", "0.5"])
    assert result.returncode == 0, result.stderr[-2000:]
    sixth = {row["point"]: row for row in json.loads((tmp_path / "results" / "rate_quick.json").read_text())["points"]}
    assert "language model fused (weight 0.5)" in sixth["beta1+fused0.5"]["title"]
    assert sixth["beta1"] == first["points"][0] and "language_model" not in sixth
    assert (tmp_path / "work" / "language_model" / "summary.json").is_file()
    assert (tmp_path / "work" / "beta1" / "evaluation_fused0.5.json").is_file()
    refused = run("rate.py", options + ["--points", "beta1", "--reuse", "--fusion-weight", "1"])
    assert refused.returncode == 2 and "--fusion-weight must be in [0, 1)" in refused.stderr


def test_rate_benchmark_on_a_corpus_judges_the_samples_with_a_language_model(tmp_path):
    data = tmp_path / "corpus"
    data.mkdir()
    for name, sentences in splits(train=200, valid=40, test=40, seed=5).items():
        (data / f"{name}.txt").write_text("".join(f"{s.text}\n" for s in sentences))
    options = ["--quick", "--data", str(data), "--work-dir", str(tmp_path / "work"),
               "--results-dir", str(tmp_path / "results"), "--eval-threads", "1", "--points", "yelp_target40"]
    for override in TINY:
        options += ["--set", override]
    result = run("rate.py", options)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "results" / "rate_yelp_quick.json").read_text())
    assert report["corpus"] == "yelp" and [row["point"] for row in report["points"]] == ["yelp_target40"]
    assert (tmp_path / "work" / "yelp_lm" / "summary.json").is_file()  # the judge was trained too
    row = report["points"][0]
    assert row["lm_ppl_real"] == report["judge"]["ppl_real"] > 1.0
    assert row["standard_prior_forward_ppl"] > 1.0 and row["fitted_prior_forward_ppl"] > 1.0
    assert report["goals"]["yelp_target40"] == {
        "reconstruction_bleu": row["reconstruction_bleu"] >= 50.0,
        "fitted_prior_fluency": row["fitted_prior_forward_ppl"] <= 1.3 * row["lm_ppl_real"]}
    assert "forward PPL" in (tmp_path / "results" / "rate_yelp_quick.md").read_text()


def test_longest_batch_memory_probe_prepares_data_apart_and_reports_the_peak(tmp_path):
    data = tmp_path / "ptb"
    data.mkdir()
    for name, sentences in splits(train=300, valid=40, test=40, seed=3).items():
        (data / f"ptb.{name}.txt").write_text("".join(f" {s.text} \n" for s in sentences))
    result = run("longest_batch_memory.py", ["--data", str(data), "--batches", "1", "--repeats", "1"])
    assert result.returncode == 0, result.stderr[-2000:]
    before, peak = [float(line.rsplit(": ", 1)[1].split()[0].replace(",", ""))
                    for line in result.stdout.strip().splitlines()]
    assert "prepare_splits_apart" in result.stdout
    assert 0 < before <= peak


def test_fusion_weight_sweep_scores_each_weight_on_the_validation_split(tmp_path, trained_run, trained_lm):
    out = tmp_path / "fusion_weight.json"
    result = run("fusion_weight.py", ["-m", str(trained_run), "--lm", str(trained_lm), "--weights", "0,0.9",
                                      "--beam", "1", "--samples", "40", "--pairs", "2", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    payload = json.loads(out.read_text())
    assert [row["weight"] for row in payload["rows"]] == [0.0, 0.9]
    vae = VAEPipeline.from_pretrained(trained_run)
    for row in payload["rows"]:
        vae.fuse_with(VAEPipeline.from_pretrained(trained_lm) if row["weight"] else None, row["weight"])
        texts = [g.text for g in vae.sample(40, DecodingOptions(), seed=1)]
        assert row["grammatical_samples"] == sum(map(is_grammatical, texts)) / 40
        assert row["examples"] == texts[:5]
    assert "| 0.9 |" in result.stdout and out.with_suffix(".md").read_text().strip() == result.stdout.strip()
    refused = run("fusion_weight.py", ["-m", str(trained_run), "--lm", str(trained_lm), "--weights", "1"])
    assert refused.returncode == 2 and "weights must be numbers in [0, 1)" in refused.stderr


def test_the_demo_long_config_is_the_rate_benchmarks_goal_meeting_point():
    """configs/demo_long.yaml must train what rate.py's "capacity80_nowd_pool_30k" point trains
    (the row its README figures come from): demo_beta1 with that point's overrides."""
    from dataclasses import asdict

    from sentvae.config import load_config

    rate = load_script("rate")
    point = load_config("demo_beta1", rate.POINTS["capacity80_nowd_pool_30k"][1] + ["train.out_dir=x"])
    shipped = load_config("demo_long", ["train.out_dir=x"])
    assert [asdict(c) for c in shipped] == [asdict(c) for c in point]
