"""The built-in corpus: a seeded probabilistic context-free grammar of English-like sentences.

Used when no training data is given, by the demo, and by tests that measure how many sentences
sampled from a model are grammatical. Pure standard library.

Grammar
-------
Tokens are lower-case words separated by single spaces; every sentence ends with a separate
``.`` or ``?``. Nonterminals carry features -- number ``n`` (sg/pl), tense ``t`` (pres/past),
animacy ``a`` (animate/inanimate) and an embedding depth -- and the rules are written out for
every feature value, so agreement is part of the context-free grammar itself::

    S        -> NP[n] VP[t,n] "."                                       declarative
              | NP[n] DO[t,n] "not" VPbare "."  |  NP[n] BE[t,n] "not" BEPRED "."
              | DO[t,n] NP[n] ("not") VPbare "?" |  BE[t,n] NP[n] ("not") BEPRED "?"   yes/no
              | ("who" | "what") VP[t,sg] "?"      wh-subject (VP not a bare intransitive)
              | ("who" | "what") DO[t,n] NP[n] Vt.base (PP) "?"         wh-object
              | ("who" | "what") BE[t,n] NP[n] Vt.ing (PP) "?"
              | "where" DO[t,n] NP[n] VPbare "?"  |  "where" BE[t,n] NP[n] "?"   (no PP here)
    NP[n]    -> DET[n] (ADJ (ADJ)) N[n] (PP | RC[n])    adjectives in opinion < size < colour order
    VP[t,n]  -> Vt[t,n] NP (PP) | Vi[t,n] (PP) | BE[t,n] BEPRED
    VPbare   -> Vt.base NP (PP) | Vi.base (PP)
    BEPRED   -> ADJ | PP | Vt.ing NP (PP) | Vi.ing (PP)
    PP       -> P NP
    RC[n]    -> REL Vt[t,n] NP | REL Vi[t,n] (PP) | REL BE[t,n] (ADJ | PP)   subject relative
              | REL NP[m] Vt[t,m]          object relative (main-clause noun phrases only)
    DO[t,n]  -> does | do | did          BE[t,n] -> is | are | was | were
    Vt[t,n]  -> sees | see | saw ...     Vi[t,n] -> sleeps | sleep | slept ...

Constraints enforced by the features:

* subject-verb number agreement in every clause (``does``/``is``/``-s`` with singular subjects,
  ``do``/``are``/bare verb with plural ones; ``did``/``was``/``were`` likewise); determiners agree
  with their noun (``a dog``, ``these dogs``, never ``a dogs``);
* one tense per sentence: every finite verb and auxiliary, including those inside relative
  clauses, is present or every one is past; after ``do``/``does``/``did`` the verb is bare;
* animacy: transitive verbs and animate-only intransitives (``sleeps``, ``laughs``) need an
  animate subject; each transitive verb takes animate, inanimate or any objects; ``in``, ``on``,
  ``under``, ``behind``, ``inside`` take inanimate objects; ``who`` relatives need animate heads
  and ``which`` inanimate ones; some adjectives (``happy``, ``young``) are for animate nouns only
  and some (``new``, ``round``) for inanimate ones;
* negation appears only in the main clause; wh-questions are never negated;
* recursion is capped: noun phrases of the main clause may carry a PP or a relative clause, the
  noun phrases inside those may carry one more, and the innermost are plain ``DET ADJ* N``;
* no noun or adjective starts with a vowel, so ``a`` is always the right article.

The language is exactly the set of strings derivable from ``S`` with at most ``MAX_LEN`` (30)
tokens; `generate` resamples the rare longer derivation (about 1 in 9,000). Sampled sentences
are 4-30 tokens long, mean about 9.4, 99% at most 21.

Recognition
-----------
`is_grammatical` splits on whitespace (case-sensitive: the language is lower-case), maps each
word to its preterminals and runs a memoised top-down chart recogniser over the same
feature-expanded rule tables the generator samples from, so it accepts exactly the language
(about 0.2 ms per sentence).

Labels
------
Each generated `Sentence` carries string labels:

* ``tense``: ``"present"`` / ``"past"`` (one tense per sentence, see above);
* ``number``: ``"singular"`` / ``"plural"``, of the main-clause subject (``who``/``what`` as a
  subject count as singular);
* ``sentiment``: ``"positive"`` / ``"negative"`` / ``"neutral"``: the majority sentiment of the
  adjectives in the sentence (every one counts, wherever it appears); no positive or negative
  adjectives, or as many positive as negative ones, gives ``"neutral"``;
* ``mood``: ``"declarative"`` / ``"question"``;
* ``negated``: ``"true"`` / ``"false"`` (main clause contains ``not``).
"""

