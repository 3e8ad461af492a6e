"""The sentence VAE: a GRU encoder to a diagonal Gaussian, a GRU decoder that sees z at every step.

Batch convention (made in `data.collate`, used everywhere):

    tokens  (B, T+2)  <bos> w_1 ... w_n <eos> <pad> ...      n = sentence length in words
    lengths (B,)      n + 1 = number of decoder targets (the words and <eos>)

    decoder input   tokens[:, :-1]   <bos> w_1 ... w_n        (lengths[b] positions are real)
    decoder target  tokens[:, 1:]    w_1 ... w_n <eos>
    encoder input   tokens[:, 1:]    w_1 ... w_n <eos>        (never empty, even for n = 0)

No compute is spent on padding: both GRUs run on packed sequences and only the real positions of
the decoder are projected to the vocabulary (N = sum(lengths) rows instead of B * T).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .config import ModelConfig
from .cross_entropy import adaptive_cross_entropy, linear_cross_entropy
from .errors import ArgumentError
from .noise import corrupt_encoder_input, word_dropout
from .tied_adaptive import TiedAdaptiveSoftmax
from .tokenizer import PAD_ID


@dataclass
class VAEOutput:
    """What one forward pass returns (per sentence; the objective reduces it)."""

    rec: torch.Tensor  # (B,) reconstruction NLL -log p(x | z), summed over the targets, in nats
    num_tokens: torch.Tensor  # (B,) number of targets (words + <eos>)
    mu: torch.Tensor | None  # (B, Z) posterior means; None without a latent
    logvar: torch.Tensor | None  # (B, Z) posterior log-variances
    z: torch.Tensor | None  # (B, Z) the code the decoder was given
    bow: torch.Tensor | None = None  # (B,) bag-of-words NLL of the targets given z (training, bow_weight > 0)


def _pack(x: torch.Tensor, lengths: torch.Tensor) -> PackedSequence:
    """Pack a batch-first tensor; the same `lengths` always give the same element order."""
    return pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)


def _mean_and_max(outputs: PackedSequence, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and maximum over the real positions of packed GRU outputs: (B, D) each, batch order."""
    padded, _ = pad_packed_sequence(outputs, batch_first=True)  # (B, T, D), zeros past each length
    lengths = lengths.to(padded.device).unsqueeze(1)  # (B, 1)
    real = torch.arange(padded.size(1), device=padded.device) < lengths  # (B, T)
    mean = padded.sum(1) / lengths.to(padded.dtype)
    maximum = padded.masked_fill(~real.unsqueeze(-1), float("-inf")).amax(1)
    return mean, maximum


SCORE_ROWS = 2048  # positions scored at a time without gradients: (2048, V) float32 logits at most


class Encoder(nn.Module):
    """Embedding -> (bi)GRU -> final hidden states of every layer and direction (and, with
    `encoder_pooling`, the mean and maximum of the top layer's outputs) -> mu, logvar."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=PAD_ID)
        self.dropout = nn.Dropout(cfg.embed_dropout)
        self.rnn = nn.GRU(cfg.embed_dim, cfg.encoder_hidden_dim, num_layers=cfg.encoder_layers,
                          bidirectional=cfg.bidirectional, batch_first=True)
        directions = 2 if cfg.bidirectional else 1
        self.pooling = cfg.encoder_pooling
        summary_states = cfg.encoder_layers * directions + (2 * directions if self.pooling else 0)
        self.to_gaussian = nn.Linear(summary_states * cfg.encoder_hidden_dim, 2 * cfg.latent_dim)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids (B, T), lengths (B,) -> mu (B, Z), logvar (B, Z)."""
        embedded = self.dropout(self.embedding(ids))  # (B, T, E)
        outputs, final = self.rnn(_pack(embedded, lengths))  # final (layers * directions, B, H), batch order restored
        summary = final.transpose(0, 1).reshape(ids.size(0), -1)  # (B, layers * directions * H)
        if self.pooling:
            summary = torch.cat([summary, *_mean_and_max(outputs, lengths)], dim=-1)  # (B, S)
        mu, logvar = self.to_gaussian(summary).chunk(2, dim=-1)
        return mu, logvar


