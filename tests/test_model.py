"""Model: shapes, word dropout, padding invariance, the language-model mode."""

import pytest
import torch

from sentvae.config import ModelConfig
from sentvae.data import collate
from sentvae.errors import ArgumentError
from sentvae.model import SentenceVAE
from sentvae.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID

V = 40


def tiny(**overrides) -> SentenceVAE:
    torch.manual_seed(0)
    settings = dict(vocab_size=V, embed_dim=12, encoder_hidden_dim=10, decoder_hidden_dim=14,
                    latent_dim=6, word_dropout=0.0, output_dropout=0.0)
    cfg = ModelConfig(**{**settings, **overrides})
    return SentenceVAE(cfg).eval()


BATCH = [[5, 6, 7], [8, 9], [10, 11, 12, 13, 14], [15]]


def test_output_shapes():
    model = tiny()
    tokens, lengths = collate(BATCH)
    assert tokens.shape == (4, 7) and lengths.tolist() == [4, 3, 6, 2]
    out = model(tokens, lengths)
    assert out.rec.shape == (4,) and out.mu.shape == (4, 6) and out.logvar.shape == (4, 6)
    assert out.z.shape == (4, 6) and (out.rec > 0).all()
    logits = model.decoder(tokens[:, :-1], lengths, out.z)
    assert logits.shape == (int(lengths.sum()), V), "only real positions are projected"


