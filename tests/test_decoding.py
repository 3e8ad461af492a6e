"""Decoding: greedy, sampling, beam search, their options, interpolation, and the three commands."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from sentvae.cli import main
from sentvae.config import ModelConfig
from sentvae.corpus import splits
from sentvae.data import collate
from sentvae.decoding import DecodingOptions, _truncate, decode, length_penalty, path, slerp
from sentvae.errors import ArgumentError
from sentvae.model import SentenceVAE
from sentvae.pipeline import VAEPipeline
from sentvae.tokenizer import EOS_ID, UNK_ID

from conftest import IdTokenizer, all_toy_sentences, build_toy_model


def prior_codes(model, n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, model.cfg.latent_dim, generator=torch.Generator().manual_seed(seed))


def teacher_forced_logprob(model, ids: list[list[int]], z: torch.Tensor) -> list[float]:
    """log p(ids, <eos> | z) of given sentences, computed by the training-time forward pass
    (`model` is the tensor model)."""
    tokens, lengths = collate(ids)
    with torch.no_grad():
        return (-model(tokens, lengths, z=z).rec).tolist()


def ngrams(ids: list[int], n: int) -> list[tuple[int, ...]]:
    return [tuple(ids[i: i + n]) for i in range(len(ids) - n + 1)]


def edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (x != y))
    return row[-1]


def held_out_sentences(n: int) -> list[str]:
    return [s.text for s in splits(train=0, valid=0, test=n, seed=11)["test"]]


# --- a toy model small enough to search exhaustively (conftest.build_toy_model) -------------------

@pytest.fixture(scope="module")
def toy_model():
    """A random 7-token model with max_length 3: 85 possible sentences, all enumerable."""
    return build_toy_model(latent_dim=4, seed=0)


@pytest.mark.parametrize("alpha,no_repeat", [(0.0, False), (1.0, False), (0.0, True)])
def test_wide_beam_is_exact_search(toy_model, alpha, no_repeat):
    """With more beams than prefixes, beam search must return the true n best sentences."""
    z = prior_codes(toy_model, 3, seed=1)
    candidates = all_toy_sentences(no_repeat)
    beam = decode(toy_model, z, IdTokenizer(), DecodingOptions("beam", beam=200, n_best=5, alpha=alpha,
                                                               no_repeat_ngram=1 if no_repeat else 0))
    greedy = decode(toy_model, z, IdTokenizer(), DecodingOptions(no_repeat_ngram=1 if no_repeat else 0))
    for row in range(3):
        logprobs = teacher_forced_logprob(toy_model, candidates, z[row].expand(len(candidates), -1))
        scored = sorted(((lp / length_penalty(len(ids) + 1, alpha), lp, ids)
                         for lp, ids in zip(logprobs, candidates)), key=lambda t: -t[0])
        found = beam[row].extra["n_best"]
        assert [h["ids"] for h in found] == [ids for _, _, ids in scored[:5]]
        for h, (score, lp, _) in zip(found, scored):
            assert h["score"] == pytest.approx(score, abs=1e-4)
            assert h["logprob"] == pytest.approx(lp, abs=1e-4)
        if alpha == 0:  # exact search can only beat greedy decoding
            assert beam[row].logprob >= greedy[row].logprob - 1e-5


def log_posterior_density(model, ids: list[list[int]], z: torch.Tensor) -> torch.Tensor:
    """log q(z | x) of each sentence's posterior at its code, computed here from mu and logvar."""
    tokens, lengths = collate(ids)
    with torch.no_grad():
        mu, logvar = model.posterior(tokens, lengths)
    normal = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    return normal.log_prob(z).sum(-1)


def test_reranking_a_wide_beam_finds_the_sentence_that_encodes_back_to_its_code(toy_model):
    """With every sentence in the beam, re-ranking must return the true best five by
    log p(x | z) + log q(z | x)."""
    z = prior_codes(toy_model, 3, seed=2)
    candidates = all_toy_sentences()
    reranked = decode(toy_model, z, IdTokenizer(), DecodingOptions("beam", beam=200, n_best=5, rerank=True))
    plain = decode(toy_model, z, IdTokenizer(), DecodingOptions("beam", beam=200, n_best=5))
    changed = 0
    for row in range(3):
        codes = z[row].expand(len(candidates), -1)
        combined = (torch.tensor(teacher_forced_logprob(toy_model, candidates, codes))
                    + log_posterior_density(toy_model, candidates, codes))
        best = combined.argsort(descending=True)[:5].tolist()
        found = reranked[row].extra["n_best"]
        assert [h["ids"] for h in found] == [candidates[i] for i in best]
        assert [h["score"] for h in found] == pytest.approx(combined[best].tolist(), abs=1e-3)
        changed += [h["ids"] for h in found] != [h["ids"] for h in plain[row].extra["n_best"]]
    assert changed > 0  # the re-encoding term re-ordered at least one code's five best