class Decoder(nn.Module):
    """z -> initial hidden state; GRU over [embedding; z]; projection of real positions to V."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        latent_input = cfg.latent_dim if (cfg.has_latent and cfg.latent_every_step) else 0
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embed_dim, padding_idx=PAD_ID)
        self.embed_dropout = nn.Dropout(cfg.embed_dropout)
        self.rnn = nn.GRU(cfg.embed_dim + latent_input, cfg.decoder_hidden_dim,
                          num_layers=cfg.decoder_layers, batch_first=True)
        self.latent_to_hidden = (nn.Linear(cfg.latent_dim, cfg.decoder_layers * cfg.decoder_hidden_dim)
                                 if cfg.has_latent else None)
        self.output_dropout = nn.Dropout(cfg.output_dropout)
        self.adaptive = bool(cfg.adaptive_softmax_cutoffs)
        self.tied_adaptive = self.adaptive and cfg.tie_embeddings  # scores words by the embedding rows
        if self.tied_adaptive:
            self.output = TiedAdaptiveSoftmax(cfg.decoder_hidden_dim, cfg.vocab_size,
                                              list(cfg.adaptive_softmax_cutoffs))
        elif self.adaptive:
            self.output = nn.AdaptiveLogSoftmaxWithLoss(
                cfg.decoder_hidden_dim, cfg.vocab_size, cutoffs=list(cfg.adaptive_softmax_cutoffs),
                div_value=cfg.adaptive_softmax_div, head_bias=True)
        else:
            self.output = nn.Linear(cfg.decoder_hidden_dim, cfg.vocab_size)
        if cfg.tie_embeddings:
            # N(0, 1) embeddings would give the shared projection logits of size ~sqrt(H) at
            # initialisation; scale them like the projection they also are.
            with torch.no_grad():
                nn.init.normal_(self.embedding.weight, std=cfg.embed_dim ** -0.5)
                self.embedding.weight[PAD_ID].zero_()
            if not self.tied_adaptive:
                self.output.weight = self.embedding.weight

    def initial_hidden(self, z: torch.Tensor | None, batch_size: int) -> torch.Tensor:
        """z (B, Z) -> h0 (layers, B, H): tanh(W z + b) per layer; zeros without a latent."""
        layers, hidden = self.cfg.decoder_layers, self.cfg.decoder_hidden_dim
        if self.latent_to_hidden is None or z is None:
            return self.embedding.weight.new_zeros(layers, batch_size, hidden)
        h0 = torch.tanh(self.latent_to_hidden(z))  # (B, layers * H)
        return h0.view(batch_size, layers, hidden).transpose(0, 1).contiguous()

    def _inputs(self, ids: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """ids (B, T) -> GRU inputs (B, T, E [+ Z])."""
        embedded = self.embed_dropout(self.embedding(ids))  # (B, T, E)
        if self.cfg.has_latent and self.cfg.latent_every_step and z is not None:
            embedded = torch.cat([embedded, z.unsqueeze(1).expand(-1, ids.size(1), -1)], dim=-1)
        return embedded

    def _outputs(self, inputs: torch.Tensor, lengths: torch.Tensor,
                 z: torch.Tensor | None) -> torch.Tensor:
        """GRU outputs of the real positions, dropout applied: (N, H) in packed order."""
        h0 = self.initial_hidden(z, inputs.size(0))
        outputs, _ = self.rnn(_pack(self._inputs(inputs, z), lengths), h0)
        return self.output_dropout(outputs.data)  # (N, H)

    def scores(self, outputs: torch.Tensor) -> torch.Tensor:
        """outputs (R, H) -> next-token scores (R, V): logits, or log-probabilities with the
        adaptive softmax (also valid logits: log_softmax leaves them unchanged)."""
        if self.tied_adaptive:
            return self.output.log_prob(outputs, self.embedding.weight)
        return self.output.log_prob(outputs) if self.adaptive else self.output(outputs)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor,
                z: torch.Tensor | None) -> torch.Tensor:
        """Teacher-forced scores of the real positions only.

        inputs (B, T) decoder input ids, lengths (B,), z (B, Z) or None
        -> scores (N, V) in packed order, N = sum(lengths).
        """
        return self.scores(self._outputs(inputs, lengths, z))

    def target_nll(self, inputs: torch.Tensor, lengths: torch.Tensor, z: torch.Tensor | None,
                   targets: torch.Tensor) -> torch.Tensor:
        """-log p(target) of every real position: targets (N,) in packed order -> (N,) float32.

        The adaptive softmax scores only the head and the clusters the targets fall in, never the
        whole vocabulary: that is where its speed comes from. The full softmax projects and scores
        a chunk of positions at a time and never holds all N x V logits; the adaptive one holds
        each of its logits tensors once (cross_entropy.py). Without gradients (evaluation)
        either is scored `SCORE_ROWS` positions at a time, so evaluating a large batch on a large
        vocabulary never holds all its logits at once.
        """
        outputs = self._outputs(inputs, lengths, z)  # (N, H)
        if torch.is_grad_enabled() or outputs.size(0) <= SCORE_ROWS:
            return self._nll(outputs, targets)
        return torch.cat([self._nll(rows, wanted)
                          for rows, wanted in zip(outputs.split(SCORE_ROWS), targets.split(SCORE_ROWS))])

    def _nll(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """-log p(target): outputs (N, H), targets (N,) -> (N,) float32."""
        if self.tied_adaptive:
            return self.output.nll(outputs, self.embedding.weight, targets)
        if self.adaptive:
            return adaptive_cross_entropy(self.output, outputs, targets)
        return linear_cross_entropy(outputs, self.output.weight, self.output.bias, targets)

    def step(self, tokens: torch.Tensor, hidden: torch.Tensor,
             z: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One decoding step: tokens (B,), hidden (layers, B, H) -> scores (B, V), new hidden."""
        inputs = self._inputs(tokens.unsqueeze(1), z)  # (B, 1, E [+ Z])
        outputs, hidden = self.rnn(inputs, hidden)  # (B, 1, H)
        return self.scores(self.output_dropout(outputs[:, 0])), hidden