from __future__ import annotations

import bisect
import functools
import random
from dataclasses import dataclass

__all__ = ["Sentence", "generate", "splits", "is_grammatical", "vocabulary", "MAX_LEN",
           "LABEL_VALUES"]

MAX_LEN = 30  # longest sentence in the language, in tokens (final punctuation included)
_MAX_DEPTH = 2  # noun phrases of depth 0 and 1 may take a PP or relative clause; depth 2 may not

LABEL_VALUES: dict[str, tuple[str, ...]] = {
    "tense": ("present", "past"),
    "number": ("singular", "plural"),
    "sentiment": ("positive", "negative", "neutral"),
    "mood": ("declarative", "question"),
    "negated": ("true", "false"),
}

# ================================================================================================
# Lexicon
# ================================================================================================

_DET_SG = "a this every each"
_DET_PL = "these those some many two three several"
_DET_BOTH = "the my your his her our their"

# (singular, plural) pairs
_NOUNS_ANIMATE = """
    dog dogs  cat cats  bird birds  horse horses  cow cows  rabbit rabbits  mouse mice
    fox foxes  wolf wolves  bear bears  lion lions  tiger tigers  monkey monkeys  puppy puppies
    pig pigs  man men  woman women  boy boys  girl girls  child children  baby babies
    teacher teachers  doctor doctors  farmer farmers  student students  king kings  queen queens
    friend friends  neighbor neighbors  sister sisters  brother brothers  nurse nurses
"""
_NOUNS_INANIMATE = """
    book books  ball balls  car cars  box boxes  cup cups  table tables  chair chairs
    house houses  tree trees  flower flowers  letter letters  story stories  picture pictures
    cake cakes  bottle bottles  door doors  window windows  hat hats  shoe shoes  garden gardens
    city cities  boat boats  train trains  bag bags  bed beds  park parks  kitchen kitchens
    basket baskets
"""

# Adjectives by slot (the order two adjectives come in: opinion < size < colour), by
# sentiment, and by the nouns they go with (animate-only, inanimate-only, or any).
_ADJECTIVES = {
    # (slot, sentiment, animacy): words
    ("op", "positive", "an"): "happy kind brave friendly clever cheerful gentle polite",
    ("op", "positive", "any"): "lovely wonderful beautiful nice good great pretty perfect",
    ("op", "negative", "an"): "sad cruel lazy rude grumpy nervous selfish mean",
    ("op", "negative", "any"): "terrible horrible dirty bad boring nasty dreadful smelly",
    ("size", "neutral", "any"): "big small little large tiny huge tall heavy",
    ("size", "neutral", "an"): "young",
    ("size", "neutral", "in"): "new round",
    ("color", "neutral", "any"): "red blue green yellow brown black white gray pink purple",
}

# Verbs: base, 3rd person singular present, past, -ing form ("-": none, for stative verbs).
_VERBS_TRANSITIVE = {
    # object animacy: forms
    "any": """see sees saw -  like likes liked -  love loves loved -  hate hates hated -
              want wants wanted -  chase chases chased chasing  follow follows followed following
              watch watches watched watching  find finds found finding""",
    "an": """help helps helped helping  meet meets met meeting  visit visits visited visiting
             thank thanks thanked thanking  kiss kisses kissed kissing  hug hugs hugged hugging
             tease teases teased teasing  scare scares scared scaring""",
    "in": """eat eats ate eating  buy buys bought buying  carry carries carried carrying
             open opens opened opening  drop drops dropped dropping  hold holds held holding
             build builds built building  wash washes washed washing
             throw throws threw throwing  steal steals stole stealing""",
}
_VERBS_INTRANSITIVE = {
    # subject animacy: forms
    "an": """sleep sleeps slept sleeping  laugh laughs laughed laughing  smile smiles smiled smiling
             run runs ran running  cry cries cried crying  dance dances danced dancing
             sing sings sang singing  wait waits waited waiting  jump jumps jumped jumping
             swim swims swam swimming""",
    "any": """fall falls fell falling  move moves moved moving  roll rolls rolled rolling
              disappear disappears disappeared disappearing  appear appears appeared appearing""",
}
_VERB_FORMS = ("base", "s", "past", "ing")