def test_reranking_picks_from_the_same_beam_and_never_scores_lower(trained_vae):
    z = prior_codes(trained_vae, 24)
    plain = trained_vae.generate(z, DecodingOptions("beam", beam=4, n_best=4))
    reranked = trained_vae.generate(z, DecodingOptions("beam", beam=4, rerank=True))
    model = trained_vae.model
    for code, before, after in zip(z, plain, reranked):
        assert after.ids in [h["ids"] for h in before.extra["n_best"]]
        combined = [lp + q for lp, q in zip(teacher_forced_logprob(model, [before.ids, after.ids], code.expand(2, -1)),
                                            log_posterior_density(model, [before.ids, after.ids], code.expand(2, -1)).tolist())]
        assert after.extra["score"] == pytest.approx(combined[1], abs=1e-3)
        assert combined[1] >= combined[0] - 1e-4


def test_a_reranked_interpolation_reranks_its_ends_only(trained_vae):
    first, second = held_out_sentences(2)
    reranked = DecodingOptions("beam", beam=4, rerank=True)
    path_points = trained_vae.interpolate(first, second, steps=6, options=reranked)
    plain = trained_vae.interpolate(first, second, steps=6, options=DecodingOptions("beam", beam=4))
    ends = trained_vae.reconstruct([first, second], reranked)
    assert [path_points[0].text, path_points[-1].text] == [g.text for g in ends]
    assert [g.text for g in path_points[1:-1]] == [g.text for g in plain[1:-1]]
    assert [g.position for g in path_points] == [i / 5 for i in range(6)]


def test_reranking_needs_a_beam_and_a_latent_code(trained_vae):
    with pytest.raises(ArgumentError, match="beam"):
        DecodingOptions(rerank=True)
    language_model = SentenceVAE(ModelConfig(vocab_size=7, embed_dim=8, decoder_hidden_dim=8, latent_dim=0))
    with pytest.raises(ArgumentError, match="language model"):
        decode(language_model, None, IdTokenizer(), DecodingOptions("beam", beam=2, rerank=True), n=2)


# --- beam search against greedy on a trained model -----------------------------------------------

def test_beam_width_one_is_greedy(trained_vae):
    z = prior_codes(trained_vae, 48)
    for options in ({}, {"no_repeat_ngram": 2, "suppress_unk": True, "max_length": 6}):
        greedy = trained_vae.generate(z, DecodingOptions(**options))
        beam = trained_vae.generate(z, DecodingOptions("beam", beam=1, alpha=0.7, **options))
        assert [g.ids for g in greedy] == [b.ids for b in beam]
        # the same sums; greedy drops ended rows, so its matrix products see other batch sizes
        assert [g.logprob for g in greedy] == pytest.approx([b.logprob for b in beam], abs=1e-4)


def test_top_k_one_is_greedy(trained_vae):
    z = prior_codes(trained_vae, 48)
    greedy = trained_vae.generate(z)
    sampled = trained_vae.generate(z, DecodingOptions("sample", top_k=1, temperature=1.7), seed=3)
    assert [g.ids for g in greedy] == [s.ids for s in sampled]


def test_wider_beams_find_likelier_sentences(trained_vae):
    """Beam search is not guaranteed to beat greedy on every code (the greedy path can fall out
    of the beam; exhaustively it must, see test_wide_beam_is_exact_search), but it must on
    average, and on most codes."""
    z = prior_codes(trained_vae, 64)
    greedy = [g.logprob for g in trained_vae.generate(z)]
    for width in (2, 5):
        beam = [b.logprob for b in trained_vae.generate(z, DecodingOptions("beam", beam=width))]
        assert sum(beam) / len(beam) > sum(greedy) / len(greedy)
        assert sum(b >= g - 1e-5 for b, g in zip(beam, greedy)) >= 0.5 * len(z)