@pytest.mark.parametrize("layers, bidirectional", [(1, True), (2, False), (2, True)])
def test_encoder_and_decoder_layers(layers, bidirectional):
    """Which hidden state feeds which layer, checked against a GRU written out by hand from the
    weights, one unpadded sentence at a time (no packing): the encoder's Gaussian reads the final
    state of every layer and direction, layer-major (l0 fwd, l0 bwd, l1 fwd, ...); the decoder's
    layer l starts from the l-th chunk of tanh(latent_to_hidden(z))."""
    model = tiny(encoder_layers=layers, decoder_layers=layers, bidirectional=bidirectional).double()
    encoder, decoder = model.encoder, model.decoder
    tokens, lengths = collate(BATCH)
    batch, hidden = tokens.size(0), model.cfg.decoder_hidden_dim

    def gru_by_hand(rnn, x, h0=None):
        """x (T, In) one sequence -> (top-layer outputs (T, D*H), finals [(layer, direction)])."""
        finals = []
        for layer in range(rnn.num_layers):
            per_direction = []
            for direction, suffix in enumerate(["", "_reverse"][: 2 if rnn.bidirectional else 1]):
                w_ih, w_hh, b_ih, b_hh = (getattr(rnn, f"{name}_l{layer}{suffix}")
                                          for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
                h = x.new_zeros(rnn.hidden_size) if h0 is None else h0[layer]
                steps = range(x.size(0) - 1, -1, -1) if direction else range(x.size(0))
                outputs = [None] * x.size(0)
                for t in steps:
                    r_i, z_i, n_i = (w_ih @ x[t] + b_ih).chunk(3)
                    r_h, z_h, n_h = (w_hh @ h + b_hh).chunk(3)
                    r, update = torch.sigmoid(r_i + r_h), torch.sigmoid(z_i + z_h)
                    h = (1 - update) * torch.tanh(n_i + r * n_h) + update * h
                    outputs[t] = h
                per_direction.append(torch.stack(outputs))
                finals.append(h)
            x = torch.cat(per_direction, dim=-1)
        return x, finals

    with torch.no_grad():
        # Encoder: mu, logvar from the final states of all layers and directions, in that order.
        ids = tokens[:, 1:]
        mu, logvar = encoder(ids, lengths)
        assert mu.shape == logvar.shape == (batch, model.cfg.latent_dim)
        for b in range(batch):
            _, finals = gru_by_hand(encoder.rnn, encoder.embedding(ids[b, : lengths[b]]))
            assert len(finals) == layers * (2 if bidirectional else 1)
            expected_mu, expected_logvar = encoder.to_gaussian(torch.cat(finals)).chunk(2)
            assert torch.allclose(mu[b], expected_mu) and torch.allclose(logvar[b], expected_logvar)

        # Decoder: h0 of layer l is the l-th chunk of tanh(latent_to_hidden(z)) ...
        z = mu
        h0 = decoder.initial_hidden(z, batch)
        assert h0.shape == (layers, batch, hidden)
        full = torch.tanh(decoder.latent_to_hidden(z))  # (B, layers * H)
        for layer in range(layers):
            assert torch.allclose(h0[layer], full[:, layer * hidden:(layer + 1) * hidden])
        # ... and the scores of every real position are those of a GRU started there.
        inputs = tokens[:, :-1]
        scores = decoder(inputs, lengths, z)  # (N, V) in packed order
        expected = torch.zeros(batch, inputs.size(1), V, dtype=scores.dtype)
        for b in range(batch):
            n = int(lengths[b])
            x = torch.cat([decoder.embedding(inputs[b, :n]), z[b].expand(n, -1)], dim=-1)
            top, _ = gru_by_hand(decoder.rnn, x, h0=[full[b, l * hidden:(l + 1) * hidden]
                                                     for l in range(layers)])
            expected[b, :n] = decoder.scores(top)
        packed = torch.nn.utils.rnn.pack_padded_sequence(expected, lengths, batch_first=True,
                                                         enforce_sorted=False).data
        assert torch.allclose(scores, packed)


def test_word_dropout_only_in_training(monkeypatch):
    model = tiny(word_dropout=1.0)
    seen = []
    original = model.decoder.target_nll
    monkeypatch.setattr(model.decoder, "target_nll",
                        lambda inputs, *rest: seen.append(inputs.clone()) or original(inputs, *rest))
    tokens, lengths = collate(BATCH)
    model.eval()(tokens, lengths)
    model.train()(tokens, lengths)
    assert torch.equal(seen[0], tokens[:, :-1])
    real = (seen[1] != PAD_ID) & (seen[1] != BOS_ID)
    assert (seen[1][real] == UNK_ID).all()


def test_padding_never_changes_the_loss():
    model = tiny()
    tokens, lengths = collate(BATCH)
    padded = torch.cat([tokens, torch.full((4, 9), PAD_ID)], dim=1)
    noisy = padded.clone()
    noisy[:, tokens.size(1):] = 7  # garbage beyond the lengths must be ignored too
    a, b, c = model(tokens, lengths), model(padded, lengths), model(noisy, lengths)
    assert torch.allclose(a.rec, b.rec) and torch.allclose(a.rec, c.rec)
    alone = torch.cat([model(*collate([ids])).rec for ids in BATCH])
    assert torch.allclose(a.rec, alone, atol=1e-5), "a sentence's loss must not depend on its batch"


def test_encoder_noise_only_in_training_and_the_decoder_keeps_the_clean_sentence(monkeypatch):
    model = tiny(encoder_word_drop=1.0)
    tokens, lengths = collate(BATCH)
    seen = []
    original = model.decoder.target_nll
    monkeypatch.setattr(model.decoder, "target_nll",
                        lambda inputs, lengths, z, targets: seen.append(targets) or original(inputs, lengths, z, targets))
    clean = model.eval()(tokens, lengths)
    noisy = model.train()(tokens, lengths, eps=torch.zeros(4, 6))
    eos_only, eos_lengths = collate([[] for _ in BATCH])
    expected_mu, _ = model.posterior(eos_only, eos_lengths)  # every word dropped: <eos> alone
    assert torch.allclose(noisy.mu, expected_mu, atol=1e-6)
    assert torch.allclose(clean.mu, model.posterior(tokens, lengths)[0])
    assert not torch.allclose(clean.mu, noisy.mu)
    assert torch.equal(seen[0], seen[1]), "the decoder's targets are the clean sentence"


def test_reset_decoder_gives_fresh_weights_and_keeps_the_encoder():
    model = tiny()
    encoder_before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.add_(1.0)
    parameters = list(model.decoder.parameters())
    torch.manual_seed(5)
    model.reset_decoder()
    torch.manual_seed(5)
    fresh = type(model.decoder)(model.cfg)
    assert all(a is b for a, b in zip(parameters, model.decoder.parameters())), "same objects"
    for (name, mine), theirs in zip(model.decoder.named_parameters(), fresh.parameters()):
        assert torch.equal(mine, theirs), name
    for name, value in model.encoder.state_dict().items():
        assert torch.equal(value, encoder_before[name]), name


def test_mean_at_evaluation_and_sample_in_training():
    model = tiny()
    tokens, lengths = collate(BATCH)
    out = model(tokens, lengths)
    assert torch.equal(out.z, out.mu)
    torch.manual_seed(1)
    model.train()
    out = model(tokens, lengths)
    assert not torch.allclose(out.z, out.mu)


@pytest.mark.parametrize("overrides", [{"latent_dim": 0}, {"use_latent": False}])
def test_language_model_mode(overrides):
    model = tiny(**overrides)
    assert model.encoder is None and model.decoder.latent_to_hidden is None
    tokens, lengths = collate(BATCH)
    out = model(tokens, lengths)
    assert out.mu is None and out.z is None and out.rec.shape == (4,)
    with pytest.raises(ArgumentError, match="language model"):
        model.posterior(tokens, lengths)
    vae = tiny()
    assert vae.decoder.rnn.input_size == model.decoder.rnn.input_size + 6


def test_latent_every_step_switch_and_tied_embeddings():
    model = tiny(latent_every_step=False, tie_embeddings=True, embed_dim=14)
    assert model.decoder.rnn.input_size == 14
    assert model.decoder.output.weight is model.decoder.embedding.weight
    tokens, lengths = collate(BATCH)
    assert model(tokens, lengths).rec.shape == (4,)


ADAPTIVE = dict(adaptive_softmax_cutoffs=[10, 25], adaptive_softmax_div=2.0)
TIED_ADAPTIVE = dict(adaptive_softmax_cutoffs=[10, 25], tie_embeddings=True, embed_dim=14)


@pytest.mark.parametrize("settings", [ADAPTIVE, TIED_ADAPTIVE], ids=["untied", "tied"])
def test_adaptive_softmax_is_a_normalised_distribution_scored_without_the_full_vocabulary(monkeypatch, settings):
    model = tiny(**settings)
    tokens, lengths = collate([[5, 6, 30], [8, 39], [12, 20, 11, 26, 14], [15]])  # every cluster used
    out = model(tokens, lengths)
    scores = model.decoder(tokens[:, :-1], lengths, out.z)  # (N, V) log-probabilities
    assert scores.shape == (int(lengths.sum()), V)
    assert torch.allclose(scores.exp().sum(-1), torch.ones(scores.size(0)), atol=1e-5)
    # the training path (head + the targets' clusters only) gives the same per-sentence NLL
    targets = torch.nn.utils.rnn.pack_padded_sequence(tokens[:, 1:], lengths, batch_first=True,
                                                      enforce_sorted=False).data
    by_row = -scores.gather(1, targets.unsqueeze(1))[:, 0]
    assert torch.allclose(model.decoder.target_nll(tokens[:, :-1], lengths, out.z, targets), by_row,
                          atol=1e-5)
    assert torch.allclose(out.rec.sum(), by_row.sum(), atol=1e-4)
    # training never asks for the whole distribution
    monkeypatch.setattr(model.decoder.output, "log_prob", lambda *_: pytest.fail("full softmax"))
    model.train()(tokens, lengths).rec.sum().backward()
    if model.decoder.tied_adaptive:  # rare words learn through the rows they share
        # 35 is no input of the batch, but its cluster [25, 40) holds targets (26, 30, 39): its row
        # gets a gradient from the output layer alone
        assert model.decoder.embedding.weight.grad[35].abs().sum() > 0
    else:
        assert model.decoder.output.tail[1][1].weight.grad is not None  # rare words learn


def test_the_tied_adaptive_softmax_scores_words_by_the_embedding_table_it_shares():
    model = tiny(**TIED_ADAPTIVE)
    output = model.decoder.output
    assert not any(p.shape == model.decoder.embedding.weight.shape for p in output.parameters())
    names = {name for name, _ in model.named_parameters()}
    assert {"decoder.output.bias", "decoder.output.cluster_weight"} <= names
    hidden = torch.randn(3, 14)
    before = model.decoder.scores(hidden)
    with torch.no_grad():
        model.decoder.embedding.weight[30] += 1.0  # one rare word's row: only its score moves
    after = model.decoder.scores(hidden)
    moved = (after - before).abs().gt(1e-6).any(0).nonzero()[:, 0].tolist()
    # word 30's logit changes, and with it the normalisation of its cluster [25, 40) only
    assert 30 in moved and all(25 <= word < 40 for word in moved)


@pytest.mark.parametrize("settings", [ADAPTIVE, TIED_ADAPTIVE], ids=["untied", "tied"])
def test_adaptive_softmax_decodes_with_the_probabilities_it_trains_on(settings):
    from sentvae.decoding import DecodingOptions, _decode_stepwise
    from sentvae.tokenizer import EOS_ID

    model = tiny(**settings)
    with torch.no_grad():  # sentences end within max_length
        bias = model.decoder.output.bias if model.decoder.tied_adaptive else model.decoder.output.head.bias
        bias[EOS_ID] += 2.0
    z = torch.randn(16, 6)
    for strategy in ("greedy", "sample"):
        ids, logprob = _decode_stepwise(model, z, 16, DecodingOptions(strategy=strategy, max_length=30),
                                        torch.Generator().manual_seed(0))
        assert all(len(row) < 30 for row in ids)
        tokens, lengths = collate(ids)
        teacher_forced = -model(tokens, lengths, z=z).rec  # (16,) includes <eos>
        assert torch.allclose(teacher_forced, torch.tensor(logprob), atol=1e-4)


def test_the_latent_changes_the_decoder():
    model = tiny()
    tokens, lengths = collate(BATCH)
    z = torch.zeros(4, 6)
    assert not torch.allclose(model(tokens, lengths, z=z).rec, model(tokens, lengths, z=z + 3).rec)


def test_shared_embeddings_are_one_table_used_by_both_and_kept_by_a_decoder_reset():
    separate, shared = tiny(), tiny(share_embeddings=True)
    assert shared.encoder.embedding.weight is shared.decoder.embedding.weight
    saved = sum(p.numel() for p in separate.parameters()) - sum(p.numel() for p in shared.parameters())
    assert saved == V * 12
    tokens, lengths = collate(BATCH)
    for model in (separate, shared):  # a loss of the posterior only reaches the table through the encoder
        model.posterior(tokens, lengths)[0].sum().backward()
    assert separate.decoder.embedding.weight.grad is None
    assert shared.decoder.embedding.weight.grad[5].abs().sum() > 0  # id 5 is in the batch
    table = shared.decoder.embedding.weight.detach().clone()
    shared.reset_decoder()
    assert torch.equal(shared.decoder.embedding.weight, table), "the pretrained encoder's table is kept"
    assert shared.encoder.embedding.weight is shared.decoder.embedding.weight


def test_the_bag_of_words_loss_scores_each_target_word_from_z_alone_in_training_only():
    model = tiny(bow_weight=1.0).train()
    tokens, lengths = collate(BATCH)
    padded = torch.cat([tokens, torch.full((4, 3), 7)], dim=1)  # garbage past the lengths
    out = model(padded, lengths)
    log_probs = torch.log_softmax(model.bow_head(out.z), dim=-1)  # (B, V)
    for row, ids in enumerate(BATCH):
        targets = torch.tensor(ids + [tokens[row, len(ids) + 1].item()])  # the words and <eos>
        assert torch.allclose(out.bow[row], -log_probs[row, targets].sum(), atol=1e-5)
    out.bow.sum().backward()
    assert model.bow_head.weight.grad.abs().sum() > 0 and model.encoder.embedding.weight.grad.abs().sum() > 0
    assert model.eval()(tokens, lengths).bow is None
    assert tiny().bow_head is None and tiny(bow_weight=1.0, latent_dim=0).bow_head is None


def test_a_pooled_encoder_summary_adds_the_mean_and_maximum_of_the_real_positions_only():
    plain, pooled = tiny(), tiny(encoder_pooling=True)
    hidden = 10  # encoder_hidden_dim; bidirectional, one layer: 2 final states, then 2 means and 2 maxima
    assert (plain.encoder.to_gaussian.in_features, pooled.encoder.to_gaussian.in_features) == (2 * hidden, 6 * hidden)
    tokens, lengths = collate(BATCH)
    noisy = torch.cat([tokens, torch.full((4, 9), 7)], dim=1)  # garbage past the lengths
    mu = pooled(tokens, lengths).mu
    assert torch.allclose(mu, pooled(noisy, lengths).mu, atol=1e-6)
    alone = torch.cat([pooled(*collate([ids])).mu for ids in BATCH])
    assert torch.allclose(mu, alone, atol=1e-6)
    # by hand, for the longest sentence (no padding): GRU outputs (1, T, 2H) -> mean, max over T
    ids = torch.tensor([BATCH[2]])
    encoder = pooled.encoder
    outputs, final = encoder.rnn(encoder.embedding(torch.cat([ids, torch.tensor([[EOS_ID]])], 1)))  # words + <eos>
    summary = torch.cat([final.transpose(0, 1).reshape(1, -1), outputs.mean(1), outputs.amax(1)], dim=-1)
    expected_mu = encoder.to_gaussian(summary).chunk(2, dim=-1)[0]
    assert torch.allclose(mu[2:3], expected_mu, atol=1e-6)
