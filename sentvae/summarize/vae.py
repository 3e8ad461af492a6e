"""Everything the summariser asks of the VAE, in one place.

The summariser is given a `VAEPipeline` (pipeline.py: the tensor model with its tokenizer) and
touches it only through these four functions: whether it has a latent code, its tokenizer, the
posterior means of sentences, and the decodes of latent codes as token lists.
"""

from __future__ import annotations

import torch

from ..decoding import DecodingOptions
from ..errors import ArgumentError


def require_latent(vae) -> None:
    """Refuse a model without a latent code (a language model): there is nothing to cluster."""
    if not vae.cfg.has_latent:
        raise ArgumentError("summarize needs a model with a latent code (this one is a language model)")


def tokenizer_of(vae):
    """The `TextTokenizer` the model was trained with."""
    return vae.tokenizer


def encode_sentences(vae, texts: list[str], batch_size: int = 256) -> torch.Tensor:
    """Posterior means of sentences (each the model's tokens, space-joined): (N, Z) float32 on the
    CPU; (0, Z) for no sentence."""
    if not texts:
        return torch.zeros(0, vae.cfg.latent_dim)
    parts = [vae.encode(texts[i: i + batch_size])[0].cpu() for i in range(0, len(texts), batch_size)]
    return torch.cat(parts).float()


def decode_codes(vae, codes: torch.Tensor, options: DecodingOptions,
                 seed: int | None = None) -> list[list[list[str]]]:
    """Decode latent codes (C, Z): for each code, its hypotheses as token lists, best first (more
    than one only for beam search with `options.n_best` > 1)."""
    to_token = vae.tokenizer.hf.id_to_token
    decoded = []
    for generation in vae.generate(codes, options, seed=seed):
        hypotheses = generation.extra.get("n_best") or [{"ids": generation.ids}]
        decoded.append([[to_token(i) for i in hypothesis["ids"]] for hypothesis in hypotheses])
    return decoded