def test_n_best_lists_are_distinct_and_ordered(trained_vae):
    z = prior_codes(trained_vae, 8)
    for alpha in (0.0, 1.0):
        for result in trained_vae.generate(z, DecodingOptions("beam", beam=6, n_best=4, alpha=alpha)):
            n_best = result.extra["n_best"]
            assert len(n_best) == 4
            assert (n_best[0]["ids"], n_best[0]["logprob"]) == (result.ids, result.logprob)
            assert result.extra["score"] == n_best[0]["score"]
            scores = [h["score"] for h in n_best]
            assert scores == sorted(scores, reverse=True)
            assert len({tuple(h["ids"]) for h in n_best}) == 4
            for h in n_best:
                assert h["score"] == pytest.approx(h["logprob"] / length_penalty(len(h["ids"]) + 1, alpha))


def test_logprob_is_the_decoders_score_of_the_output(trained_vae):
    """Whatever chose the tokens (and a forced <eos> at max_length), logprob = log p(ids, <eos> | z)."""
    z = prior_codes(trained_vae, 16)
    for options, seed in ((DecodingOptions(), None),
                          (DecodingOptions("sample", temperature=1.5, top_p=0.9), 1),
                          (DecodingOptions("beam", beam=3, alpha=0.6), None),
                          (DecodingOptions(max_length=3), None),
                          (DecodingOptions("beam", max_length=2), None)):
        results = trained_vae.generate(z, options, seed=seed)
        expected = teacher_forced_logprob(trained_vae.model, [r.ids for r in results], z)
        assert [r.logprob for r in results] == pytest.approx(expected, abs=1e-3)


def test_batch_equals_one_code_at_a_time(trained_vae):
    z = prior_codes(trained_vae, 10, seed=4)
    for options in (DecodingOptions(), DecodingOptions("beam", beam=4, n_best=2)):
        together = trained_vae.generate(z, options)
        alone = trained_vae.generate(z, options, batch_size=1)
        assert [r.ids for r in together] == [r.ids for r in alone]
        assert [r.logprob for r in together] == pytest.approx([r.logprob for r in alone], abs=1e-4)


def test_ended_sentences_leave_the_batch(trained_vae, monkeypatch):
    """Each decoder step runs only for the rows that have not produced <eos>: the rows a step
    sees are exactly the sentences longer than that step, and the results stay the same."""
    z = prior_codes(trained_vae, 40, seed=2)
    expected = trained_vae.generate(z, DecodingOptions(), batch_size=1)
    decoder = trained_vae.model.decoder
    rows_seen, original = [], decoder.step
    monkeypatch.setattr(decoder, "step", lambda tokens, *rest: rows_seen.append(len(tokens)) or original(tokens, *rest))
    results = trained_vae.generate(z, DecodingOptions())
    assert [r.ids for r in results] == [r.ids for r in expected]
    lengths = [len(r.ids) for r in results]  # words; step t decodes the rows with more than t - 1 words
    assert rows_seen == [sum(n >= t for n in lengths) for t in range(max(lengths) + 1)]
    assert sum(rows_seen) == sum(n + 1 for n in lengths) < len(z) * (max(lengths) + 1)


# --- options shared by the strategies ------------------------------------------------------------

def test_no_repeat_ngram_blocks_repeats(trained_vae):
    z = prior_codes(trained_vae, 64, seed=2) * 2.5
    loose = trained_vae.generate(z, DecodingOptions("sample", temperature=2.5, max_length=25), seed=0)
    assert any(len(set(ngrams(r.ids, 1))) < len(r.ids) for r in loose)  # repeats do happen
    for n in (1, 2, 3):
        for options in ({}, {"strategy": "sample", "temperature": 2.5},
                        {"strategy": "beam", "beam": 3, "n_best": 3}):
            for result in trained_vae.generate(z, DecodingOptions(no_repeat_ngram=n, max_length=25, **options),
                                               seed=0):
                for ids in [result.ids] + [h["ids"] for h in result.extra.get("n_best", [])]:
                    assert len(set(ngrams(ids, n))) == len(ngrams(ids, n)), (n, options, ids)


def test_unk_suppression(trained_vae):
    vae = VAEPipeline(copy.deepcopy(trained_vae.model), trained_vae.tokenizer)
    with torch.no_grad():
        vae.model.decoder.output.bias[UNK_ID] += 6.0  # make <unk> the favourite token
    z = prior_codes(vae, 16)
    for options in ({}, {"strategy": "sample"}, {"strategy": "beam", "beam": 3}):
        assert any(UNK_ID in r.ids for r in vae.generate(z, DecodingOptions(**options), seed=0))
        assert not any(UNK_ID in r.ids for r in vae.generate(z, DecodingOptions(suppress_unk=True, **options),
                                                             seed=0))


