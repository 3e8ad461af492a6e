"""Tests for the built-in grammar corpus (`sentvae.corpus`)."""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter

import pytest

from sentvae import corpus
from sentvae.corpus import Sentence, generate, is_grammatical, splits, vocabulary

LABEL_KEYS = {"tense", "number", "sentiment", "mood", "negated"}


@pytest.fixture(scope="module")
def sample() -> list[Sentence]:
    return generate(2000, seed=123)


# --- the recogniser accepts what the grammar generates -----------------------------------------

def test_every_generated_sentence_is_grammatical(sample):
    rejected = [s.text for s in sample if not is_grammatical(s.text)]
    assert rejected == []


@pytest.mark.parametrize("text", [
    "the dog sees a cat .",
    "the dogs see a cat .",
    "the dog saw the cats .",
    "the dog slept .",
    "a happy dog slept in the garden .",
    "the lovely little dog chased three red balls .",
    "the dog does not see the cat .",
    "the dogs did not see the cat .",
    "the cat is not happy .",
    "the cats were sleeping under the table .",
    "does the dog see the cat ?",
    "did the dogs not chase the cat ?",
    "is the dog happy ?",
    "were the boys in the kitchen ?",
    "who chased the cat ?",
    "who did the dog chase ?",
    "what is the boy eating in the kitchen ?",
    "where is the dog ?",
    "where did the girls sleep ?",
    "the dog that chased the cat slept .",
    "the cats that the dog chases are happy .",
    "the dog that chased the cat that ate the cake slept .",
    "the book which fell was on the table .",
    "  the dog   sleeps .  ",
    "the dog sleeps\t.\n",
])
def test_hand_written_grammatical_sentences_are_accepted(text):
    assert is_grammatical(text)


# --- ... and rejects what it does not ------------------------------------------------------------

@pytest.mark.parametrize("text", [
    # subject-verb agreement
    "the dogs sees a cat .",
    "the dog see a cat .",
    "the dogs is happy .",
    "the dog were happy .",
    "the dogs does not see the cat .",
    "do the dog see the cat ?",
    "is the dogs happy ?",
    "the dogs that chases the cat sleep .",
    "the dog that chase the cat sleeps .",
    "the cat that the dogs chases is happy .",
    # determiner-noun agreement
    "a dogs sleep .",
    "a happy dogs sleep .",
    "these dog sleeps .",
    "every cats sleep .",
    # tense: bare verb after do/does/did, one tense per sentence
    "did the dog chased the cat ?",
    "does the dog sees the cat ?",
    "the dog does not sees the cat .",
    "the dog did not chased the cat .",
    "the dog not sleeps .",
    "is the dog sleep ?",
    "the dog that chased the cat sleeps .",
    "the dog was sleeps .",
    # missing pieces, extra pieces, wrong punctuation
    "the dog .",
    "the dog the cat .",
    "the dog chased .",
    "chased the cat .",
    "who did the dog chase the cat ?",
    "the dog chased the cat",
    "the dog chased the cat . .",
    "the dog chased . the cat",
    "the dog slept ?",
    "did the dog sleep .",
    ".",
    # word salad, unknown words, case, empty
    "dog the chased cat the .",
    "cat happy the is .",
    "sleeps sleeps sleeps .",
    "the dog chased the xylophone .",
    "the dog chased the cat !",
    "The dog slept .",
    "",
    "   ",
    # grammar-specific restrictions (documented in the module)
    "the book chased the cat .",
    "the dog is happy happy .",
    "what did the dog not eat ?",
])
def test_ungrammatical_sentences_are_rejected(text):
    assert not is_grammatical(text)


def test_shuffled_sentences_are_rejected(sample):
    rng = random.Random(0)
    checked = 0
    for sentence in sample[:300]:
        tokens = sentence.text.split()
        shuffled = tokens[:]
        rng.shuffle(shuffled)
        if shuffled == tokens:
            continue
        if shuffled[-1] in (".", "?"):  # keep the punctuation off the end: surely ungrammatical
            k = rng.randrange(len(shuffled) - 1)
            shuffled[k], shuffled[-1] = shuffled[-1], shuffled[k]
        assert not is_grammatical(" ".join(shuffled)), (sentence.text, shuffled)
        checked += 1
    assert checked > 250


def test_shuffles_that_keep_the_punctuation_are_almost_all_rejected(sample):
    rng = random.Random(1)
    tried = accepted = 0
    for sentence in sample[:500]:
        tokens = sentence.text.split()
        body = tokens[:-1]
        rng.shuffle(body)
        if body == tokens[:-1]:
            continue
        tried += 1
        # a few shuffles are grammatical ("our baskets that move fall ."), most are not
        accepted += is_grammatical(" ".join(body + tokens[-1:]))
    assert accepted <= 0.05 * tried


