"""Training and decoding throughput of sentvae against a padded reference, in one run.

    python benchmarks/throughput.py --data ../shared/data/ptb          # PTB (or the built-in corpus)
    python benchmarks/throughput.py --quick                            # a smoke run (tests use it)

What it measures, on the same sentences and the same model sizes:
- training tokens/s (targets: words + <eos>) of a *reference* that does what common sentence-VAE
  code does — pad every batch to 60 tokens, run the GRUs over the padding, project every position
  to the vocabulary — and of sentvae with its levers switched on one at a time: packed GRUs +
  real-position projection, then length bucketing, then AdamW's fused kernel (the same update in
  one pass per tensor; the reference keeps the default per-parameter loop, as common code does),
  then bf16 autocast (not exact: coarser arithmetic; training turns it on only where the CPU or GPU
  has bf16 instructions); and two levers that change more than the schedule of the same
  computation, reported apart: 4x larger batches, and an adaptive softmax (a different output
  layer), alone and with bf16. The accuracy of the inexact levers is measured by training
  (benchmarks/levers.py), not here;
- the model's FLOPs per target token (encoder, decoder, output projection; forward + backward) and
  the machine's matrix-multiply rate measured by a timed GEMM in the same run, hence the fraction of
  that limit that training reaches;
- decoding sentences/s (greedy, sampling, beam 5) at batch 64 and encoding sentences/s.
Writes benchmarks/results/throughput.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sentvae.config import ModelConfig, TrainConfig, default_adaptive_cutoffs
from sentvae.data import bucketed_batches, collate
from sentvae.decoding import DecodingOptions
from sentvae.model import SentenceVAE
from sentvae.objective import gaussian_kl
from sentvae.pipeline import VAEPipeline
from sentvae.step import build_optimizer, native_bf16, step_noise, train_step
from sentvae.tokenizer import PAD_ID, TextTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import hardware  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ANCHOR = dict(embed_dim=300, encoder_hidden_dim=256, decoder_hidden_dim=256, latent_dim=16,
              bidirectional=False)  # timbmg/Sentence-VAE's defaults (its encoder is unidirectional)
REFERENCE_LENGTH = 60
LARGE_BATCH_FACTOR = 4  # the batch-size lever: 4x the anchor batch of 32
LARGE_BATCH_KEY = "sentvae_packed_bucketed_batch_x4"
ADAPTIVE_KEY = "sentvae_packed_bucketed_adaptive"
FUSED_KEY = "sentvae_packed_bucketed_fused_adamw"
BF16_KEY = "sentvae_packed_bucketed_bf16"
ALL_LEVERS_KEY = "sentvae_packed_bucketed_adaptive_bf16"  # every lever but the larger batch
ANCHOR_KEY = "reference_anchor"  # timbmg/Sentence-VAE's computation: what the speed-ups divide by
EXACT_KEYS = ("sentvae_packed", "sentvae_packed_bucketed", FUSED_KEY)  # same computation, other schedule


def adaptive_cutoffs(vocab: int) -> list[int]:
    """The adaptive-softmax lever's clusters, those `model.output_layer: adaptive` (or "auto" on
    a large word vocabulary) builds: ids < 2,000 in the head, 2,000-6,000, then the rest."""
    return default_adaptive_cutoffs(vocab)


class AnchorReference(nn.Module):
    """What timbmg/Sentence-VAE's model does per batch (rewritten here from its description, not
    copied): sort the batch by length, pack the GRU inputs, pad the decoder outputs back to the
    batch's longest sentence, project every padded position to the vocabulary, log-softmax, NLL with
    padding ignored; z only in the decoder's initial state; Adam. The faithful reference."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        directions = 2 if cfg.bidirectional else 1
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim)  # shared by both GRUs
        self.encoder = nn.GRU(cfg.embed_dim, cfg.encoder_hidden_dim, bidirectional=cfg.bidirectional,
                              batch_first=True)
        self.to_mean = nn.Linear(directions * cfg.encoder_hidden_dim, cfg.latent_dim)
        self.to_logvar = nn.Linear(directions * cfg.encoder_hidden_dim, cfg.latent_dim)
        self.latent_to_hidden = nn.Linear(cfg.latent_dim, cfg.decoder_hidden_dim)
        self.decoder = nn.GRU(cfg.embed_dim, cfg.decoder_hidden_dim, batch_first=True)
        self.output = nn.Linear(cfg.decoder_hidden_dim, cfg.vocab_size)

    def loss(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """tokens (B, T+2) padded to the batch's longest (data.collate), lengths (B,) targets."""
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        lengths, order = torch.sort(lengths, descending=True)
        tokens = tokens[order]
        inputs, targets = tokens[:, :-1], tokens[:, 1:]  # (B, T+1)
        embedded = self.embedding(inputs)
        _, final = self.encoder(pack_padded_sequence(embedded, lengths, batch_first=True))
        summary = final.transpose(0, 1).reshape(tokens.size(0), -1)
        mu, logvar = self.to_mean(summary), self.to_logvar(summary)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        h0 = self.latent_to_hidden(z).unsqueeze(0)
        packed, _ = self.decoder(pack_padded_sequence(embedded, lengths, batch_first=True), h0)
        outputs, _ = pad_packed_sequence(packed, batch_first=True)  # (B, longest, H)
        log_probs = F.log_softmax(self.output(outputs), dim=-1)  # every padded position projected
        longest = outputs.size(1)
        nll = F.nll_loss(log_probs.reshape(-1, log_probs.size(-1)), targets[:, :longest].reshape(-1),
                         ignore_index=PAD_ID, reduction="sum")
        return (nll + gaussian_kl(mu, logvar).sum()) / tokens.size(0)


class PaddedReference(nn.Module):
    """Padding every batch to 60 tokens, GRUs over the padding, every position projected: slower
    still than the anchor (a second, labelled reference row)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        directions = 2 if cfg.bidirectional else 1
        self.encoder_embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        self.encoder = nn.GRU(cfg.embed_dim, cfg.encoder_hidden_dim, bidirectional=cfg.bidirectional,
                              batch_first=True)
        self.to_gaussian = nn.Linear(directions * cfg.encoder_hidden_dim, 2 * cfg.latent_dim)
        self.decoder_embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        self.latent_to_hidden = nn.Linear(cfg.latent_dim, cfg.decoder_hidden_dim)
        self.decoder = nn.GRU(cfg.embed_dim + cfg.latent_dim, cfg.decoder_hidden_dim, batch_first=True)
        self.output = nn.Linear(cfg.decoder_hidden_dim, cfg.vocab_size)

    def loss(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, 62) padded to the fixed length: <bos> w <eos> <pad>..."""
        inputs, targets = tokens[:, :-1], tokens[:, 1:]  # (B, 61)
        _, final = self.encoder(self.encoder_embedding(targets))  # runs over the padding
        mu, logvar = self.to_gaussian(final.transpose(0, 1).reshape(tokens.size(0), -1)).chunk(2, -1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        h0 = torch.tanh(self.latent_to_hidden(z)).unsqueeze(0)
        embedded = torch.cat([self.decoder_embedding(inputs),
                              z.unsqueeze(1).expand(-1, inputs.size(1), -1)], dim=-1)
        outputs, _ = self.decoder(embedded, h0)
        logits = self.output(outputs)  # (B, 61, V): every position, padding included
        nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                              ignore_index=PAD_ID, reduction="sum") / tokens.size(0)
        return nll + gaussian_kl(mu, logvar).sum(1).mean()


def ratio(value: float | None, reference: float) -> float | None:
    """value / reference, or None for a variant not measured (bf16 where it is not native)."""
    return None if value is None else value / reference


def pad_to(batch_ids: list[list[int]], length: int) -> torch.Tensor:
    tokens, _ = collate([ids[:length] for ids in batch_ids])
    return F.pad(tokens, (0, length + 2 - tokens.size(1)), value=PAD_ID)


def flops_per_token(cfg: ModelConfig, vocab: int) -> dict:
    """Multiply-adds x 2 per target token, forward; training is 3x (forward + backward)."""
    directions = 2 if cfg.bidirectional else 1
    gru = lambda inp, hid: 2 * 3 * (inp * hid + hid * hid)  # noqa: E731  three gates
    decoder_in = cfg.embed_dim + (cfg.latent_dim if cfg.latent_every_step else 0)
    forward = {"encoder": directions * gru(cfg.embed_dim, cfg.encoder_hidden_dim),
               "decoder": gru(decoder_in, cfg.decoder_hidden_dim),
               "output_projection": 2 * cfg.decoder_hidden_dim * vocab}
    return {"forward": forward, "training_per_token": 3 * sum(forward.values())}


def gemm_rate(seconds: float = 3.0) -> float:
    """FLOP/s of a float32 matrix multiply shaped like the output projection."""
    a, b = torch.randn(2048, 512), torch.randn(512, 8192)
    for _ in range(3):
        a @ b
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        runs += 1
    return 2 * 2048 * 512 * 8192 * runs / (time.perf_counter() - start)


def time_training(step, batches, warmup: int = 3) -> tuple[float, int]:
    """Run `step` over batches (after `warmup` untimed ones); return (seconds, target tokens)."""
    for batch in batches[:warmup]:
        step(batch)
    tokens, start = 0, time.perf_counter()
    for batch in batches[warmup:]:
        tokens += step(batch)
    return time.perf_counter() - start, tokens


def training_throughputs(cfg: ModelConfig, ids: list[list[int]], batch_size: int, steps: int,
                         seed: int) -> dict:
    """tokens/s of the reference and of sentvae with each lever, all on the same sentences."""
    lengths = np.array([len(x) for x in ids])
    count = batch_size * (steps + 3)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(ids), size=min(count, len(ids)), replace=False)
    random_batches = [chosen[i: i + batch_size] for i in range(0, len(chosen), batch_size)]
    bucketed = [chosen[b] for b in bucketed_batches(lengths[chosen], batch_size, seed, 0, bucket_size=100)]
    # The same sentences in 4x larger bucketed batches (tokens/s only: the effect of a larger batch
    # and a scaled learning rate on validation NLL is not measured here).
    bucketed_large = [chosen[b] for b in bucketed_batches(lengths[chosen], LARGE_BATCH_FACTOR * batch_size,
                                                          seed, 0, bucket_size=100)]

    defaults = TrainConfig()

    def sentvae_step(model, optimizer, bf16=False):
        """The library's own training step (sentvae.step.train_step, what `train()` runs): the
        per-step noise, word dropout, loss, gradient clipping and optimizer update included."""
        steps = itertools.count()

        def step(indices):
            tokens, lens = collate([ids[i] for i in indices])
            noise = step_noise(seed, next(steps), len(indices), model.cfg.latent_dim, int(lens.max()) + 1)
            result = train_step(model, optimizer, tokens, lens, noise, beta=defaults.beta,
                                lr=defaults.lr, free_bits=defaults.free_bits,
                                grad_clip=defaults.grad_clip, bf16=bf16)
            return result.tokens
        return step

    def reference_step(model, optimizer):
        def step(indices):
            batch = [ids[i][:REFERENCE_LENGTH] for i in indices]
            loss = model.loss(pad_to(batch, REFERENCE_LENGTH))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return sum(len(x) + 1 for x in batch)
        return step

    def anchor_step(model, optimizer):
        def step(indices):
            tokens, lens = collate([ids[i] for i in indices])
            loss = model.loss(tokens, lens)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return int(lens.sum())
        return step

    results = {}
    torch.manual_seed(seed)
    anchor = AnchorReference(cfg).train()
    seconds, tokens = time_training(anchor_step(anchor, torch.optim.Adam(anchor.parameters(), lr=1e-3)),
                                    random_batches)
    results[ANCHOR_KEY] = tokens / seconds
    torch.manual_seed(seed)
    reference = PaddedReference(cfg).train()
    seconds, tokens = time_training(reference_step(reference, torch.optim.AdamW(reference.parameters())),
                                    random_batches)
    results["reference_padded_60"] = tokens / seconds
    adaptive = dataclasses.replace(cfg, tie_embeddings=False,
                                   adaptive_softmax_cutoffs=adaptive_cutoffs(cfg.vocab_size))
    # (name, model config, batches, bf16, fused AdamW, untimed warm-up batches): each exact lever on
    # top of the previous ones; bf16, the larger batch and the adaptive softmax on top of all exact
    # ones. The large batches are 4x fewer, so one warm-up.
    bf16_native = native_bf16(torch.device("cpu"))
    for name, variant, batches, bf16, fused, warmup in (
            ("sentvae_packed", cfg, random_batches, False, False, 3),
            ("sentvae_packed_bucketed", cfg, bucketed, False, False, 3),
            (FUSED_KEY, cfg, bucketed, False, True, 3),
            (BF16_KEY, cfg, bucketed, True, True, 3),
            (LARGE_BATCH_KEY, cfg, bucketed_large, False, True, 1),
            (ADAPTIVE_KEY, adaptive, bucketed, False, True, 3),
            (ALL_LEVERS_KEY, adaptive, bucketed, True, True, 3)):
        if bf16 and not bf16_native:  # emulated bf16 is slower than float32: training leaves it off
            results[name] = None
            continue
        torch.manual_seed(seed)
        model = SentenceVAE(variant).train()
        optimizer = (build_optimizer(model) if fused  # the same update, weight decay 0 in both
                     else torch.optim.AdamW(model.parameters(), weight_decay=0.0))
        seconds, tokens = time_training(sentvae_step(model, optimizer, bf16), batches, warmup=warmup)
        results[name] = tokens / seconds
    return results


