"""Decoding with a language model fused in (decoding.py "Fusion", `VAEPipeline.fuse_with`, and the
--fusion-lm / --lm-weight options of the commands that decode)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from sentvae.cli import main
from sentvae.config import ModelConfig
from sentvae.decoding import DecodingOptions, decode, length_penalty
from sentvae.errors import ArgumentError
from sentvae.model import SentenceVAE
from sentvae.pipeline import VAEPipeline
from sentvae.tokenizer import BOS_ID, EOS_ID, TextTokenizer

from conftest import IdTokenizer, all_toy_sentences, build_toy_model

@pytest.fixture(scope="module")
def toy_pair():
    return build_toy_model(4, seed=0), build_toy_model(0, seed=1)  # a VAE and a language model


@torch.no_grad()
def fused_and_decoder_logprob(vae, lm, ids: list[int], z: torch.Tensor, weight: float) -> tuple[float, float]:
    """The formula of the module docstring, one token at a time: sum over the sentence's tokens
    (and <eos>) of log softmax((1 - w) log p(. | z) + w log p_LM(.)) at the token, and the
    decoder's own log p(ids, <eos> | z)."""
    hidden, lm_hidden = vae.decoder.initial_hidden(z[None], 1), lm.decoder.initial_hidden(None, 1)
    fused = own = 0.0
    for fed, target in zip([BOS_ID, *ids], [*ids, EOS_ID]):
        token = torch.tensor([fed])
        scores, hidden = vae.decoder.step(token, hidden, z[None])
        lm_scores, lm_hidden = lm.decoder.step(token, lm_hidden, None)
        own_log_probs = F.log_softmax(scores, -1)[0]
        mixed = F.log_softmax((1 - weight) * own_log_probs + weight * F.log_softmax(lm_scores, -1)[0], -1)
        fused += float(mixed[target])
        own += float(own_log_probs[target])
    return fused, own


@pytest.mark.parametrize("weight,alpha", [(0.5, 0.0), (0.8, 1.0)])
def test_a_wide_fused_beam_is_exact_search_under_the_fused_score(toy_pair, weight, alpha):
    """With more beams than prefixes, fused beam search must return the true n best sentences by
    the fused log-probability, each reporting the decoder's own log-probability."""
    vae, lm = toy_pair
    z = torch.randn(3, 4, generator=torch.Generator().manual_seed(5))
    candidates = all_toy_sentences()
    found = decode(vae, z, IdTokenizer(), DecodingOptions("beam", beam=200, n_best=5, alpha=alpha),
                   lm=lm, lm_weight=weight)
    plain = decode(vae, z, IdTokenizer(), DecodingOptions("beam", beam=200, n_best=5, alpha=alpha))
    changed = 0
    for row in range(3):
        scored = []
        for ids in candidates:
            fused, own = fused_and_decoder_logprob(vae, lm, ids, z[row], weight)
            scored.append((fused / length_penalty(len(ids) + 1, alpha), own, ids))
        scored.sort(key=lambda item: -item[0])
        best = found[row].extra["n_best"]
        assert [h["ids"] for h in best] == [ids for _, _, ids in scored[:5]]
        assert [h["score"] for h in best] == pytest.approx([s for s, _, _ in scored[:5]], abs=1e-4)
        assert [h["logprob"] for h in best] == pytest.approx([own for _, own, _ in scored[:5]], abs=1e-4)
        changed += [h["ids"] for h in best] != [h["ids"] for h in plain[row].extra["n_best"]]
    assert changed > 0  # the language model changed at least one code's five best


def test_fused_greedy_takes_the_best_fused_token_at_every_step(toy_pair):
    """Greedy decoding (which drops ended rows from the batch) and beam search of width 1 (which
    re-orders rows) must agree with fusion too, and with decoding one code at a time."""
    vae, lm = toy_pair
    z = torch.randn(40, 4, generator=torch.Generator().manual_seed(6)) * 2
    greedy = decode(vae, z, IdTokenizer(), DecodingOptions(), lm=lm, lm_weight=0.6)
    beam_one = decode(vae, z, IdTokenizer(), DecodingOptions("beam", beam=1), lm=lm, lm_weight=0.6)
    alone = decode(vae, z, IdTokenizer(), DecodingOptions(), lm=lm, lm_weight=0.6, batch_size=1)
    plain = decode(vae, z, IdTokenizer(), DecodingOptions())
    assert [g.ids for g in greedy] == [b.ids for b in beam_one] == [a.ids for a in alone]
    assert len({len(g.ids) for g in greedy}) > 1  # rows ended at different steps
    assert any(g.ids != p.ids for g, p in zip(greedy, plain))
    for code, result in zip(z, greedy):
        assert result.logprob == pytest.approx(fused_and_decoder_logprob(vae, lm, result.ids, code, 0.6)[1],
                                                abs=1e-4)


