"""Text in, text out: a trained `SentenceVAE` together with its tokenizer.

    from sentvae import VAEPipeline
    vae = VAEPipeline.from_pretrained("runs/demo")         # run dir or checkpoint dir
    mu, logvar = vae.encode(["the dog sees a cat ."])       # (B, Z) each
    vae.decode(mu)                                          # greedy
    vae.sample(5, DecodingOptions("sample", top_p=0.9), seed=0)
    vae.interpolate("the dog sees a cat .", "did the cats sleep ?", steps=6)
    vae.save_pretrained("my_checkpoint")

The model (model.py) knows only tensors; decoding.py turns codes into token ids; this object adds
the tokenizer on both sides and the seeded draws of z. Every method that decodes takes one
`DecodingOptions` (greedy by default).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from .checkpoint import atomic_replace, load_checkpoint, resolve_checkpoint, save_checkpoint
from .data import collate
from .decoding import (DEFAULT_LM_WEIGHT, DecodingOptions, Generation, check_language_model, check_lm_weight,
                       check_path, decode, path)
from .errors import ArgumentError
from .model import SentenceVAE
from .prior import PRIOR_FILE, GaussianMixture
from .tokenizer import TextTokenizer

PRIORS = ("fitted", "standard")


def _generator(seed: int | None) -> torch.Generator | None:
    return torch.Generator().manual_seed(seed) if seed is not None else None


class VAEPipeline:
    """A `SentenceVAE`, the `TextTokenizer` it was trained with and, when one was fitted, the
    mixture prior its codes are sampled from (prior.py; None: N(0, I) only)."""

    def __init__(self, model: SentenceVAE, tokenizer: TextTokenizer,
                 prior: GaussianMixture | None = None):
        if tokenizer.vocab_size != model.cfg.vocab_size:
            raise ArgumentError(f"the tokenizer has {tokenizer.vocab_size} tokens but the model "
                                f"expects {model.cfg.vocab_size}")
        self.model = model
        self.tokenizer = tokenizer
        self.prior = prior
        self.language_model: SentenceVAE | None = None  # fused into every decoding (`fuse_with`)
        self.lm_weight = 0.0

    @property
    def cfg(self):
        return self.model.cfg

    # --- checkpoints ------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> "VAEPipeline":
        """Load a checkpoint directory, or a run directory (then its best checkpoint)."""
        model, tokenizer = load_checkpoint(directory, device=device)
        prior_file = resolve_checkpoint(directory) / PRIOR_FILE
        prior = GaussianMixture.load(prior_file, model.cfg.latent_dim) if prior_file.exists() else None
        return cls(model, tokenizer, prior)

    def save_pretrained(self, directory: str | Path, train_config=None) -> None:
        """Write config.json, model.safetensors, tokenizer.json (and prior.safetensors when there
        is a fitted prior) atomically to `directory`."""
        save_checkpoint(directory, self.model, self.tokenizer, train_config=train_config)
        if self.prior is not None:
            save_prior(directory, self.prior)

    def fuse_with(self, lm: "VAEPipeline | None", weight: float = DEFAULT_LM_WEIGHT) -> "VAEPipeline":
        """Decode from now on with the language model `lm` fused into every step with `weight`
        in [0, 1) (decoding.py, "Fusion"): each token is chosen from (1 - weight) log p(w |
        prefix, z) + weight log p_LM(w | prefix) for every code that is not a given sentence's
        (`sample`, `generate`, `decode`, the points of `interpolate` between its ends). The codes
        of given sentences (`reconstruct`, an interpolation's two ends) are still decoded by the
        VAE alone: there the code says which sentence it is, and the language model would only
        pull it toward a likelier one (README, rate section). `lm` is a model without a latent
        trained with the same vocabulary; None turns fusion off. Returns self."""
        if lm is None:
            self.language_model, self.lm_weight = None, 0.0
            return self
        check_lm_weight(weight)
        check_language_model(self.model, lm.model)
        if lm.tokenizer.hf.get_vocab() != self.tokenizer.hf.get_vocab():
            raise ArgumentError("the language model's vocabulary is not the model's: train it on the same "
                                "data with the same tokenizer settings")
        self.language_model, self.lm_weight = lm.model, weight
        return self

    # --- text -> codes ----------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters of sentences: texts -> mu (B, Z), logvar (B, Z).

        A sentence with no token at all (empty or white space only) is refused: its code would
        be the encoding of a lone `<eos>`, not of anything the user wrote.
        """
        if not self.cfg.has_latent:
            raise ArgumentError("this model is a language model (latent_dim 0 / use_latent false): "
                                "it has no latent code to encode sentences into")
        texts = list(texts)
        ids = [ids[: self.cfg.max_length] for ids in self.tokenizer.encode_batch(texts)]
        for number, (text, sentence) in enumerate(zip(texts, ids), start=1):
            if not sentence or not text.strip():  # BPE encodes white space as a token of its own
                raise ArgumentError(f"sentence {number} ({text[:40]!r}) has no tokens: nothing to encode")
        return self._posterior(ids)

    @torch.no_grad()
    def _posterior(self, ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters of token-id sentences (each non-empty): mu (B, Z), logvar (B, Z)."""
        model = self.model
        was_training = model.training
        model.eval()
        tokens, lengths = collate(ids)
        mu, logvar = model.posterior(tokens.to(model.device), lengths.to(model.device))
        model.train(was_training)
        return mu, logvar

    # --- codes -> text ----------------------------------------------------------------------
    def generate(self, z: torch.Tensor | None, options: DecodingOptions | None = None,
                 n: int | None = None, seed: int | None = None,
                 batch_size: int = 256, fused: bool = True) -> list[Generation]:
        """Decode latent codes z (B, Z) (or `n` sentences of a language model) into records.

        `fused`: with the language model of `fuse_with`, when there is one. The codes of given
        sentences (`reconstruct`, the ends of `interpolate`) are decoded with `fused=False`.
        """
        lm = self.language_model if fused else None
        return decode(self.model, z, self.tokenizer, options, n=n, seed=seed, batch_size=batch_size,
                      lm=lm, lm_weight=self.lm_weight if lm is not None else 0.0)

    def decode(self, z: torch.Tensor, options: DecodingOptions | None = None,
               seed: int | None = None) -> list[str]:
        """Sentences for latent codes z (B, Z)."""
        return [g.text for g in self.generate(z, options, seed=seed)]

    def prior_codes(self, n: int, prior: str | None = None, z_scale: float = 1.0,
                    seed: int | None = None) -> torch.Tensor:
        """`n` latent codes (n, Z) from the fitted prior or N(0, I), their spread times `z_scale`.

        `prior`: "fitted" (an error if none was fitted), "standard", or None: the fitted prior
        when the checkpoint has one, else the standard normal. `z_scale` < 1 draws closer to the
        mean (standard: N(0, z_scale^2 I); fitted: each component's covariance times z_scale^2):
        more typical codes, less varied sentences.
        """
        if prior not in (None, *PRIORS):
            raise ArgumentError(f"unknown prior {prior!r} (expected one of {', '.join(PRIORS)})")
        if prior == "fitted" and self.prior is None:
            raise ArgumentError("this checkpoint has no fitted prior (run `sentvae fit-prior -m CKPT`)")
        if not z_scale > 0:
            raise ArgumentError(f"z scale must be > 0, got {z_scale}")
        if self.prior is not None and prior != "standard":
            return self.prior.sample(n, _generator(seed), scale=z_scale)
        return torch.randn(n, self.cfg.latent_dim, generator=_generator(seed)) * z_scale  # (n, Z)

    def sample(self, n: int, options: DecodingOptions | None = None, z_scale: float = 1.0,
               seed: int | None = None, prior: str | None = None, refine: int = 0) -> list[Generation]:
        """`n` sentences decoded from prior codes (`prior_codes`; a language model just samples).

        z is drawn with `seed`, the tokens (when sampled) with seed + 1. `refine` > 0 takes each
        sentence back through the autoencoder that many times (`refine`): a code drawn between the
        codes of real sentences often decodes to a non-sentence, and its re-encoding lands where
        the decoder reads codes well.
        """
        if n < 1:
            raise ArgumentError(f"the number of samples must be >= 1, got {n}")
        self.check_refine(refine)
        z = self.prior_codes(n, prior, z_scale, seed) if self.cfg.has_latent else None
        results = self.generate(z, options, n=n, seed=None if seed is None else seed + 1)
        return self.refine(results, options, rounds=refine, seed=seed)

    def check_refine(self, rounds: int) -> None:
        """Refuse a number of refining rounds this model cannot do (negative; any, without a latent)."""
        if rounds < 0:
            raise ArgumentError(f"refine must be >= 0 rounds, got {rounds}")
        if rounds and not self.cfg.has_latent:
            raise ArgumentError("refining samples needs a model with a latent code (this is a language model)")

    def refine(self, results: list[Generation], options: DecodingOptions | None = None, rounds: int = 1,
               seed: int | None = None) -> list[Generation]:
        """Each decoded sentence encoded again (posterior mean) and decoded from that code, `rounds`
        times: one step of the chain x -> E[z | x] -> x' of the autoencoder, which moves a sample
        towards sentences whose codes the decoder has learned (as denoising autoencoders are
        sampled, Bengio et al. 2013). An empty sentence (no code to take) is kept as it is.
        A refined record carries the code it was last decoded from and `extra["refined"]`, the
        rounds it went through; the records passed in are not changed.
        """
        self.check_refine(rounds)
        results = list(results)
        for round_ in range(1, rounds + 1):
            kept = [i for i, result in enumerate(results) if result.ids]
            if not kept:
                break
            mu, _ = self._posterior([results[i].ids[: self.cfg.max_length] for i in kept])  # (B, Z)
            again = self.generate(mu, options, seed=None if seed is None else seed + 1 + round_)
            for i, result in zip(kept, again):
                result.extra["refined"] = round_
                results[i] = result
        return results

    def reconstruct(self, texts: list[str], options: DecodingOptions | None = None,
                    sample_z: bool = False, seed: int | None = None) -> list[Generation]:
        """Encode sentences and decode them back (posterior mean, or a sample with `sample_z`)."""
        texts = list(texts)
        if not texts:
            return []
        mu, logvar = self.encode(texts)  # (B, Z) each
        z = mu
        if sample_z:
            noise = torch.randn(mu.shape, generator=_generator(seed)).to(mu.device)
            z = mu + noise * torch.exp(0.5 * logvar)
        results = self.generate(z, options, seed=seed, fused=False)
        for result, text in zip(results, texts):
            result.source = text
        return results

    def interpolate(self, first: str | None, second: str | None, steps: int = 8,
                    method: str = "linear", options: DecodingOptions | None = None,
                    prior: bool | str = False, seed: int | None = None,
                    unique: bool = False) -> list[Generation]:
        """Decode `steps` points between the posterior means of two sentences (or two prior draws:
        `prior` True, or "fitted" / "standard" as in `prior_codes`).

        The first and last records decode the two ends, so with the same options they are the
        reconstructions of the inputs. With `options.rerank` only those two are re-ranked (the
        points between them are decoded by plain beam search). `unique` drops a record whose text
        equals the previous one.
        """
        if not self.cfg.has_latent:
            raise ArgumentError("interpolation needs a model with a latent code")
        check_path(steps, method)
        if prior:
            ends = self.prior_codes(2, None if prior is True else prior, seed=seed)  # (2, Z)
        else:
            if first is None or second is None:
                raise ArgumentError("interpolation needs two sentences (or prior=True)")
            ends, _ = self.encode([first, second])  # (2, Z) posterior means
        points = path(ends[0].cpu(), ends[1].cpu(), steps, method)  # (steps, Z)
        reranked = options is not None and options.rerank
        inside = replace(options, rerank=False) if reranked else options  # the points between the ends
        if prior or not (reranked or self.language_model is not None):
            # Re-ranking by re-encoding looks for the sentence that encodes back to its code: the
            # ends of a path between two sentences have one, the points between them (and prior
            # codes) do not, and re-ranked they read worse (README, rate section). A fused
            # language model is for the codes of no sentence. So the ends of a path between
            # sentences are decoded as reconstructions (re-ranked, not fused), the rest plainly.
            results = self.generate(points, inside, seed=seed)
        else:
            first_end, last_end = self.generate(points[[0, -1]], options, seed=seed, fused=False)
            results = [first_end, *self.generate(points[1:-1], inside, seed=seed), last_end]
        for i, result in enumerate(results):
            result.position = i / (steps - 1)
        if unique:
            kept = [results[0]]
            for result in results[1:]:
                if result.text != kept[-1].text:
                    kept.append(result)
            results = kept
        return results


def save_prior(directory: str | Path, prior: GaussianMixture) -> Path:
    """Write `prior` into a checkpoint (or run) directory as prior.safetensors, atomically."""
    target = resolve_checkpoint(directory) / PRIOR_FILE
    atomic_replace(target, prior.save)
    return target