def train_loop_throughput(texts: list[str], size: dict, steps: int, work_dir: Path) -> dict:
    """The tokens/s that `sentvae train` itself reports (summary.json's train_tokens_per_s: every
    optimisation step of the run, data iterator and logging included) with the shipped defaults at
    this model size, batch 32, on the benchmark's sentences."""
    from sentvae.config import load_config
    from sentvae.train import train

    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "train.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    (work_dir / "valid.txt").write_text("\n".join(texts[:200]) + "\n", encoding="utf-8")
    overrides = [f"model.{key}={value}" for key, value in size.items()
                 if key in ("embed_dim", "encoder_hidden_dim", "decoder_hidden_dim", "latent_dim",
                            "bidirectional", "tie_embeddings")]
    overrides += [f"train.train_file={work_dir / 'train.txt'}", f"train.valid_file={work_dir / 'valid.txt'}",
                  f"train.out_dir={work_dir / 'run'}", "train.batch_size=32", "model.max_length=60",
                  f"train.max_steps={steps}", f"train.eval_every={steps}", "train.vocab_size=10004",
                  f"train.threads={torch.get_num_threads()}", "train.fit_prior=false"]
    model_cfg, train_cfg = load_config(None, overrides)
    summary = train(model_cfg, train_cfg, progress=False, echo=lambda *a, **k: None)
    return {"tokens_per_s": summary["train_tokens_per_s"], "steps": summary["steps"],
            "bf16": summary["bf16"], "overrides": overrides}