def test_max_length(trained_vae):
    z = prior_codes(trained_vae, 32) * 3
    for options in ({}, {"strategy": "sample", "temperature": 2.0}, {"strategy": "beam"}):
        unlimited = trained_vae.generate(z, DecodingOptions(**options), seed=0)
        limited = trained_vae.generate(z, DecodingOptions(max_length=2, **options), seed=0)
        assert max(len(r.ids) for r in unlimited) > 2
        assert max(len(r.ids) for r in limited) <= 2


def test_top_p_keeps_the_smallest_nucleus():
    probs = torch.tensor([[0.15, 0.5, 0.05, 0.3]])
    logits = probs.log()
    kept = lambda p: (_truncate(logits, 0, p) > float("-inf")).nonzero()[:, 1].tolist()  # noqa: E731
    assert kept(0.4) == [1]
    assert kept(0.5) == [1]
    assert kept(0.7) == [1, 3]
    assert kept(0.8) == [1, 3]
    assert kept(0.9) == [0, 1, 3]
    assert kept(1.0) == [0, 1, 2, 3]
    assert (_truncate(logits, 2, 1.0) > float("-inf")).nonzero()[:, 1].tolist() == [1, 3]
    kept_logits = _truncate(logits, 0, 0.7)
    assert torch.equal(kept_logits[0, [1, 3]], logits[0, [1, 3]])  # survivors keep their values


def test_tiny_nucleus_is_greedy(trained_vae):
    z = prior_codes(trained_vae, 32)
    sampled = trained_vae.generate(z, DecodingOptions("sample", top_p=1e-6, temperature=3.0), seed=5)
    assert [r.ids for r in sampled] == [r.ids for r in trained_vae.generate(z)]


def test_sampling_is_reproducible_with_a_seed(trained_vae):
    options = DecodingOptions("sample", top_k=20)
    first = trained_vae.sample(30, options, seed=7)
    again = trained_vae.sample(30, options, seed=7)
    other = trained_vae.sample(30, options, seed=8)
    assert [r.text for r in first] == [r.text for r in again]
    assert [r.z for r in first] == [r.z for r in again]
    assert [r.text for r in first] != [r.text for r in other]


@pytest.mark.parametrize("options", [{"strategy": "beam", "beam": 0}, {"top_p": 0.0}, {"top_p": 1.5},
                                     {"temperature": 0.0}, {"strategy": "nucleus"},
                                     {"strategy": "beam", "beam": 2, "n_best": 3}, {"n_best": 2},
                                     {"max_length": 0}, {"no_repeat_ngram": -1}])
def test_bad_options_are_argument_errors(trained_vae, options):
    with pytest.raises(ArgumentError):
        trained_vae.generate(prior_codes(trained_vae, 2), DecodingOptions(**options))


# --- interpolation -------------------------------------------------------------------------------

def test_slerp_ends_are_exact_and_norm_is_interpolated():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, generator=generator), 3 * torch.randn(16, generator=generator)
    points = path(a, b, 9, "slerp")
    assert torch.equal(points[0], a) and torch.equal(points[-1], b)
    omega = math.acos(float(torch.dot(a, b) / (a.norm() * b.norm())))
    for i, point in enumerate(points):
        t = i / 8
        assert float(point.norm()) == pytest.approx((1 - t) * float(a.norm()) + t * float(b.norm()), rel=1e-5)
        angle = math.acos(min(1.0, float(torch.dot(point, a) / (point.norm() * a.norm()))))
        assert angle == pytest.approx(t * omega, abs=1e-3)  # constant angular speed
    assert torch.isfinite(slerp(a, -a, 0.5)).all()  # opposite ends: no division by zero


def test_interpolation_ends_are_reconstructions_and_steps_are_small(trained_vae):
    sentences = held_out_sentences(10)
    distances = []
    for first, second in zip(sentences[::2], sentences[1::2]):
        for method in ("linear", "slerp"):
            points = trained_vae.interpolate(first, second, steps=8, method=method)
            ends = trained_vae.reconstruct([first, second])
            assert [points[0].text, points[-1].text] == [ends[0].text, ends[1].text]
            assert [p.position for p in points] == pytest.approx([i / 7 for i in range(8)])
            distances += [edit_distance(p.text.split(), q.text.split()) for p, q in zip(points, points[1:])]
    assert sum(distances) / len(distances) <= 1.5  # neighbours differ in few tokens


