"""Decoding latent codes into sentences, batched over codes.

Strategies:

    greedy   the most likely next token at every step
    sample   ancestral sampling, with temperature and top-k / top-p (nucleus) truncation
    beam     beam search of width `beam`, length normalisation `alpha`, `n_best` outputs

Every strategy decodes a whole batch of codes at once (beam search flattens B codes x W beams
into B*W decoder rows, row b*W + k being beam k of code b), stops as soon as every sequence has
ended, and is reproducible with `seed`. Options for all strategies: `max_length` (words; after
that <eos> is forced), `suppress_unk` (never choose <unk>) and `no_repeat_ngram` (n > 0: never
produce the same n-gram of words twice in one sentence).

Scores. `Generation.logprob` is always log p(words, <eos> | z) under the decoder's unmodified
distribution: temperature, truncation, <unk> suppression and n-gram blocking change which tokens
may be chosen, never the score. Beam search ranks hypotheses by the GNMT-normalised score
(Wu et al. 2016)

    score = logprob / lp(len),    lp(len) = ((5 + len) / 6) ** alpha

with len = words + 1 (the <eos>). alpha = 0, the default, ranks by the log-probability itself;
alpha > 0 favours longer sentences. With width 1 beam search is exactly greedy decoding.

Re-ranking by re-encoding (`rerank`, beam search of a VAE's codes). The most likely sentence
under p(x | z) is not always the sentence whose code is z: a frequent template can outscore the
sentence a reconstruction should give back. With `rerank` every hypothesis left in a code's beam
(all W of them) is encoded again, and the beam is re-ordered by

    score = log p(x | z) + log q(z | x)

the second term being the density that the hypothesis's own posterior puts on the code it was
decoded from: among sentences the decoder finds likely, the one that encodes back to z wins.

Fusion with a language model (`decode(..., lm=LM, lm_weight=w)`, w > 0): every step chooses from
the renormalised geometric mixture of the two next-token distributions,

    log p_fused(w | ...) = (1 - lm_weight) log p(w | prefix, z) + lm_weight log p_LM(w | prefix) + const

("shallow fusion", Gulcehre et al. 2015). The language model, trained on the same text, knows
what a sentence of the corpus may be at every position; a code that lies between the codes of
real sentences leaves the decoder unsure, and the language model settles those steps toward a
sentence. `Generation.logprob` stays the decoder's own log p(x | z); beam search ranks by the
fused log-probability; re-ranking by re-encoding uses the decoder's. (`VAEPipeline.fuse_with`
fuses a language model into the decoding of codes that are no given sentence's: prior samples
and the points inside an interpolation; the codes of given sentences are decoded by the VAE alone.)

Output. One `Generation` per code, whatever the strategy. A beam result carries its ranking score
in `extra["score"]`; with n_best > 1 `extra["n_best"]` lists the best n hypotheses of its beam,
best first (the record's own sentence included), as {"text", "ids", "logprob", "score"}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from .data import collate
from .errors import ArgumentError
from .objective import diagonal_gaussian_log_density
from .tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID

STRATEGIES = ("greedy", "sample", "beam")
DEFAULT_LM_WEIGHT = 0.5  # a fused language model's weight, chosen on the built-in validation split (README)
NEG_INF = float("-inf")


@dataclass
class Generation:
    """One decoded sentence."""

    text: str
    ids: list[int]  # word ids, without <bos>/<eos>
    logprob: float  # log p(ids, <eos> | z) under the decoder, in nats
    strategy: str
    z: list[float] | None = None  # the latent code it was decoded from
    position: float | None = None  # interpolation: 0 = first sentence, 1 = second
    source: str | None = None  # reconstruction: the input sentence
    extra: dict = field(default_factory=dict)  # beam search: "score", "n_best"


@dataclass(frozen=True)
class DecodingOptions:
    """A validated decoding strategy; building one raises `ArgumentError` on a bad value.

    `max_length` None means "the model's own max_length" (filled in by `decode`).
    """

    strategy: str = "greedy"
    temperature: float = 1.0  # sample: divide the logits by T
    top_k: int = 0  # sample: keep the k most likely tokens (0: all)
    top_p: float = 1.0  # sample: keep the smallest set with mass >= p (1: all)
    beam: int = 5  # beam: width W
    alpha: float = 0.0  # beam: length normalisation exponent (0: raw log-probability)
    n_best: int = 1  # beam: hypotheses reported per code
    no_repeat_ngram: int = 0  # all: block repeated n-grams of this size (0: off)
    max_length: int | None = None  # all: longest output in words
    suppress_unk: bool = False  # all: never choose <unk>
    rerank: bool = False  # beam: re-order the beam by log p(x | z) + log q(z | x) (module docstring)

    def __post_init__(self):
        _require(self.strategy in STRATEGIES,
                 f"unknown strategy {self.strategy!r} (expected one of {', '.join(STRATEGIES)})")
        _require(self.temperature > 0 and math.isfinite(self.temperature),
                 f"temperature must be > 0, got {self.temperature}")
        _require(0.0 < self.top_p <= 1.0, f"top-p must be in (0, 1], got {self.top_p}")
        _require(self.top_k >= 0, f"top-k must be >= 0, got {self.top_k}")
        _require(self.beam >= 1, f"beam width must be >= 1, got {self.beam}")
        _require(self.alpha >= 0, f"alpha must be >= 0, got {self.alpha}")
        _require(1 <= self.n_best <= self.beam,
                 f"n-best must be between 1 and the beam width {self.beam}, got {self.n_best}")
        _require(self.n_best == 1 or self.strategy == "beam", "n-best > 1 needs the beam strategy")
        _require(not self.rerank or self.strategy == "beam", "re-ranking needs the beam strategy")
        _require(self.no_repeat_ngram >= 0, f"no-repeat-ngram must be >= 0, got {self.no_repeat_ngram}")
        _require(self.max_length is None or self.max_length >= 1,
                 f"max length must be >= 1, got {self.max_length}")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ArgumentError(message)


# --- what a step may choose ----------------------------------------------------------------------

def _repeated_ngram_tokens(prefix: torch.Tensor, n: int, vocab_size: int) -> torch.Tensor:
    """Tokens that would repeat an n-gram of the prefix: prefix (R, t) -> banned (R, V) bool.

    A token is banned when the last n-1 tokens followed by it already occur in the prefix.
    <eos> is never banned, so a sentence can always end.
    """
    rows, length = prefix.shape
    banned = torch.zeros(rows, vocab_size, dtype=torch.bool, device=prefix.device)
    if length < n:
        return banned
    windows = prefix.unfold(1, n, 1)  # (R, t-n+1, n): every n-gram of the prefix
    if n > 1:
        context = prefix[:, length - n + 1:]  # (R, n-1): the last n-1 tokens
        match = (windows[:, :, :-1] == context.unsqueeze(1)).all(-1)  # (R, t-n+1)
    else:
        match = torch.ones(windows.shape[:2], dtype=torch.bool, device=prefix.device)
    hits = torch.zeros(rows, vocab_size, device=prefix.device)
    hits.scatter_add_(1, windows[:, :, -1], match.float())  # duplicates add up instead of racing
    banned = hits > 0
    banned[:, EOS_ID] = False
    return banned


def _allowed(log_probs: torch.Tensor, prefix: torch.Tensor, opts: DecodingOptions) -> torch.Tensor:
    """The log-probabilities a strategy may choose from, forbidden tokens at -inf.

    log_probs (R, V) of the next token, prefix (R, t) the tokens generated so far -> (R, V).
    """
    allowed = log_probs.clone()
    allowed[:, [PAD_ID, BOS_ID]] = NEG_INF
    if opts.suppress_unk:
        allowed[:, UNK_ID] = NEG_INF
    if opts.no_repeat_ngram:
        allowed.masked_fill_(_repeated_ngram_tokens(prefix, opts.no_repeat_ngram, allowed.size(1)),
                             NEG_INF)
    if prefix.size(1) >= opts.max_length:  # max_length words so far: only <eos> is left
        eos = allowed[:, EOS_ID].clone()
        allowed.fill_(NEG_INF)
        allowed[:, EOS_ID] = eos
    return allowed


def _truncate(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Keep the top-k tokens, then the smallest nucleus with mass >= top_p; logits (R, V).

    Removed tokens get -inf. The most likely token always survives. Ties at the k-th value
    are all kept.
    """
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[:, -1:]  # (R, 1)
        logits = logits.masked_fill(logits < kth, NEG_INF)
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (R, V) each
        probs = sorted_logits.softmax(-1)
        mass_before = probs.cumsum(-1) - probs  # mass of the more likely tokens
        sorted_logits = sorted_logits.masked_fill(mass_before >= top_p, NEG_INF)
        logits = torch.full_like(logits, NEG_INF).scatter(-1, order, sorted_logits)
    return logits


