"""Training-time input noise: word dropout on the decoder's inputs, corruption of the encoder's.

    word_dropout(inputs, rate, uniform)                       decoder inputs -> <unk> (Bowman et al. 2016)
    corrupt_encoder_input(words, lengths, uniform, drop=..., mask=..., shuffle=...)

Both take their random draws as tensors, so that training can draw them per *global* batch from
(seed, step) (step.step_noise) and any number of processes, or a resumed run, sees the same noise.

Encoder-input denoising (Shen et al. 2020, "Educating text autoencoders"): the encoder reads a
perturbed sentence while the decoder still has to produce the clean one, so sentences that differ
by a few words get nearby codes, which makes the latent space smoother to sample and interpolate.
Three perturbations, applied in this order to the words (never to `<eos>`):

    shuffle k   each word moves at most k places (Lample et al. 2018: sort by i + U(0, k + 1))
    mask p      each word becomes `<unk>` with probability p
    drop p      each word is deleted with probability p (the sentence gets shorter)
"""

from __future__ import annotations

import torch

from .tokenizer import BOS_ID, PAD_ID, UNK_ID

ENCODER_NOISE_CHANNELS = 3  # uniform draws per position: shuffle, mask, drop


def word_dropout(inputs: torch.Tensor, rate: float, uniform: torch.Tensor | None = None) -> torch.Tensor:
    """Replace each decoder input other than <bos> and padding by <unk> with probability `rate`.

    inputs (B, T); `uniform` (B, T) are the U(0, 1) draws to use (drawn here when None).
    """
    if rate <= 0:
        return inputs
    if uniform is None:
        uniform = torch.rand(inputs.shape, device=inputs.device)
    droppable = (inputs != PAD_ID) & (inputs != BOS_ID)
    drop = (uniform < rate) & droppable
    return inputs.masked_fill(drop, UNK_ID)


def corrupt_encoder_input(words: torch.Tensor, lengths: torch.Tensor, uniform: torch.Tensor | None = None,
                          *, drop: float = 0.0, mask: float = 0.0,
                          shuffle: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Perturb the encoder's input; returns (words', lengths') in the same layout.

    words    (B, L) the encoder input w_1 ... w_n <eos> <pad> ... (model.py's layout, L >= max length)
    lengths  (B,)   n + 1 (the words and <eos>)
    uniform  (B, >= L, 3) U(0, 1) draws for shuffle, mask and drop (drawn here when None)

    Only the n words are perturbed; `<eos>` stays last and every sentence keeps it, so a sentence
    whose words are all dropped becomes `<eos>` alone (length 1).
    """
    if drop <= 0 and mask <= 0 and shuffle <= 0:
        return words, lengths
    batch, width = words.shape
    if uniform is None:
        uniform = torch.rand(batch, width, ENCODER_NOISE_CHANNELS, device=words.device)
    uniform = uniform[:, :width].to(words.device)
    position = torch.arange(width, device=words.device).expand(batch, width)  # (B, L)
    is_word = position < (lengths.to(words.device) - 1).unsqueeze(1)  # (B, L) w_1 ... w_n
    beyond = float(width + shuffle + 1)  # sorts <eos> and padding after every word, in order
    if shuffle > 0:
        keys = torch.where(is_word, position + uniform[..., 0] * (shuffle + 1), position + beyond)
        words = words.gather(1, keys.argsort(dim=1, stable=True))
    if mask > 0:
        words = words.masked_fill(is_word & (uniform[..., 1] < mask), UNK_ID)
    if drop > 0:
        dropped = is_word & (uniform[..., 2] < drop)  # (B, L)
        keys = torch.where(dropped, position + 2 * beyond, position)  # kept tokens first, in order
        words = words.gather(1, keys.argsort(dim=1, stable=True))
        lengths = lengths - dropped.sum(1).to(lengths.device)
        real = position < lengths.to(words.device).unsqueeze(1)
        words = words.masked_fill(~real, PAD_ID)
    return words, lengths