def test_weight_zero_is_plain_decoding_and_the_language_model_is_not_run(toy_pair, monkeypatch):
    vae, lm = toy_pair
    z = torch.randn(8, 4, generator=torch.Generator().manual_seed(7))
    monkeypatch.setattr(lm.decoder, "step", lambda *args: pytest.fail("the language model ran at weight 0"))
    for options in (DecodingOptions(), DecodingOptions("beam", beam=3)):
        plain = decode(vae, z, IdTokenizer(), options)
        fused = decode(vae, z, IdTokenizer(), options, lm=lm, lm_weight=0.0)
        assert [(r.ids, r.logprob) for r in plain] == [(r.ids, r.logprob) for r in fused]


def test_fused_sampling_is_reproducible_and_leaves_both_models_in_their_mode(toy_pair):
    vae, lm = toy_pair
    z = torch.randn(16, 4, generator=torch.Generator().manual_seed(8))
    lm.train()
    first = decode(vae, z, IdTokenizer(), DecodingOptions("sample", top_p=0.9), seed=3, lm=lm, lm_weight=0.5)
    assert lm.training and not vae.training
    lm.eval()
    again = decode(vae, z, IdTokenizer(), DecodingOptions("sample", top_p=0.9), seed=3, lm=lm, lm_weight=0.5)
    assert [r.ids for r in first] == [r.ids for r in again]


@pytest.mark.parametrize("make_lm,weight,message", [
    (lambda: build_toy_model(0, seed=1), 1.0, r"\[0, 1\)"),
    (lambda: build_toy_model(0, seed=1), -0.1, r"\[0, 1\)"),
    (lambda: None, 0.3, "needs a language model"),
    (lambda: build_toy_model(4, seed=1), 0.3, "must be a language model"),
    (lambda: SentenceVAE(ModelConfig(vocab_size=9, embed_dim=8, decoder_hidden_dim=16, latent_dim=0)), 0.3,
     "9 tokens"),
])
def test_a_bad_language_model_or_weight_is_refused(toy_pair, make_lm, weight, message):
    vae, _ = toy_pair
    with pytest.raises(ArgumentError, match=message):
        decode(vae, torch.zeros(1, 4), IdTokenizer(), DecodingOptions(), lm=make_lm(), lm_weight=weight)


# --- a trained language model: the pipeline and the commands -----------------------------------

def test_the_pipeline_fuses_the_codes_of_no_sentence_and_reconstructs_with_the_vae_alone(trained_vae, trained_lm):
    lm = VAEPipeline.from_pretrained(trained_lm)
    vae = VAEPipeline(trained_vae.model, trained_vae.tokenizer, trained_vae.prior)
    sentences = ["the dog sees a cat .", "did the cats sleep ?"]
    plain_samples = [g.text for g in vae.sample(30, seed=0)]
    plain_rebuilt = [g.text for g in vae.reconstruct(sentences)]
    plain_path = [g.text for g in vae.interpolate(*sentences, steps=5)]
    vae.fuse_with(lm, 0.9)
    samples = vae.sample(30, seed=0)
    assert [g.text for g in samples] != plain_samples
    z = torch.tensor([g.z for g in samples])
    expected = decode(trained_vae.model, z, vae.tokenizer, DecodingOptions(), lm=lm.model, lm_weight=0.9)
    assert [g.text for g in samples] == [g.text for g in expected]
    assert [g.text for g in vae.reconstruct(sentences)] == plain_rebuilt  # given sentences: the VAE alone
    for options in (DecodingOptions(), DecodingOptions("beam", beam=3, rerank=True)):
        fused_path = vae.interpolate(*sentences, steps=5, options=options)
        ends = vae.reconstruct(sentences, options)
        assert [fused_path[0].text, fused_path[-1].text] == [g.text for g in ends]
        inside = torch.tensor([g.z for g in fused_path[1:-1]])
        plain_inside = DecodingOptions("beam", beam=3) if options.rerank else options
        expected = decode(trained_vae.model, inside, vae.tokenizer, plain_inside, lm=lm.model, lm_weight=0.9)
        assert [g.text for g in fused_path[1:-1]] == [g.text for g in expected]
    vae.fuse_with(None)
    assert [g.text for g in vae.sample(30, seed=0)] == plain_samples
    assert [g.text for g in vae.interpolate(*sentences, steps=5)] == plain_path