_PREP_INANIMATE = "in on under behind inside"  # take inanimate objects only
_PREP_ANY = "near beside with"

_NUMBERS = ("sg", "pl")
_TENSES = ("pres", "past")
_ANIMACY = ("an", "in")
_SLOTS = ("op", "size", "color")
_OBJECT_CLASSES = ("an", "in", "any")


def _pairs(text: str) -> list[tuple[str, ...]]:
    words = text.split()
    return [tuple(words[i:i + 2]) for i in range(0, len(words), 2)]


def _quads(text: str) -> list[tuple[str, ...]]:
    words = text.split()
    return [tuple(words[i:i + 4]) for i in range(0, len(words), 4)]


def _fits(animacy: str, noun_animacy: str) -> bool:
    """Whether a word marked `animacy` ("an"/"in"/"any") goes with a noun of `noun_animacy`."""
    return animacy == "any" or animacy == noun_animacy


def _finite(tense: str, number: str) -> str:
    """The verb form a finite verb takes in this tense with a subject of this number."""
    if tense == "past":
        return "past"
    return "s" if number == "sg" else "base"


def _build_lexicon() -> dict[str, tuple[str, ...]]:
    """Preterminal name -> the words it rewrites to."""
    lex: dict[str, list[str]] = {}

    def put(pre: str, words) -> None:
        entry = lex.setdefault(pre, [])
        for word in words:
            if word not in entry:
                entry.append(word)

    put("Det.sg", _DET_SG.split() + _DET_BOTH.split())
    put("Det.pl", _DET_PL.split() + _DET_BOTH.split())
    for animacy, text in (("an", _NOUNS_ANIMATE), ("in", _NOUNS_INANIMATE)):
        for sg, pl in _pairs(text):
            put(f"N.sg.{animacy}", [sg])
            put(f"N.pl.{animacy}", [pl])
    for (slot, _sentiment, animacy), text in _ADJECTIVES.items():
        for noun_animacy in _ANIMACY:
            if _fits(animacy, noun_animacy):
                put(f"Adj.{slot}.{noun_animacy}", text.split())
    for cls, text in _VERBS_TRANSITIVE.items():
        for forms in _quads(text):
            for form, word in zip(_VERB_FORMS, forms):
                if word != "-":
                    put(f"Vt.{cls}.{form}", [word])
    for cls, text in _VERBS_INTRANSITIVE.items():
        for forms in _quads(text):
            for form, word in zip(_VERB_FORMS, forms):
                put(f"Vi.{cls}.{form}", [word])
    put("Do.pres.sg", ["does"]); put("Do.pres.pl", ["do"])
    put("Do.past.sg", ["did"]); put("Do.past.pl", ["did"])
    put("Be.pres.sg", ["is"]); put("Be.pres.pl", ["are"])
    put("Be.past.sg", ["was"]); put("Be.past.pl", ["were"])
    put("Not", ["not"])
    put("P.in", _PREP_INANIMATE.split())
    put("P.any", _PREP_ANY.split())
    put("Rel.an", ["that", "who"])
    put("Rel.in", ["that", "which"])
    put("Who", ["who"]); put("What", ["what"]); put("Where", ["where"])
    put("Period", ["."]); put("Qmark", ["?"])
    return {pre: tuple(words) for pre, words in lex.items()}


def _sentiment_words() -> tuple[frozenset, frozenset]:
    pos, neg = set(), set()
    for (_slot, sentiment, _animacy), text in _ADJECTIVES.items():
        if sentiment == "positive":
            pos.update(text.split())
        elif sentiment == "negative":
            neg.update(text.split())
    return frozenset(pos), frozenset(neg)


# ================================================================================================
# Grammar rules (feature-expanded) with generation weights
# ================================================================================================

