"""Raw reviews normalised into the model's tokens like its PTB-tokenised corpus (tokenizer.py,
summarize/tokens.py)."""

import pytest

from sentvae.summarize.tokens import normaliser, splits_punctuation
from sentvae.tokenizer import TextTokenizer


@pytest.fixture(scope="module")
def yelp_style_tokenizer():
    """A tokenizer trained like configs/yelp.yaml on a few PTB-tokenised review sentences."""
    corpus = ["i did n't like it .", "it 's great , we 'll be back !", "$ _num_ for the `` special '' .",
              "they ca n't cook ... sad ?", "i 'm gon na say it was n't good ."] * 3
    return TextTokenizer.train(corpus, kind="word", lowercase=True, split_punctuation=True)


def test_raw_reviews_are_normalised_like_the_ptb_tokenised_corpus(yelp_style_tokenizer, tmp_path):
    yelp_style_tokenizer.save(tmp_path / "tokenizer.json")
    tok = TextTokenizer.load(tmp_path / "tokenizer.json")  # the normalisation travels in the file
    assert tok.tokens("I didn't like it.") == ["i", "did", "n't", "like", "it", "."]
    assert tok.tokens("It’s great, we'll be back!!!") == ["it", "'s", "great", ",", "we", "'ll", "be", "back", "!"]
    assert tok.tokens('$10.99 for the "special".') == ["$", "_num_", "for", "the", "``", "special", "''", "."]
    assert tok.tokens("They can't cook.... Sad?!") == ["they", "ca", "n't", "cook", "...", "sad", "?"]
    assert tok.tokens("I'm gonna say it wasn't good") == ["i", "'m", "gon", "na", "say", "it", "was", "n't", "good"]
    # already tokenised text is left as it is
    assert tok.tokens("i did n't like the `` special '' , $ _num_ .") == \
        "i did n't like the `` special '' , $ _num_ .".split()


def test_a_whitespace_tokenizer_gets_the_same_tokens_through_the_python_fallback(yelp_style_tokenizer):
    corpus = ["i did n't like it .", "it 's great , we 'll be back !", "$ _num_ for the `` special '' .",
              "they ca n't cook ... sad ?", "i 'm gon na say it was n't good ."] * 3
    plain = TextTokenizer.train(corpus, kind="word", lowercase=True)
    assert splits_punctuation(yelp_style_tokenizer) and not splits_punctuation(plain)
    raw = ["I didn't like it!!!", 'It’s "great"... $10 for the special?!', "Gonna say they can't cook."]
    for text in raw:
        assert normaliser(plain)(text) == normaliser(yelp_style_tokenizer)(text)
    assert normaliser(plain)("I didn't pay $5.") == ["i", "did", "n't", "<unk>", "$", "_num_", "."]


def test_numbers_stay_unless_the_corpus_uses_a_placeholder():
    tok = TextTokenizer.train(["we paid $ 10 .", "it 's 9:00 ."], kind="word", lowercase=True,
                              split_punctuation=True)
    assert tok.tokens("We paid $10.") == ["we", "paid", "$", "10", "."]