class SentenceVAE(nn.Module):
    """Encoder + decoder, tensors in and tensors out. Without a latent (`latent_dim: 0` or
    `use_latent: false`) it is a GRU language model with exactly the same decoder: the baseline
    that benchmarks compare against.

    Text in / text out (a model with its tokenizer, save / load) is `pipeline.VAEPipeline`.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg) if cfg.has_latent else None
        self.decoder = Decoder(cfg)
        if self.encoder is not None and cfg.share_embeddings:
            self.encoder.embedding = self.decoder.embedding  # one table, trained by both
        self.bow_head = (nn.Linear(cfg.latent_dim, cfg.vocab_size)
                         if cfg.has_latent and cfg.bow_weight > 0 else None)

    @property
    def device(self) -> torch.device:
        return self.decoder.embedding.weight.device

    def reset_decoder(self) -> None:
        """Re-initialise the decoder's weights in place, as a newly built model has them (the
        parameters stay the same objects, so an optimizer and a DDP wrapper keep working)."""
        fresh = Decoder(self.cfg).to(self.device)
        with torch.no_grad():
            for (name, mine), new in zip(self.decoder.named_parameters(), fresh.parameters()):
                if name == "embedding.weight" and self.cfg.share_embeddings and self.encoder is not None:
                    continue  # the pretrained encoder's table too: kept
                mine.copy_(new)

    def posterior(self, tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, T+2), lengths (B,) -> mu, logvar (B, Z) of q(z | x)."""
        if self.encoder is None:
            raise ArgumentError("this model is a language model (latent_dim 0 / use_latent false): "
                                "it has no latent code to encode sentences into")
        return self.encoder(tokens[:, 1:], lengths)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor,
                sample_z: bool | None = None, z: torch.Tensor | None = None,
                eps: torch.Tensor | None = None, drop_uniform: torch.Tensor | None = None,
                encoder_uniform: torch.Tensor | None = None) -> VAEOutput:
        """Reconstruction NLL -log p(x | z) of a batch (see the module docstring for the layout).

        z is drawn with the reparameterisation trick when `sample_z` (default: in training) and is
        the posterior mean otherwise; pass `z` to score the batch under given codes instead.
        The noise can be given: `eps` (B, Z) standard normal for z, `drop_uniform` (B, >= T+1)
        uniform for word dropout, `encoder_uniform` (B, >= T+1, 3) uniform for the encoder-input
        noise (noise.py; training draws them per global batch, so that how a batch is split across
        processes does not change the result).
        """
        sample_z = self.training if sample_z is None else sample_z
        mu = logvar = None
        if self.encoder is not None and z is None:
            if self.training and self.cfg.encoder_noise:
                words, word_lengths = corrupt_encoder_input(
                    tokens[:, 1:], lengths, encoder_uniform, drop=self.cfg.encoder_word_drop,
                    mask=self.cfg.encoder_word_mask, shuffle=self.cfg.encoder_shuffle)
                mu, logvar = self.encoder(words, word_lengths)  # the decoder still gets the clean sentence
            else:
                mu, logvar = self.posterior(tokens, lengths)
            if sample_z:
                eps = torch.randn_like(mu) if eps is None else eps.to(mu)
                z = mu + eps * torch.exp(0.5 * logvar)
            else:
                z = mu
        inputs, targets = tokens[:, :-1], tokens[:, 1:]  # (B, T+1) each
        if self.training:
            uniform = None if drop_uniform is None else drop_uniform[:, : inputs.size(1)].to(inputs.device)
            inputs = word_dropout(inputs, self.cfg.word_dropout, uniform=uniform)
        batch = tokens.size(0)
        packed_targets = _pack(targets, lengths).data  # (N,) in the decoder's packed order
        owner = _pack(torch.arange(batch, device=tokens.device).unsqueeze(1).expand_as(targets),
                      lengths).data  # (N,) sentence index of each row
        token_nll = self.decoder.target_nll(inputs, lengths, z, packed_targets)  # (N,)
        rec = token_nll.new_zeros(batch).index_add_(0, owner, token_nll)  # (B,)
        bow = self.bag_of_words_nll(z, packed_targets, owner) if self.training else None
        return VAEOutput(rec=rec, num_tokens=lengths.to(rec.device, torch.float32), mu=mu,
                         logvar=logvar, z=z, bow=bow)

    def bag_of_words_nll(self, z: torch.Tensor | None, targets: torch.Tensor,
                         owner: torch.Tensor) -> torch.Tensor | None:
        """-sum over each sentence's targets of log softmax(W z)[target]: z (B, Z), the real
        targets (N,) in packed order and their sentence indices `owner` (N,), as `forward` has
        them -> (B,) float32; None without the head (model.bow_weight 0) or a code."""
        if self.bow_head is None or z is None:
            return None
        log_probs = torch.log_softmax(self.bow_head(z).float(), dim=-1)  # (B, V)
        picked = log_probs[owner, targets]  # (N,)
        return -picked.new_zeros(z.size(0)).index_add_(0, owner, picked)