# Probabilities of the optional parts (the knobs that set sentence length and label balance).
_P_ADJ = {0: 0.55, 1: 0.31, 2: 0.14}  # number of adjectives before a noun
_P_NP_MOD = {0: (0.17, 0.15), 1: (0.10, 0.07)}  # (PP, relative clause) on an NP at this depth
_P_VP_PP = 0.3  # adverbial PP after a verb phrase
_P_INNER_SG = 0.6  # singular, for noun phrases other than the main subject
_P_INNER_ANIMATE = 0.5
_P_SUBJ_ANIMATE = 0.75
_P_NEG = 0.3  # negation, in declaratives and yes/no questions
_P_MOOD = {"decl": 0.6, "ynq": 0.24, "whq": 0.16}

_TENSE_LABEL = {"pres": "present", "past": "past"}
_NUMBER_LABEL = {"sg": "singular", "pl": "plural"}


class _RuleSet:
    """lhs -> list of (rhs, weight); rhs is a tuple of symbols (preterminals or nonterminals)."""

    def __init__(self, lexicon: dict[str, tuple[str, ...]]):
        self.lexicon = lexicon
        self.rules: dict[str, list[tuple[tuple[str, ...], float]]] = {}

    def add(self, lhs: str, rhs, weight: float) -> None:
        if weight > 0:
            self.rules.setdefault(lhs, []).append((tuple(rhs), float(weight)))

    def add_opt(self, lhs: str, rhs, optional: str, p: float, weight: float, tail=()) -> None:
        """lhs -> rhs tail (weight * (1 - p)) | rhs optional tail (weight * p)."""
        self.add(lhs, list(rhs) + list(tail), weight * (1 - p))
        self.add(lhs, list(rhs) + [optional] + list(tail), weight * p)

    def size(self, pre: str) -> int:
        return len(self.lexicon.get(pre, ()))