def _draw(allowed: torch.Tensor, opts: DecodingOptions, generator: torch.Generator | None) -> torch.Tensor:
    """One sampled token per row: allowed log-probabilities (R, V) -> tokens (R,)."""
    # Shifted so the most likely token has 0 before dividing: any temperature > 0 stays finite
    # (1e-40 is greedy, 1e300 uniform over the allowed tokens) instead of overflowing to inf / NaN.
    shifted = allowed - allowed.max(dim=-1, keepdim=True).values
    scaled = torch.where(torch.isfinite(allowed), shifted / opts.temperature, NEG_INF)  # -inf/inf is NaN
    probs = _truncate(scaled, opts.top_k, opts.top_p).softmax(-1)  # (R, V)
    return torch.multinomial(probs.cpu(), 1, generator=generator)[:, 0].to(allowed.device)


def _words(row: list[int]) -> list[int]:
    """Generated tokens up to (without) the first <eos> or <pad>."""
    words = []
    for token in row:
        if token in (EOS_ID, PAD_ID):
            break
        words.append(token)
    return words


# --- fusion with a language model ---------------------------------------------------------------

class _Fusion:
    """A language model decoding in step with the VAE's decoder, one row per decoder row.

    `mix` feeds it the tokens the decoder was fed and returns the fused next-token distribution;
    `keep` follows the decoder's rows when they leave the batch (greedy, sampling) or are
    re-ordered (beam search).
    """

    def __init__(self, lm, rows: int, weight: float):
        self.lm, self.weight = lm, weight
        self.hidden = lm.decoder.initial_hidden(None, rows)  # (layers, R, H_lm)

    def mix(self, log_probs: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Decoder log-probabilities (R, V) and the tokens just fed (R,) -> fused log-probs (R, V)."""
        scores, self.hidden = self.lm.decoder.step(tokens, self.hidden, None)
        lm_log_probs = F.log_softmax(scores.float(), dim=-1)  # (R, V)
        return F.log_softmax((1.0 - self.weight) * log_probs + self.weight * lm_log_probs, dim=-1)

    def keep(self, rows: torch.Tensor) -> None:
        """Keep (and order) the language model's rows as the decoder's: rows (R',) indices or mask."""
        self.hidden = self.hidden[:, rows]


def _fusion(lm, rows: int, weight: float) -> _Fusion | None:
    return _Fusion(lm, rows, weight) if lm is not None else None


# --- greedy and sampling ------------------------------------------------------------------------

@torch.no_grad()
def _decode_stepwise(model, z: torch.Tensor | None, batch: int, opts: DecodingOptions,
                     generator: torch.Generator | None, lm=None,
                     lm_weight: float = 0.0) -> tuple[list[list[int]], list[float]]:
    """Greedy decoding or sampling of `batch` rows -> word ids per row, log-probability per row.

    A row that has produced <eos> leaves the batch: every step runs the decoder (and the
    vocabulary projection, its largest cost) only for the A rows still decoding, so a batch costs
    the sum of its sentences' lengths rather than batch x the longest one.
    """
    decoder, device = model.decoder, model.device
    hidden = decoder.initial_hidden(z, batch)  # (layers, A, H), A = rows still decoding
    live = torch.arange(batch, device=device)  # (A,) their row numbers
    codes = z  # (A, Z) their codes
    tokens = torch.full((batch,), BOS_ID, dtype=torch.long, device=device)  # (A,)
    generated = torch.full((batch, opts.max_length + 1), PAD_ID, dtype=torch.long, device=device)
    logprob = torch.zeros(batch, device=device)
    fusion = _fusion(lm, batch, lm_weight)
    for t in range(opts.max_length + 1):
        scores, hidden = decoder.step(tokens, hidden, codes)  # logits, or log-probs (adaptive softmax)
        log_probs = F.log_softmax(scores.float(), dim=-1)  # (A, V)
        choices = log_probs if fusion is None else fusion.mix(log_probs, tokens)  # (A, V)
        allowed = _allowed(choices, generated[live, :t], opts)
        next_tokens = allowed.argmax(-1) if opts.strategy == "greedy" else _draw(allowed, opts, generator)
        logprob[live] += log_probs.gather(1, next_tokens.unsqueeze(1))[:, 0]
        generated[live, t] = next_tokens
        going = next_tokens != EOS_ID  # (A,)
        if not bool(going.all()):
            if not bool(going.any()):
                break
            live, tokens, hidden = live[going], next_tokens[going], hidden[:, going]
            codes = None if codes is None else codes[going]
            if fusion is not None:
                fusion.keep(going)
        else:
            tokens = next_tokens
    return [_words(row) for row in generated.tolist()], logprob.tolist()


# --- beam search --------------------------------------------------------------------------------

def length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty lp(len) = ((5 + len) / 6) ** alpha; len counts words and <eos>."""
    return ((5.0 + length) / 6.0) ** alpha


def _settled(score: torch.Tensor, logprob: torch.Tensor, finished: torch.Tensor,
             opts: DecodingOptions) -> bool:
    """Whether no further step can change any code's n best; all arguments (B, W), beams sorted.

    A code is settled when its n_best best beams have ended and no live beam can overtake the
    n-th of them: a live beam's log-probability only falls, and its length penalty is at most
    lp(max_length + 1), so its score can never exceed logprob / lp(max_length + 1).
    """
    n = opts.n_best
    top_ended = finished[:, :n].all(dim=1)  # (B,)
    best_possible = logprob / length_penalty(opts.max_length + 1, opts.alpha)  # (B, W)
    best_possible = best_possible.masked_fill(finished, NEG_INF).max(dim=1).values  # (B,)
    return bool((top_ended & (best_possible <= score[:, n - 1])).all())


@torch.no_grad()
def _beam_search(model, z: torch.Tensor | None, batch: int, opts: DecodingOptions,
                 lm=None, lm_weight: float = 0.0) -> list[list[tuple[list[int], float, float]]]:
    """Beam search for `batch` codes -> per code, its n_best (word ids, logprob, score), best first.

    The beam of a code always holds W hypotheses sorted by score. A finished hypothesis stays in
    its beam with its score frozen (its only continuation is <pad>) and competes with the live
    ones, so finished hypotheses of every length are ranked together. Fewer than n_best come
    back only when fewer sentences exist (a tiny vocabulary and max_length). With fusion the
    beams are ranked by the fused log-probability (`ranked`) and logprob is the decoder's.
    """
    decoder, device, width = model.decoder, model.device, opts.beam
    rows = batch * width
    codes = None if z is None else z.repeat_interleave(width, dim=0)  # (B*W, Z)
    hidden = decoder.initial_hidden(z, batch).repeat_interleave(width, dim=1)  # (layers, B*W, H)
    tokens = torch.full((rows,), BOS_ID, dtype=torch.long, device=device)
    prefix = torch.empty(rows, 0, dtype=torch.long, device=device)  # (B*W, t)
    finished = torch.zeros(rows, dtype=torch.bool, device=device)
    logprob = torch.zeros(batch, width, device=device)
    logprob[:, 1:] = NEG_INF  # the W beams start as copies of one: keep only beam 0 alive
    logprob = logprob.view(-1)  # (B*W,) raw log-probability under the decoder
    ranked = logprob.clone()  # (B*W,) the log-probability beams are ranked by (fused, with fusion)
    score = logprob.clone()  # (B*W,) ranking score, ranked / lp(len)
    first_row = torch.arange(batch, device=device).unsqueeze(1) * width  # (B, 1)
    fusion = _fusion(lm, rows, lm_weight)
    for step in range(opts.max_length + 1):
        scores, hidden = decoder.step(tokens, hidden, codes)
        log_probs = F.log_softmax(scores.float(), dim=-1)  # (B*W, V)
        choices = log_probs if fusion is None else fusion.mix(log_probs, tokens)  # (B*W, V)
        vocab = log_probs.size(1)
        allowed = _allowed(choices, prefix, opts)
        candidates = (ranked.unsqueeze(1) + allowed) / length_penalty(step + 1, opts.alpha)  # (B*W, V)
        frozen = torch.full_like(candidates, NEG_INF)
        frozen[:, PAD_ID] = score
        candidates = torch.where(finished.unsqueeze(1), frozen, candidates)
        best, flat = candidates.view(batch, width * vocab).topk(width, dim=1)  # (B, W), sorted
        source = (first_row + flat // vocab).view(-1)  # (B*W,) the row each new beam extends
        next_tokens = (flat % vocab).view(-1)  # (B*W,)
        was_finished = finished[source]
        step_logprob = log_probs[source, next_tokens].masked_fill(was_finished, 0.0)
        logprob = logprob[source] + step_logprob
        ranked = logprob if fusion is None else \
            ranked[source] + choices[source, next_tokens].masked_fill(was_finished, 0.0)
        score = best.view(-1)
        finished = was_finished | (next_tokens == EOS_ID)
        hidden = hidden[:, source]
        if fusion is not None:
            fusion.keep(source)
        prefix = torch.cat([prefix[source], next_tokens.unsqueeze(1)], dim=1)
        if _settled(score.view(batch, width), ranked.view(batch, width),
                    finished.view(batch, width), opts):
            break
        tokens = next_tokens
    results = []
    sequences, logprobs, scores = prefix.tolist(), logprob.tolist(), score.tolist()
    for b in range(batch):
        beam_rows = range(b * width, b * width + opts.n_best)
        hypotheses = [(_words(sequences[r]), logprobs[r], scores[r]) for r in beam_rows
                      if r == b * width or logprobs[r] > NEG_INF]  # drop never-alive beams
        results.append(hypotheses)
    return results


@torch.no_grad()
def _rerank_by_encoding(model, z: torch.Tensor, found: list[list[tuple[list[int], float, float]]],
                        n_best: int) -> list[list[tuple[list[int], float, float]]]:
    """Each code's beam hypotheses re-ordered by log p(x | z) + log q(z | x), the n_best first.

    z (B, Z) the codes, found[b] the hypotheses (word ids, logprob, score) of code b. Every
    hypothesis is encoded (one batch for all codes); its new score replaces the beam score.
    """
    flat = [ids for hypotheses in found for ids, _, _ in hypotheses]
    owner = torch.tensor([b for b, hypotheses in enumerate(found) for _ in hypotheses], device=z.device)
    tokens, lengths = collate(flat)
    mu, logvar = model.posterior(tokens.to(model.device), lengths.to(model.device))  # (H, Z) each
    code = z[owner].float()  # (H, Z) the code each hypothesis was decoded from
    log_q = diagonal_gaussian_log_density(code, mu.float(), logvar.float())  # (H,) log q(z | x)
    rescored, position = [], 0
    for hypotheses in found:
        scores = log_q[position: position + len(hypotheses)].tolist()
        position += len(hypotheses)
        ranked = sorted(((ids, logprob, logprob + q) for (ids, logprob, _), q in zip(hypotheses, scores)),
                        key=lambda hypothesis: -hypothesis[2])
        rescored.append(ranked[:n_best])
    return rescored


# --- the public entry points --------------------------------------------------------------------

def decode(model, z: torch.Tensor | None, tokenizer, options: DecodingOptions | None = None,
           n: int | None = None, seed: int | None = None, batch_size: int = 256,
           lm=None, lm_weight: float = 0.0) -> list[Generation]:
    """Decode latent codes z (B, Z), or `n` sentences of a model without a latent code.

    `options` as in `DecodingOptions` (see the module docstring; its `max_length` None becomes the
    model's); `batch_size` codes are decoded at a time (beam search runs batch_size * beam decoder
    rows). `lm`: a language model (a `SentenceVAE` without a latent, same vocabulary) fused into
    every step with weight `lm_weight` in [0, 1) (module docstring; at weight 0 it is not run).
    Returns one `Generation` per code.
    """
    opts = options or DecodingOptions()
    if opts.max_length is None:
        opts = replace(opts, max_length=model.cfg.max_length)
    if z is None and n is None:
        raise ArgumentError("decode needs latent codes z or a count n")
    if opts.rerank and (z is None or model.encoder is None):
        raise ArgumentError("re-ranking by re-encoding needs a VAE's latent codes (this is a language model)")
    if batch_size < 1:
        raise ArgumentError(f"batch size must be >= 1, got {batch_size}")
    lm = _fusion_model(model, lm, lm_weight)
    total = z.size(0) if z is not None else n
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    was_training = model.training, lm is not None and lm.training
    model.eval()
    if lm is not None:
        lm.eval()
    results = []
    try:
        for start in range(0, total, batch_size):
            chunk = None if z is None else z[start: start + batch_size].to(model.device)
            size = min(batch_size, total - start)
            codes = [None] * size if chunk is None else chunk.tolist()
            if opts.strategy == "beam":
                search = replace(opts, n_best=opts.beam) if opts.rerank else opts  # keep the whole beam
                found = _beam_search(model, chunk, size, search, lm, lm_weight)
                if opts.rerank:
                    found = _rerank_by_encoding(model, chunk, found, opts.n_best)
                for code, hypotheses in zip(codes, found):
                    results.append(_beam_generation(hypotheses, code, tokenizer, opts))
            else:
                sequences, logprobs = _decode_stepwise(model, chunk, size, opts, generator, lm, lm_weight)
                for code, ids, logprob in zip(codes, sequences, logprobs):
                    results.append(Generation(tokenizer.decode(ids), ids, logprob, opts.strategy, code))
    finally:
        model.train(was_training[0])
        if lm is not None:
            lm.train(was_training[1])
    return results


def check_lm_weight(weight: float) -> None:
    """Refuse a fusion weight outside [0, 1) (`ArgumentError`)."""
    _require(0.0 <= weight < 1.0, f"the language model's weight must be in [0, 1), got {weight}")


def check_language_model(model, lm) -> None:
    """Refuse a model `lm` that cannot be fused into `model`'s decoding (`ArgumentError`): a VAE,
    another vocabulary size, another device."""
    _require(lm.encoder is None, "the model to fuse with must be a language model (latent_dim 0 / use_latent "
                                 "false), not a VAE")
    _require(lm.cfg.vocab_size == model.cfg.vocab_size,
             f"the language model has {lm.cfg.vocab_size} tokens but the model {model.cfg.vocab_size}: "
             "they must share one vocabulary")
    _require(lm.device == model.device, f"the language model is on {lm.device} but the model on {model.device}")


def _fusion_model(model, lm, weight: float):
    """The language model to fuse with, checked; None when `weight` is 0."""
    check_lm_weight(weight)
    if weight == 0:
        return None
    _require(lm is not None, f"a language model weight of {weight} needs a language model to fuse with")
    check_language_model(model, lm)
    return lm


def _beam_generation(hypotheses, code, tokenizer, opts: DecodingOptions) -> Generation:
    """The record of a code's best hypothesis, with its score and (n_best > 1) the n-best list."""
    ids, logprob, score = hypotheses[0]
    extra = {"score": score}
    if opts.n_best > 1:
        extra["n_best"] = [{"text": tokenizer.decode(h_ids), "ids": h_ids, "logprob": h_logprob,
                            "score": h_score} for h_ids, h_logprob, h_score in hypotheses]
    return Generation(tokenizer.decode(ids), ids, logprob, "beam", code, extra=extra)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation of the directions of a, b (Z,), with linearly interpolated norm.

    The norm of slerp(a, b, t) is (1 - t)|a| + t|b|; t = 0 and t = 1 return a and b exactly.
    Falls back to the linear path when a direction is undefined (a zero vector, or a and b
    opposite).
    """
    if t == 0:
        return a.clone()
    if t == 1:
        return b.clone()
    norm_a, norm_b = a.norm(), b.norm()
    if norm_a < 1e-8 or norm_b < 1e-8:
        return (1 - t) * a + t * b
    unit_a, unit_b = a / norm_a, b / norm_b
    omega = torch.arccos((unit_a * unit_b).sum().clamp(-1.0, 1.0))  # angle between them
    if omega < 1e-6:
        direction = unit_a
    elif math.pi - omega < 1e-6:
        return (1 - t) * a + t * b
    else:
        direction = (torch.sin((1 - t) * omega) * unit_a + torch.sin(t * omega) * unit_b) / torch.sin(omega)
        direction = direction / direction.norm()
    return direction * ((1 - t) * norm_a + t * norm_b)


def check_path(steps: int, method: str) -> None:
    if steps < 2:
        raise ArgumentError(f"an interpolation needs at least 2 steps, got {steps}")
    if method not in ("linear", "slerp"):
        raise ArgumentError(f"unknown interpolation method {method!r} (expected linear or slerp)")


def path(a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "linear") -> torch.Tensor:
    """`steps` evenly spaced points from a to b inclusive: (Z,), (Z,) -> (steps, Z)."""
    check_path(steps, method)
    points = []
    for i in range(steps):
        t = i / (steps - 1)
        points.append((1 - t) * a + t * b if method == "linear" else slerp(a, b, t))
    points[0], points[-1] = a.clone(), b.clone()  # exact ends, whatever the rounding
    return torch.stack(points)


__all__ = ["Generation", "DecodingOptions", "decode", "path", "slerp", "length_penalty",
           "check_path", "check_lm_weight", "check_language_model", "DEFAULT_LM_WEIGHT", "STRATEGIES"]
