"""Training-time noise: decoder word dropout and the encoder-input corruption (shuffle, mask, drop)."""

import pytest
import torch

from sentvae.data import collate
from sentvae.noise import ENCODER_NOISE_CHANNELS, corrupt_encoder_input, word_dropout
from sentvae.tokenizer import BOS_ID, EOS_ID, PAD_ID, UNK_ID

BATCH = [[5, 6, 7], [8, 9], [10, 11, 12, 13, 14, 15, 16, 17, 18, 19], [], [20]]


def encoder_batch():
    tokens, lengths = collate(BATCH)
    return tokens[:, 1:], lengths  # (B, L) w_1 ... w_n <eos> <pad> ..., n + 1


def sentence(words, length):
    return words[: int(length)].tolist()


def test_word_dropout_at_one_replaces_everything_but_bos_and_padding():
    tokens, _ = collate(BATCH)
    inputs = tokens[:, :-1]
    dropped = word_dropout(inputs, 1.0)
    keep = (inputs == BOS_ID) | (inputs == PAD_ID)
    assert torch.equal(dropped[keep], inputs[keep])
    assert (dropped[~keep] == UNK_ID).all()
    assert torch.equal(word_dropout(inputs, 0.0), inputs)


def test_no_noise_is_the_identity():
    words, lengths = encoder_batch()
    out, out_lengths = corrupt_encoder_input(words, lengths)
    assert out is words and out_lengths is lengths


def test_drop_all_leaves_eos_alone_and_mask_all_leaves_unk_words():
    words, lengths = encoder_batch()
    dropped, dropped_lengths = corrupt_encoder_input(words, lengths, drop=1.0)
    assert dropped_lengths.tolist() == [1] * len(BATCH)
    assert (dropped[:, 0] == EOS_ID).all() and (dropped[:, 1:] == PAD_ID).all()
    masked, masked_lengths = corrupt_encoder_input(words, lengths, mask=1.0)
    assert torch.equal(masked_lengths, lengths)
    for row, ids in enumerate(BATCH):
        assert sentence(masked[row], lengths[row]) == [UNK_ID] * len(ids) + [EOS_ID]
        assert (masked[row, int(lengths[row]):] == PAD_ID).all()


def test_drop_deletes_exactly_the_drawn_words_and_keeps_their_order():
    words, lengths = encoder_batch()
    uniform = torch.ones(len(BATCH), words.size(1), ENCODER_NOISE_CHANNELS)
    uniform[2, [1, 4, 5], 2] = 0.0  # drop words 11, 14, 15 of the long sentence
    uniform[0, 3, 2] = 0.0  # position 3 of sentence 0 is its <eos>: never dropped
    out, out_lengths = corrupt_encoder_input(words, lengths, uniform, drop=0.5)
    assert sentence(out[2], out_lengths[2]) == [10, 12, 13, 16, 17, 18, 19, EOS_ID]
    assert (out[2, int(out_lengths[2]):] == PAD_ID).all()
    assert sentence(out[0], out_lengths[0]) == [5, 6, 7, EOS_ID]
    assert out_lengths.tolist() == [4, 3, 8, 1, 2]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_local_shuffle_permutes_words_at_most_k_places_and_keeps_eos_last(k):
    torch.manual_seed(0)
    words, lengths = encoder_batch()
    changed = False
    for _ in range(20):
        out, out_lengths = corrupt_encoder_input(words, lengths, shuffle=k)
        assert torch.equal(out_lengths, lengths)
        for row, ids in enumerate(BATCH):
            got = sentence(out[row], lengths[row])
            assert got[-1] == EOS_ID and sorted(got[:-1]) == sorted(ids)
            assert all(abs(got.index(w) - i) <= k for i, w in enumerate(ids)), (k, ids, got)
            changed |= got[:-1] != ids
    assert changed


def test_the_noise_is_a_function_of_the_draws():
    words, lengths = encoder_batch()
    uniform = torch.rand(len(BATCH), words.size(1) + 3, ENCODER_NOISE_CHANNELS)  # wider is fine
    settings = dict(drop=0.3, mask=0.2, shuffle=2)
    a = corrupt_encoder_input(words, lengths, uniform, **settings)
    b = corrupt_encoder_input(words, lengths, uniform, **settings)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