def _build_rules(lexicon: dict[str, tuple[str, ...]]):
    """Write out the grammar for every feature value; returns (rules, root labels)."""
    g = _RuleSet(lexicon)
    numbers = {"sg": _P_INNER_SG, "pl": 1 - _P_INNER_SG}
    inner_animacy = {"an": _P_INNER_ANIMATE, "in": 1 - _P_INNER_ANIMATE}

    # --- noun phrases -------------------------------------------------------------------------
    for n in _NUMBERS:
        for a in _ANIMACY:
            nom, det, noun = f"NOM.{n}.{a}", f"Det.{n}", f"N.{n}.{a}"
            g.add(nom, [det, noun], _P_ADJ[0])
            for slot, w in zip(_SLOTS, (0.4, 0.3, 0.3)):
                g.add(nom, [det, f"Adj.{slot}.{a}", noun], _P_ADJ[1] * w)
            for s1, s2 in (("op", "size"), ("op", "color"), ("size", "color")):
                g.add(nom, [det, f"Adj.{s1}.{a}", f"Adj.{s2}.{a}", noun], _P_ADJ[2] / 3)
            for t in _TENSES:
                for d in range(_MAX_DEPTH + 1):
                    np_ = f"NP.{n}.{a}.{d}.{t}"
                    if d == _MAX_DEPTH:
                        g.add(np_, [nom], 1.0)
                        continue
                    p_pp, p_rc = _P_NP_MOD[d]
                    g.add(np_, [nom], 1 - p_pp - p_rc)
                    g.add(np_, [nom, f"PP.{d + 1}.{t}"], p_pp)
                    g.add(np_, [nom, f"RC.{n}.{a}.{d + 1}.{t}"], p_rc)

    for t in _TENSES:
        for d in range(1, _MAX_DEPTH + 1):
            pp = f"PP.{d}.{t}"
            for n in _NUMBERS:
                g.add(pp, ["P.in", f"NP.{n}.in.{d}.{t}"], 0.5 * numbers[n])
                for a in _ANIMACY:
                    g.add(pp, ["P.any", f"NP.{n}.{a}.{d}.{t}"], 0.5 * numbers[n] * inner_animacy[a])
        for d in range(_MAX_DEPTH + 1):
            for oc in _OBJECT_CLASSES:  # an object for a verb of this object class
                for n in _NUMBERS:
                    for a in _ANIMACY:
                        if _fits(oc, a):
                            g.add(f"OBJ.{oc}.{d}.{t}", [f"NP.{n}.{a}.{d}.{t}"],
                                  numbers[n] * inner_animacy[a])

    for a in _ANIMACY:
        for slot, w in zip(_SLOTS, (0.5, 0.25, 0.25)):
            g.add(f"ADJP.{a}", [f"Adj.{slot}.{a}"], w)

    def transitives(subject_animacy: str):
        """(verb class, weight) of the transitive verbs a subject of this animacy can take."""
        if subject_animacy != "an":
            return []
        total = sum(g.size(f"Vt.{oc}.base") for oc in _OBJECT_CLASSES)
        return [(oc, g.size(f"Vt.{oc}.base") / total) for oc in _OBJECT_CLASSES]

    def intransitives(subject_animacy: str):
        classes = [sc for sc in ("an", "any") if _fits(sc, subject_animacy)]
        total = sum(g.size(f"Vi.{sc}.base") for sc in classes)
        return [(sc, g.size(f"Vi.{sc}.base") / total) for sc in classes]

    # --- relative clauses: RC.<head number>.<head animacy>.<depth of its NPs>.<tense> ----------
    for t in _TENSES:
        for d in range(1, _MAX_DEPTH + 1):
            for n in _NUMBERS:
                for a in _ANIMACY:
                    rc, rel, rvp = f"RC.{n}.{a}.{d}.{t}", f"Rel.{a}", f"RVP.{n}.{a}.{d}.{t}"
                    g.add(rc, [rel, rvp], 0.65)  # subject relative: "that chased the cat"
                    # object relative, "that the cat chased": not inside a relative clause or PP
                    for n2 in (_NUMBERS if d == 1 else ()):
                        for oc, w in transitives("an"):
                            if _fits(oc, a):
                                g.add(rc, [rel, f"NP.{n2}.an.{d}.{t}",
                                           f"Vt.{oc}.{_finite(t, n2)}"], 0.35 * numbers[n2] * w)
                    fin, be = _finite(t, n), f"Be.{t}.{n}"
                    for oc, w in transitives(a):
                        g.add(rvp, [f"Vt.{oc}.{fin}", f"OBJ.{oc}.{d}.{t}"], 0.6 * w)
                    for sc, w in intransitives(a):
                        g.add_opt(rvp, [f"Vi.{sc}.{fin}"], f"PP.{d}.{t}", 0.4, 0.25 * w)
                    g.add(rvp, [be, f"ADJP.{a}"], 0.1)
                    g.add(rvp, [be, f"PP.{d}.{t}"], 0.05)

    # --- verb phrases of the main clause (objects are depth-0 NPs, adverbial PPs depth 1) ------
    pp1 = {t: f"PP.1.{t}" for t in _TENSES}
    for t in _TENSES:
        for a in _ANIMACY:
            # VPB: bare verb phrase after do/does/did (+ not); VPBW: the same without a PP
            for oc, w in transitives(a):
                g.add_opt(f"VPB.{a}.{t}", [f"Vt.{oc}.base", f"OBJ.{oc}.0.{t}"], pp1[t], _P_VP_PP,
                          0.6 * w)
                g.add(f"VPBW.{a}.{t}", [f"Vt.{oc}.base", f"OBJ.{oc}.0.{t}"], 0.6 * w)
            for sc, w in intransitives(a):
                g.add_opt(f"VPB.{a}.{t}", [f"Vi.{sc}.base"], pp1[t], _P_VP_PP, 0.4 * w)
                g.add(f"VPBW.{a}.{t}", [f"Vi.{sc}.base"], 0.4 * w)
            # BEPRED: what follows is/are/was/were (+ not)
            bep = f"BEPRED.{a}.{t}"
            g.add(bep, [f"ADJP.{a}"], 0.45)
            g.add(bep, [pp1[t]], 0.2)
            for oc, w in transitives(a):
                g.add_opt(bep, [f"Vt.{oc}.ing", f"OBJ.{oc}.0.{t}"], pp1[t], _P_VP_PP, 0.2 * w)
            for sc, w in intransitives(a):
                g.add_opt(bep, [f"Vi.{sc}.ing"], pp1[t], _P_VP_PP, 0.15 * w)
            for n in _NUMBERS:
                # VPF: finite positive verb phrase; VPW: the same at least two tokens long (after
                # a subject "who"/"what", so that wh-questions have at least four tokens)
                fin, be = _finite(t, n), f"Be.{t}.{n}"
                variants = [(f"VPF.{n}.{a}.{t}", True)]
                if n == "sg":
                    variants.append((f"VPW.{n}.{a}.{t}", False))
                for lhs, bare_ok in variants:
                    for oc, w in transitives(a):
                        g.add_opt(lhs, [f"Vt.{oc}.{fin}", f"OBJ.{oc}.0.{t}"], pp1[t], _P_VP_PP,
                                  0.45 * w)
                    for sc, w in intransitives(a):
                        if bare_ok:
                            g.add_opt(lhs, [f"Vi.{sc}.{fin}"], pp1[t], _P_VP_PP, 0.25 * w)
                        else:
                            g.add(lhs, [f"Vi.{sc}.{fin}", pp1[t]], 0.25 * w)
                    g.add(lhs, [be, bep], 0.3)

    # --- sentences --------------------------------------------------------------------------
    roots: dict[str, dict[str, str]] = {}
    subject_animacy = {"an": _P_SUBJ_ANIMATE, "in": 1 - _P_SUBJ_ANIMATE}
    for t in _TENSES:
        for n in _NUMBERS:
            do, be = f"Do.{t}.{n}", f"Be.{t}.{n}"
            for neg in (False, True):
                p_neg = _P_NEG if neg else 1 - _P_NEG
                decl, ynq = f"DECL.{t}.{n}.{int(neg)}", f"YNQ.{t}.{n}.{int(neg)}"
                for a, pa in subject_animacy.items():
                    subj = f"NP.{n}.{a}.0.{t}"
                    vpb, bep = f"VPB.{a}.{t}", f"BEPRED.{a}.{t}"
                    if not neg:
                        g.add(decl, [subj, f"VPF.{n}.{a}.{t}", "Period"], pa)
                        g.add(ynq, [do, subj, vpb, "Qmark"], 0.6 * pa)
                        g.add(ynq, [be, subj, bep, "Qmark"], 0.4 * pa)
                    else:
                        g.add(decl, [subj, do, "Not", vpb, "Period"], 0.6 * pa)
                        g.add(decl, [subj, be, "Not", bep, "Period"], 0.4 * pa)
                        g.add(ynq, [do, subj, "Not", vpb, "Qmark"], 0.6 * pa)
                        g.add(ynq, [be, subj, "Not", bep, "Qmark"], 0.4 * pa)
                for root, mood in ((decl, "decl"), (ynq, "ynq")):
                    roots[root] = {"mood": "declarative" if mood == "decl" else "question",
                                   "tense": t, "number": n, "negated": neg}
                    g.add("S", [root], _P_MOOD[mood] * 0.5 * 0.5 * p_neg)
            whq = f"WHQ.{t}.{n}"
            roots[whq] = {"mood": "question", "tense": t, "number": n, "negated": False}
            g.add("S", [whq], _P_MOOD["whq"] * 0.5 * 0.5)
            if n == "sg":  # "who chased the cat ?", "what fell into the river ?"
                g.add(whq, ["Who", f"VPW.sg.an.{t}", "Qmark"], 0.3)
                g.add(whq, ["What", f"VPW.sg.in.{t}", "Qmark"], 0.1)
            subj = f"NP.{n}.an.0.{t}"
            for wh, obj_animacy in (("Who", "an"), ("What", "in")):
                # "who did the dog chase (in the park) ?", "what is the boy eating ?"
                for oc, w in transitives("an"):
                    if _fits(oc, obj_animacy):
                        g.add_opt(whq, [wh, do, subj, f"Vt.{oc}.base"], pp1[t], _P_VP_PP,
                                  0.2 * w, tail=["Qmark"])
                        g.add_opt(whq, [wh, be, subj, f"Vt.{oc}.ing"], pp1[t], _P_VP_PP,
                                  0.08 * w, tail=["Qmark"])
            for a, pa in subject_animacy.items():  # "where did the cat sleep ?"
                g.add(whq, ["Where", do, f"NP.{n}.{a}.0.{t}", f"VPBW.{a}.{t}", "Qmark"], 0.15 * pa)
                g.add(whq, ["Where", be, f"NP.{n}.{a}.0.{t}", "Qmark"], 0.1 * pa)

    for labels in roots.values():
        labels["tense"] = _TENSE_LABEL[labels["tense"]]
        labels["number"] = _NUMBER_LABEL[labels["number"]]
        labels["negated"] = "true" if labels["negated"] else "false"
    return g.rules, roots