def test_length_cap_is_part_of_the_language():
    # derivable by the rules, but 32 tokens long: outside the language (MAX_LEN = 30)
    text = ("the lovely big dog that chased the lovely big cat with the lovely big mouse chased "
            "the lovely big cat that the lovely big dog chased in the lovely big house .")
    tokens = text.split()
    assert len(tokens) == 32 > corpus.MAX_LEN
    word_cats = corpus._tables().word_cats
    assert corpus._recognise(tuple(word_cats[w] for w in tokens))
    assert not is_grammatical(text)


def _reference_recognise(tokens: list[str]) -> bool:
    """A plain Earley recogniser over the same rule tables (no pruning, no caching)."""
    tables = corpus._tables()
    rules, lexicon = tables.rules, tables.lexicon
    n = len(tokens)
    if n == 0 or n > corpus.MAX_LEN or any(t not in tables.word_cats for t in tokens):
        return False
    chart: list[set] = [set() for _ in range(n + 1)]
    goal = ("<start>", ("S",), 1, 0)
    chart[0].add(("<start>", ("S",), 0, 0))
    for i in range(n + 1):
        agenda = list(chart[i])
        while agenda:
            lhs, rhs, dot, start = agenda.pop()
            if dot < len(rhs):
                sym = rhs[dot]
                if sym in lexicon:  # scan
                    if i < n and tokens[i] in lexicon[sym]:
                        chart[i + 1].add((lhs, rhs, dot + 1, start))
                else:  # predict (the grammar has no empty rules)
                    for alt in rules[sym]:
                        item = (sym, alt, 0, i)
                        if item not in chart[i]:
                            chart[i].add(item)
                            agenda.append(item)
            else:  # complete
                for lhs2, rhs2, dot2, start2 in list(chart[start]):
                    if dot2 < len(rhs2) and rhs2[dot2] == lhs:
                        item = (lhs2, rhs2, dot2 + 1, start2)
                        if item not in chart[i]:
                            chart[i].add(item)
                            agenda.append(item)
    return goal in chart[n]


def test_recogniser_agrees_with_a_reference_earley_parser():
    rng = random.Random(2)
    vocab = vocabulary()
    cases = []
    for sentence in generate(100, seed=7):
        tokens = sentence.text.split()
        cases.append(tokens)
        for _ in range(5):  # substitute, delete, insert or swap a token
            t = tokens[:]
            i, op = rng.randrange(len(t)), rng.randrange(4)
            if op == 0:
                t[i] = rng.choice(vocab)
            elif op == 1:
                del t[i]
            elif op == 2:
                t.insert(i, rng.choice(vocab))
            else:
                j = rng.randrange(len(t))
                t[i], t[j] = t[j], t[i]
            cases.append(t)
    verdicts = [is_grammatical(" ".join(t)) for t in cases]
    assert verdicts == [_reference_recognise(t) for t in cases]
    assert 100 < sum(verdicts) < len(cases) - 100  # both kinds were exercised


# --- the grammar itself ------------------------------------------------------------------------

def test_grammar_structure():
    tables = corpus._tables()  # building the tables checks the grammar is acyclic
    punctuation = {"Period", "Qmark"}
    reachable, todo = {"S"}, ["S"]
    while todo:
        for rhs in tables.rules.get(todo.pop(), ()):
            for sym in rhs:
                if sym not in reachable:
                    reachable.add(sym)
                    todo.append(sym)
    # every nonterminal and every preterminal is used, so vocabulary() only lists producible words
    assert reachable >= set(tables.rules) - {"S"}
    assert reachable >= set(tables.lexicon)
    # punctuation only ends a sentence
    for lhs, alts in tables.rules.items():
        for rhs in alts:
            inner = set(rhs[:-1]) & punctuation
            assert not inner, (lhs, rhs)
            if rhs[-1] in punctuation:
                assert lhs in tables.roots, (lhs, rhs)
    for root in tables.roots:
        assert all(rhs[-1] in punctuation for rhs in tables.rules[root])
    assert tables.min_len["S"] >= 4
    # nouns and adjectives never start with a vowel, so "a" is always the right article
    for pre, words in tables.lexicon.items():
        if pre.startswith(("N.", "Adj.")):
            assert all(w[0] not in "aeiou" for w in words), pre


# --- generation ----------------------------------------------------------------------------------