# --- the commands --------------------------------------------------------------------------------

def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.strip().splitlines()]


def test_sample_command_jsonl(trained_run, trained_vae, capsys):
    assert main(["sample", "-m", str(trained_run), "-n", "3", "--beam", "3", "--n-best", "2",
                 "--format", "jsonl", "--seed", "4"]) == 0
    records = jsonl(capsys.readouterr().out)
    assert len(records) == 3
    for record in records:
        assert record["strategy"] == "beam"
        assert len(record["z"]) == trained_vae.cfg.latent_dim
        assert record["logprob"] < 0 and len(record["extra"]["n_best"]) == 2
    expected = trained_vae.sample(3, DecodingOptions("beam", beam=3, n_best=2), seed=4)
    assert [r["text"] for r in records] == [r.text for r in expected]  # the CLI calls the API


def test_reconstruct_and_interpolate_commands_jsonl(trained_run, capsys, tmp_path):
    first, second = held_out_sentences(2)
    inputs = tmp_path / "inputs.txt"
    inputs.write_text(f"{first}\n{second}\n")
    assert main(["reconstruct", "-m", str(trained_run), "--input", str(inputs), "--format", "jsonl"]) == 0
    captured = capsys.readouterr()
    records = jsonl(captured.out)
    assert [r["source"] for r in records] == [first, second]
    assert all(r["strategy"] == "greedy" and "logprob" in r and "z" in r for r in records)
    summary = json.loads(captured.err)
    assert set(summary) == {"sentences", "bleu", "exact_match"} and summary["sentences"] == 2

    assert main(["interpolate", "-m", str(trained_run), first, second, "--steps", "5",
                 "--format", "jsonl", "--method", "slerp"]) == 0
    records = jsonl(capsys.readouterr().out)
    assert [r["position"] for r in records] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [records[0]["text"], records[-1]["text"]] == [r["text"] for r in jsonl(captured.out)]

    # --rerank implies beam search and re-orders each beam by re-encoding
    assert main(["reconstruct", "-m", str(trained_run), "--input", str(inputs), "--format", "jsonl",
                 "--rerank", "--beam", "3"]) == 0
    reranked = jsonl(capsys.readouterr().out)
    vae = VAEPipeline.from_pretrained(trained_run)
    expected = vae.reconstruct([first, second], DecodingOptions("beam", beam=3, rerank=True))
    assert [r["text"] for r in reranked] == [g.text for g in expected]
    assert all(r["strategy"] == "beam" for r in reranked)


def test_interpolate_unique_and_prior(trained_run, capsys):
    run = str(trained_run)
    assert main(["interpolate", "-m", run, "--prior", "--seed", "3", "--steps", "24"]) == 0
    full = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    assert len(full) == 24
    texts = [text for _, text in full]
    assert any(a == b for a, b in zip(texts, texts[1:]))  # 24 close points repeat themselves
    assert main(["interpolate", "-m", run, "--prior", "--seed", "3", "--steps", "24", "--unique"]) == 0
    unique = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    assert [text for _, text in unique] == [t for i, t in enumerate(texts) if i == 0 or t != texts[i - 1]]
    assert main(["interpolate", "-m", run, "--prior", "--seed", "4", "--steps", "24"]) == 0
    assert capsys.readouterr().out.strip().splitlines() != ["\t".join(p) for p in full]


@pytest.mark.parametrize("argv", [["sample", "--beam", "0"], ["sample", "--top-p", "1.5"],
                                  ["sample", "--temperature", "0"], ["sample", "-n", "0"],
                                  ["sample", "--strategy", "greedy", "--alpha", "1"],
                                  ["sample", "--beam", "2", "--n-best", "3"],
                                  ["reconstruct", "--strategy", "greedy", "--rerank", "--input", "x"],
                                  ["interpolate", "--prior", "--steps", "1"]])
def test_out_of_range_arguments_exit_2_with_one_line(trained_run, capsys, argv):
    assert main([argv[0], "-m", str(trained_run), *argv[1:]]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and "error" in captured.err


def test_sample_command_in_a_subprocess(trained_run):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "sentvae", "sample", "-m", str(trained_run), "-n", "4",
                           "--strategy", "sample", "--top-p", "0.9", "--seed", "1", "--format", "jsonl"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    records = jsonl(done.stdout)
    assert len(records) == 4 and all(r["strategy"] == "sample" for r in records)
    assert all(r["text"] == " ".join(r["text"].split()) and r["ids"][-1:] != [EOS_ID] for r in records)