# ================================================================================================
# Tables (built on first use, cached)
# ================================================================================================

class _Tables:
    """Everything derived from the grammar that generation and recognition need."""

    def __init__(self):
        self.lexicon = _build_lexicon()
        weighted, self.roots = _build_rules(self.lexicon)
        self.rules: dict[str, tuple[tuple[str, ...], ...]] = {
            lhs: tuple(rhs for rhs, _w in alts) for lhs, alts in weighted.items()}
        # generation: cumulative weights per nonterminal
        self.cumulative: dict[str, list[float]] = {}
        for lhs, alts in weighted.items():
            total, cum = 0.0, []
            for _rhs, w in alts:
                total += w
                cum.append(total)
            self.cumulative[lhs] = cum
        # recognition: word -> preterminals; per nonterminal the preterminals it can start with
        # and the fewest tokens it can derive
        word_cats: dict[str, set] = {}
        for pre, words in self.lexicon.items():
            for word in words:
                word_cats.setdefault(word, set()).add(pre)
        self.word_cats = {w: frozenset(c) for w, c in word_cats.items()}
        self.first: dict[str, frozenset] = {}
        self.min_len: dict[str, int] = {}
        self.max_len: dict[str, int] = {}
        for lhs in self.rules:
            self._analyse(lhs, ())
        # the fewest tokens each suffix of a rule needs, for length pruning
        self.rule_suffix_min = {
            lhs: tuple(tuple(sum(self._min(s) for s in rhs[k:]) for k in range(len(rhs)))
                       for rhs in alts)
            for lhs, alts in self.rules.items()}
        self.positive, self.negative = _sentiment_words()

    def _min(self, sym: str) -> int:
        return 1 if sym in self.lexicon else self.min_len[sym]

    def _analyse(self, sym: str, stack: tuple) -> None:
        """Fill first/min_len/max_len for `sym` (depth-first; the grammar must be acyclic)."""
        if sym in self.lexicon or sym in self.min_len:
            return
        if sym in stack:
            raise AssertionError(f"grammar is recursive through {sym}")
        if sym not in self.rules:
            raise AssertionError(f"symbol {sym} has no rules and no words")
        first, lo, hi = set(), None, 0
        for rhs in self.rules[sym]:
            for s in rhs:
                self._analyse(s, stack + (sym,))
            head = rhs[0]
            first |= {head} if head in self.lexicon else self.first[head]
            rlo = sum(self._min(s) for s in rhs)
            rhi = sum(1 if s in self.lexicon else self.max_len[s] for s in rhs)
            lo = rlo if lo is None else min(lo, rlo)
            hi = max(hi, rhi)
        self.first[sym], self.min_len[sym], self.max_len[sym] = frozenset(first), lo, hi