def decoding_throughputs(cfg: ModelConfig, tokenizer, texts: list[str], batch: int = 64,
                         repeats: int = 3) -> dict:
    """Sentences/s of decoding (greedy, sampling, beam 5) and of encoding, batch 64, median;
    for greedy decoding and sampling also the tokens decoded per second (words and <eos>: the
    rows the decoder and the vocabulary projection ran for)."""
    torch.manual_seed(0)
    vae = VAEPipeline(SentenceVAE(cfg).eval(), tokenizer)
    z = torch.randn(batch, cfg.latent_dim)
    results = {}
    for name, options, seed in (("greedy", DecodingOptions("greedy", max_length=30), None),
                                ("sample", DecodingOptions("sample", max_length=30), 0),
                                ("beam5", DecodingOptions("beam", beam=5, max_length=30), None)):
        vae.generate(z[:2], options, seed=seed)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            generations = vae.generate(z, options, seed=seed)
            times.append(time.perf_counter() - start)
        results[name] = batch / statistics.median(times)
        if name != "beam5":  # a sentence without <eos> runs max_length + 1 steps
            tokens = sum(min(len(g.ids) + 1, options.max_length + 1) for g in generations)
            results[f"{name}_tokens_per_s"] = tokens / statistics.median(times)
    sample = texts[:batch]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        vae.encode(sample)
        times.append(time.perf_counter() - start)
    results["encode"] = batch / statistics.median(times)
    return results