def test_the_pipeline_refuses_a_language_model_of_another_vocabulary(trained_vae):
    words = ["alpha", "beta", "gamma"]
    tokenizer = TextTokenizer.train([" ".join(words)], kind="word", vocab_size=100)
    lm = VAEPipeline(SentenceVAE(ModelConfig(vocab_size=tokenizer.vocab_size, embed_dim=8, decoder_hidden_dim=8,
                                             latent_dim=0)), tokenizer)
    with pytest.raises(ArgumentError, match="vocabulary"):
        VAEPipeline(trained_vae.model, trained_vae.tokenizer).fuse_with(lm)
    with pytest.raises(ArgumentError, match="language model"):
        VAEPipeline(trained_vae.model, trained_vae.tokenizer).fuse_with(trained_vae)


def test_the_commands_take_a_fused_language_model(trained_run, trained_lm, capsys, tmp_path):
    argv = ["-m", str(trained_run), "--fusion-lm", str(trained_lm), "--lm-weight", "0.9", "--format", "jsonl"]
    assert main(["sample", "-n", "5", "--seed", "0", *argv]) == 0
    fused = [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()]
    vae = VAEPipeline.from_pretrained(trained_run).fuse_with(VAEPipeline.from_pretrained(trained_lm), 0.9)
    assert fused == [g.text for g in vae.sample(5, DecodingOptions(), seed=0)]
    assert main(["interpolate", "the dog sees a cat .", "did the cats sleep ?", "--steps", "3", *argv]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    data = tmp_path / "test.txt"
    data.write_text("the dog sees a cat .\ndid the cats sleep ?\n", encoding="utf-8")
    evaluate = ["evaluate", "-m", str(trained_run), "--data", str(data), "--iw-samples", "2",
                "--prior-samples", "10", "--interpolation-pairs", "2"]
    assert main([*evaluate, "--json", str(tmp_path / "plain.json")]) == 0
    assert main([*evaluate, "--fusion-lm", str(trained_lm), "--json", str(tmp_path / "fused.json")]) == 0
    plain, fused = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("plain", "fused"))
    assert fused["fusion_lm"] == str(trained_lm) and fused["fusion_lm_weight"] == 0.5  # the default weight
    assert "fusion_lm" not in plain
    assert fused["reconstruction_bleu"] == plain["reconstruction_bleu"]  # given sentences: the VAE alone
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:  # argparse's one-line usage error
        main(["reconstruct", "-m", str(trained_run), "the dog sees a cat .", "--fusion-lm", str(trained_lm)])
    assert exited.value.code == 2 and "unrecognized arguments: --fusion-lm" in capsys.readouterr().err


@pytest.mark.parametrize("extra,message", [
    (["--lm-weight", "0.5"], "--lm-weight needs --fusion-lm"),
    (["--fusion-lm", "LM", "--lm-weight", "1.5"], "in [0, 1)"),
    (["--fusion-lm", "VAE"], "must be a language model"),
    (["--fusion-lm", "missing"], "missing"),
])
def test_bad_fusion_options_exit_2_with_one_line(trained_run, trained_lm, tmp_path, capsys, extra, message):
    paths = {"LM": str(trained_lm), "VAE": str(trained_run), "missing": str(tmp_path / "missing")}
    extra = [paths.get(arg, arg) for arg in extra]
    assert main(["sample", "-m", str(trained_run), "-n", "2", *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and message in captured.err


def test_the_command_line_default_weight_is_the_packages():
    from sentvae.cli.common import DEFAULT_LM_WEIGHT as command_line_default
    from sentvae.decoding import DEFAULT_LM_WEIGHT

    assert command_line_default == DEFAULT_LM_WEIGHT
