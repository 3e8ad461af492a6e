"""Tokenizer: special-token ids, round trips, PTB's <unk> literal, save/load."""

import pytest

from sentvae.tokenizer import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID, TextTokenizer

TEXTS = ["the dog sees a cat .", "a cat sleeps .", "did the dog see the <unk> ?", "N years old ."]


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_special_token_ids(kind):
    tok = TextTokenizer.train(TEXTS * 5, kind=kind, vocab_size=60)
    assert [tok.hf.token_to_id(t) for t in SPECIAL_TOKENS] == [PAD_ID, UNK_ID, BOS_ID, EOS_ID] == [0, 1, 2, 3]


def test_word_round_trip_and_unknown_words():
    tok = TextTokenizer.train(TEXTS, kind="word")
    assert tok.decode(tok.encode("the dog sees a cat .")) == "the dog sees a cat ."
    assert tok.encode("the zebra") == [tok.hf.token_to_id("the"), UNK_ID]


def test_ptb_unk_literal_maps_to_the_special_id():
    tok = TextTokenizer.train(TEXTS, kind="word")
    assert tok.encode("<unk>") == [UNK_ID]
    ids = list(range(tok.vocab_size))
    assert sorted(tok.hf.get_vocab().values()) == ids, "ids must be dense 0..V-1"


def test_bpe_round_trip_of_seen_words():
    tok = TextTokenizer.train(TEXTS * 10, kind="bpe", vocab_size=80)
    assert tok.decode(tok.encode("the dog sees a cat .")) == "the dog sees a cat ."


def test_decode_stops_at_eos_and_drops_padding():
    tok = TextTokenizer.train(TEXTS, kind="word")
    the, dog = tok.encode("the dog")
    assert tok.decode([BOS_ID, the, dog, EOS_ID, the, PAD_ID]) == "the dog"


def test_lowercase_and_punctuation_split_travel_in_the_file(tmp_path):
    tok = TextTokenizer.train(["the dog , the cat ."], kind="word", lowercase=True, split_punctuation=True)
    tok.save(tmp_path / "tokenizer.json")
    again = TextTokenizer.load(tmp_path / "tokenizer.json")
    assert again.tokens("The DOG, the cat.") == ["the", "dog", ",", "the", "cat", "."]
    assert again.encode("The dog.") == tok.encode("the dog .")


def test_empty_corpus_is_an_error():
    from sentvae.errors import DataError

    with pytest.raises(DataError):
        TextTokenizer.train(["", "   "], kind="word")


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_control_tokens_spelled_in_user_text_become_unk(kind):
    """"the dog <eos> sees a cat" must not end after "dog": only the model writes <eos>."""
    tok = TextTokenizer.train(["the dog sees a cat", "a cat sees the dog"] * 20, kind=kind, vocab_size=60)
    for literal in ("<eos>", "<pad>", "<bos>"):
        ids = tok.encode(f"the dog {literal} sees a cat")
        assert PAD_ID not in ids and BOS_ID not in ids and EOS_ID not in ids
        assert UNK_ID in ids
        assert tok.encode_batch([f"the dog {literal} sees a cat"]) == [ids]
    assert tok.decode(tok.encode("the dog <eos> sees a cat")).endswith("sees a cat")