@functools.lru_cache(maxsize=1)
def _tables() -> _Tables:
    return _Tables()


# ================================================================================================
# Generation
# ================================================================================================

@dataclass(frozen=True)
class Sentence:
    """One generated sentence and its known factors (see the module docstring for the labels)."""

    text: str  # "the happy dog chased a cat ."
    labels: dict[str, str]  # {"tense": "past", "number": "singular", ...}

    def __hash__(self) -> int:  # the dict field would make the generated hash fail
        return hash((self.text, tuple(sorted(self.labels.items()))))


def _choose(tables: _Tables, sym: str, rng: random.Random) -> tuple[str, ...]:
    """One right-hand side of nonterminal `sym`, drawn by the rule weights."""
    cum = tables.cumulative[sym]
    k = bisect.bisect_right(cum, rng.random() * cum[-1])
    return tables.rules[sym][min(k, len(cum) - 1)]


def _expand(tables: _Tables, sym: str, rng: random.Random, out: list[str]) -> None:
    """Append a random derivation of `sym` to `out` (words uniformly within a preterminal)."""
    words = tables.lexicon.get(sym)
    if words is not None:
        out.append(words[rng.randrange(len(words))])
        return
    for s in _choose(tables, sym, rng):
        _expand(tables, s, rng, out)


def _sentiment(tables: _Tables, tokens: list[str]) -> str:
    pos = sum(tok in tables.positive for tok in tokens)
    neg = sum(tok in tables.negative for tok in tokens)
    return "positive" if pos > neg else "negative" if neg > pos else "neutral"