def decoding_flop_fraction(decoding: dict, flops: dict, gemm_flops_per_s: float) -> dict:
    """Greedy decoding and sampling as a fraction of their FLOP bound: tokens/s x the forward
    FLOPs of one decoded token (decoder GRU step + vocabulary projection) / the GEMM rate."""
    per_token = flops["forward"]["decoder"] + flops["forward"]["output_projection"]
    return {name: decoding[f"{name}_tokens_per_s"] * per_token / gemm_flops_per_s
            for name in ("greedy", "sample") if f"{name}_tokens_per_s" in decoding}


def load_corpus(data: str | None, limit: int) -> tuple[list[str], str]:
    if data and (Path(data) / "ptb.train.txt").exists():
        lines = (Path(data) / "ptb.train.txt").read_text().splitlines()
        return [l.strip() for l in lines if l.strip()][:limit], "ptb"
    from sentvae.corpus import generate

    return [s.text for s in generate(limit, seed=0)], "builtin"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="folder with ptb.train.txt (default: the built-in corpus)")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps per variant")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--out", default=str(RESULTS / "throughput.json"), help="JSON output")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    texts, corpus = load_corpus(args.data, 20000 if not args.quick else 2000)
    tokenizer = TextTokenizer.train(texts, kind="word", vocab_size=10004)
    ids = [x for x in tokenizer.encode_batch(texts) if 0 < len(x) <= 100]
    sizes = {"anchor": dict(ANCHOR, word_dropout=0.0, output_dropout=0.0, embed_dropout=0.0),
             "ptb_config": None}
    if args.quick:
        sizes = {"anchor": dict(embed_dim=32, encoder_hidden_dim=32, decoder_hidden_dim=32, latent_dim=8)}
        args.steps = min(args.steps, 4)
    else:
        from sentvae.config import load_config

        ptb_model, _ = load_config(Path(__file__).resolve().parent.parent / "configs" / "ptb.yaml")
        sizes["ptb_config"] = {k: getattr(ptb_model, k) for k in
                               ("embed_dim", "encoder_hidden_dim", "decoder_hidden_dim", "latent_dim",
                                "bidirectional", "tie_embeddings", "word_dropout", "output_dropout",
                                "embed_dropout")}

    report = {"corpus": corpus, "sentences": len(ids), "vocab_size": tokenizer.vocab_size,
              "batch_size": 32, "timed_steps": args.steps, "hardware": hardware(),
              "bf16_native": native_bf16(torch.device("cpu")),
              "command": "python benchmarks/throughput.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    first_rate = gemm_rate(1.0 if args.quick else 3.0)
    for name, size in sizes.items():
        cfg = ModelConfig(vocab_size=tokenizer.vocab_size, **size)
        train = training_throughputs(cfg, ids, batch_size=32, steps=args.steps, seed=0)
        with tempfile.TemporaryDirectory() as scratch:
            loop = train_loop_throughput(texts, size, args.steps + 3, Path(scratch))
        flops = flops_per_token(cfg, tokenizer.vocab_size)
        best = max(train[k] for k in EXACT_KEYS)
        report[name] = {
            "model": size, "train_tokens_per_s": train, "flops": flops,
            "sentvae_train_loop": loop,
            "speedup_train_loop_vs_reference": loop["tokens_per_s"] / train[ANCHOR_KEY],
            "speedup_vs_reference": best / train[ANCHOR_KEY],
            "speedup_vs_padded_60": best / train["reference_padded_60"],
            "anchor_vs_padded_60": train[ANCHOR_KEY] / train["reference_padded_60"],
            "speedup_large_batch_vs_reference": train[LARGE_BATCH_KEY] / train[ANCHOR_KEY],
            "adaptive_softmax_cutoffs": adaptive_cutoffs(cfg.vocab_size),
            "speedup_adaptive_vs_reference": train[ADAPTIVE_KEY] / train[ANCHOR_KEY],
            "speedup_bf16_vs_reference": ratio(train[BF16_KEY], train[ANCHOR_KEY]),
            "speedup_all_levers_vs_reference": ratio(train[ALL_LEVERS_KEY], train[ANCHOR_KEY]),
            "training_flops_per_s": best * flops["training_per_token"],
            "decode_sentences_per_s": decoding_throughputs(cfg, tokenizer, texts),
        }
    # The machine's limit: the faster of two timed GEMMs, one before and one after the training
    # measurements (a busy machine lowers both; the fraction is only meaningful when it is idle).
    second_rate = gemm_rate(1.0 if args.quick else 3.0)
    rate = max(first_rate, second_rate)
    report["gemm_flops_per_s"] = rate
    report["gemm_flops_per_s_measurements"] = [first_rate, second_rate]
    report["load_average_1min"] = os.getloadavg()[0]
    for name in sizes:
        report[name]["fraction_of_gemm_rate"] = report[name]["training_flops_per_s"] / rate
        report[name]["decode_fraction_of_flop_bound"] = decoding_flop_fraction(
            report[name]["decode_sentences_per_s"], report[name]["flops"], rate)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    return 0


def markdown(report: dict) -> str:
    hw = report["hardware"]
    lines = [f"Corpus: {report['corpus']} ({report['sentences']:,} sentences, vocabulary "
             f"{report['vocab_size']:,}), batch 32, {report['timed_steps']} timed steps per variant; "
             f"{hw['cpu']} ({hw.get('instruction_set', 'unknown')}), {hw['torch_threads']} torch threads, "
             f"torch {hw['torch']}; bf16 variants "
             f"{'measured (bf16 instructions present)' if report.get('bf16_native') else 'not run: no bf16 instructions on this CPU, where training leaves bf16 off'}; "
             f"GEMM rate {report['gemm_flops_per_s'] / 1e9:.0f} GFLOP/s (best of two timed GEMMs); "
             f"1-minute load average {report['load_average_1min']:.1f} at the end.", "",
             f"| size | anchor reference tok/s | pad-60 reference | packed | + bucketing | + fused AdamW | + bf16 | exact speed-up | % of GEMM rate | "
             f"exact levers, batch {LARGE_BATCH_FACTOR * report['batch_size']} | its speed-up | "
             "exact levers, adaptive softmax | its speed-up | + bf16 | its speed-up | "
             "`sentvae train` (defaults) tok/s | its speed-up | "
             "greedy sent/s | its % of FLOP bound | sample sent/s | beam 5 sent/s | encode sent/s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    fmt = lambda v: f"{v:,.0f}" if isinstance(v, (int, float)) else "n/a"  # noqa: E731
    times = lambda v: f"{v:.1f}x" if isinstance(v, (int, float)) else "n/a"  # noqa: E731
    percent = lambda v: f"{100 * v:.0f}%" if isinstance(v, (int, float)) else "n/a"  # noqa: E731
    for name in ("anchor", "ptb_config"):
        if name not in report:
            continue
        r = report[name]
        t, d = r["train_tokens_per_s"], r["decode_sentences_per_s"]
        lines.append(f"| {name} | {fmt(t[ANCHOR_KEY])} | {fmt(t['reference_padded_60'])} | {fmt(t['sentvae_packed'])} | "
                     f"{fmt(t['sentvae_packed_bucketed'])} | {fmt(t[FUSED_KEY])} | "
                     f"{fmt(t[BF16_KEY])} | "
                     f"{r['speedup_vs_reference']:.1f}x | {100 * r['fraction_of_gemm_rate']:.0f}% | "
                     f"{fmt(t[LARGE_BATCH_KEY])} | {r['speedup_large_batch_vs_reference']:.1f}x | "
                     f"{fmt(t[ADAPTIVE_KEY])} | {r['speedup_adaptive_vs_reference']:.1f}x | "
                     f"{fmt(t[ALL_LEVERS_KEY])} | {times(r['speedup_all_levers_vs_reference'])} | "
                     f"{fmt(r['sentvae_train_loop']['tokens_per_s'])} | {r['speedup_train_loop_vs_reference']:.1f}x | "
                     f"{fmt(d.get('greedy'))} | {percent(r.get('decode_fraction_of_flop_bound', {}).get('greedy'))} | "
                     f"{fmt(d.get('sample'))} | {fmt(d.get('beam5'))} | {fmt(d.get('encode'))} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