def test_generation_is_deterministic_per_seed():
    a, b = generate(200, seed=5), generate(200, seed=5)
    assert a == b
    assert generate(50, seed=5) == a[:50]
    c = generate(200, seed=6)
    assert [s.text for s in a] != [s.text for s in c]
    assert sum(x.text != y.text for x, y in zip(a, c)) > 150
    assert generate(0) == []


def test_generation_does_not_touch_the_global_rng():
    random.seed(99)
    expected = random.random()
    random.seed(99)
    generate(20, seed=1)
    assert random.random() == expected


def test_sentence_is_frozen_and_hashable(sample):
    s = sample[0]
    assert isinstance(s.text, str) and isinstance(s.labels, dict)
    with pytest.raises(AttributeError):
        s.text = "x"
    assert len({s, Sentence(s.text, dict(s.labels))}) == 1


def test_labels_have_the_documented_keys_and_values(sample):
    for s in sample:
        assert set(s.labels) == LABEL_KEYS
        for key, value in s.labels.items():
            assert value in corpus.LABEL_VALUES[key], (key, value)


def test_labels_agree_with_the_text(sample):
    positive, negative = set(), set()
    for (_slot, sentiment, _animacy), words in corpus._ADJECTIVES.items():
        {"positive": positive, "negative": negative}.get(sentiment, set()).update(words.split())
    for s in sample:
        tokens = s.text.split()
        assert s.labels["mood"] == ("question" if tokens[-1] == "?" else "declarative")
        assert s.labels["negated"] == ("true" if "not" in tokens else "false")
        pos = sum(t in positive for t in tokens)
        neg = sum(t in negative for t in tokens)
        expected = "positive" if pos > neg else "negative" if neg > pos else "neutral"
        assert s.labels["sentiment"] == expected
        if tokens[0] in ("does", "is", "do", "are"):
            assert s.labels["tense"] == "present"
        if tokens[0] in ("did", "was", "were"):
            assert s.labels["tense"] == "past"
        if tokens[0] in ("does", "is", "was"):
            assert s.labels["number"] == "singular"
        if tokens[0] in ("do", "are", "were"):
            assert s.labels["number"] == "plural"


def test_label_factors_are_varied(sample):
    for key in ("tense", "number", "mood", "sentiment", "negated"):
        counts = Counter(s.labels[key] for s in sample)
        for value in corpus.LABEL_VALUES[key]:
            assert counts[value] > 0.05 * len(sample), (key, value, counts)


def test_length_statistics(sample):
    lengths = [len(s.text.split()) for s in sample]
    assert min(lengths) >= 4
    assert max(lengths) <= corpus.MAX_LEN == 30
    assert 8 <= statistics.mean(lengths) <= 12
    assert sum(4 <= n <= 20 for n in lengths) >= 0.95 * len(lengths)


def test_text_format(sample):
    for s in sample:
        assert s.text == s.text.strip() and "  " not in s.text
        assert s.text == s.text.lower()
        assert s.text.endswith((" .", " ?"))


# --- vocabulary ----------------------------------------------------------------------------------

def test_vocabulary(sample):
    vocab = vocabulary()
    assert vocab == sorted(set(vocab))
    assert 200 <= len(vocab) <= 450
    assert "." in vocab and "?" in vocab
    used = {tok for s in sample for tok in s.text.split()}
    assert used <= set(vocab)
    assert len(used) > 0.8 * len(vocab)


# --- splits --------------------------------------------------------------------------------------

def test_splits_sizes_determinism_and_labels():
    parts = splits(train=300, valid=40, test=50, seed=3)
    assert set(parts) == {"train", "valid", "test"}
    assert [len(parts[k]) for k in ("train", "valid", "test")] == [300, 40, 50]
    assert parts == splits(train=300, valid=40, test=50, seed=3)
    other = splits(train=300, valid=40, test=50, seed=4)
    assert [s.text for s in other["train"]] != [s.text for s in parts["train"]]
    # each split has its own stream: sizes of one split do not change another
    smaller = splits(train=10, valid=40, test=5, seed=3)
    assert smaller["valid"] == parts["valid"]
    assert smaller["train"] == parts["train"][:10]
    assert [s.text for s in parts["valid"]] != [s.text for s in parts["train"][:40]]
    for sentences in parts.values():
        for s in sentences:
            assert set(s.labels) == LABEL_KEYS
            assert is_grammatical(s.text)
    assert splits(train=0, valid=0, test=0) == {"train": [], "valid": [], "test": []}


# --- speed ---------------------------------------------------------------------------------------

def test_recogniser_speed():
    texts = [s.text for s in generate(2000, seed=321)]
    corpus._recognise.cache_clear()  # time cold parses
    start = time.perf_counter()
    assert all(is_grammatical(t) for t in texts)
    assert time.perf_counter() - start < 2.0