def _sample(tables: _Tables, rng: random.Random) -> Sentence:
    while True:  # resample the rare derivation longer than MAX_LEN
        (root,) = _choose(tables, "S", rng)
        tokens: list[str] = []
        _expand(tables, root, rng, tokens)
        if len(tokens) <= MAX_LEN:
            break
    r = tables.roots[root]
    labels = {"tense": r["tense"], "number": r["number"], "sentiment": _sentiment(tables, tokens),
              "mood": r["mood"], "negated": r["negated"]}
    return Sentence(" ".join(tokens), labels)


def generate(n: int, seed: int = 0) -> list[Sentence]:
    """Sample `n` sentences from the grammar with `random.Random(seed)`.

    Deterministic for a seed; the first k sentences do not depend on `n`. Sentences are
    independent draws, so short ones can repeat.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    tables = _tables()
    rng = random.Random(seed)
    return [_sample(tables, rng) for _ in range(n)]


def splits(train: int = 20000, valid: int = 1000, test: int = 1000,
           seed: int = 0) -> dict[str, list[Sentence]]:
    """Disjoint-by-generation splits: keys "train", "valid", "test". Deterministic for the seed.

    Each split is drawn from its own random stream (seeded by the string
    ``"sentvae.corpus:<seed>:<split>"``), so a split does not change when another split's size
    does, and a larger split extends a smaller one. The sentences are disjoint draws, not
    de-duplicated text: a short sentence may by chance occur in more than one split, as in a
    natural corpus.
    """
    tables = _tables()
    result = {}
    for name, size in (("train", train), ("valid", valid), ("test", test)):
        if size < 0:
            raise ValueError(f"{name} size must be >= 0, got {size}")
        rng = random.Random(f"sentvae.corpus:{seed}:{name}")
        result[name] = [_sample(tables, rng) for _ in range(size)]
    return result


def vocabulary() -> list[str]:
    """Every terminal token the grammar can produce (words and ``.``/``?``), sorted."""
    return sorted(_tables().word_cats)


# ================================================================================================
# Recognition
# ================================================================================================

def is_grammatical(sentence: str) -> bool:
    """Whether `sentence` is in the grammar's language (exactly; see the module docstring).

    Tokens are split on any whitespace, so extra, leading and trailing spaces are ignored.
    Matching is case-sensitive: the language is lower-case, so "The dog slept ." is rejected.
    """
    tokens = sentence.split()
    if not tokens or len(tokens) > MAX_LEN:
        return False
    word_cats = _tables().word_cats
    try:
        cats = tuple(word_cats[tok] for tok in tokens)
    except KeyError:  # a word outside the vocabulary
        return False
    return _recognise(cats)


@functools.lru_cache(maxsize=1 << 16)
def _recognise(cats: tuple[frozenset, ...]) -> bool:
    """Recognise a sequence of preterminal sets (words with the same preterminals are
    interchangeable, hence the cache).

    Top-down, memoised chart recognition: ``ends(sym, i)`` is the set of positions j such that
    `sym` derives tokens i..j-1. It is exact for any CFG without left recursion or empty rules;
    ours is acyclic (the depth feature caps recursion) and has no empty rules. Pruned by the
    preterminals each symbol can start with and the fewest tokens each rule suffix needs.
    """
    t = _tables()
    rules, suffix_min, first, lexicon = t.rules, t.rule_suffix_min, t.first, t.lexicon
    n = len(cats)
    memo: list[dict[str, frozenset]] = [{} for _ in range(n)]
    empty: frozenset = frozenset()

    def ends(sym: str, i: int) -> frozenset:
        m = memo[i]
        found = m.get(sym)
        if found is not None:
            return found
        result: set[int] = set()
        for rhs, need in zip(rules[sym], suffix_min[sym]):
            if need[0] > n - i:
                continue
            positions = (i,)
            for k, s in enumerate(rhs):
                nxt: set[int] = set()
                room = n - need[k]  # a start position beyond this cannot fit the rest
                for p in positions:
                    if p > room:
                        continue
                    if s in lexicon:
                        if s in cats[p]:
                            nxt.add(p + 1)
                    elif not first[s].isdisjoint(cats[p]):
                        nxt.update(ends(s, p))
                if not nxt:
                    break
                positions = nxt
            else:
                result.update(positions)
        found = frozenset(result) if result else empty
        m[sym] = found
        return found

    return n in ends("S", 0)
