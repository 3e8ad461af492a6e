"""Raw review text in, sentences out; model tokens in, readable text out.

Word-level normalisation (lower-casing, clitics, quotes, numbers) is *not* done here: it lives in
the checkpoint's `tokenizer.json` (see `tokenizer.py` and `text.py`), so a model always normalises
its input the way its training corpus was. This module does the two steps around it:

    split_sentences("Great food!!! Dr. Lee's tacos cost $5.99.\\nWill be back")
        -> ["Great food!!!", "Dr. Lee's tacos cost $5.99.", "Will be back"]

    detokenize("i did n't like the `` special '' , $ _num_ .")
        -> "i didn't like the \\"special\\", $ _num_."

    sentence_case("i didn't like kfc.", casing={"kfc": "KFC"}) -> "I didn't like KFC."
"""

from __future__ import annotations

import re
from collections import Counter

# Words after which a period never ends a sentence (titles, Latin abbreviations).
NEVER_FINAL = {"mr", "mrs", "ms", "dr", "prof", "st", "mt", "ft", "jr", "sr", "vs", "e.g", "i.e",
               "approx", "appt", "apt", "ave", "blvd", "cf", "ca", "esp"}
# Words after which a period ends a sentence only if a capital letter follows.
MAYBE_FINAL = {"etc", "a.m", "p.m", "am", "pm", "min", "mins", "hr", "hrs", "oz", "lb", "lbs", "inc",
               "ltd", "co", "u.s", "u.k", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
               "sept", "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat", "sun"}

# A sentence-final run ("." "!!!" "?!" "..." "…"), closing quotes/brackets, then white space.
_BOUNDARY = re.compile(r"([.!?\u2026]+)([\"'\u201d\u2019)\]]*)(\s+)")
# A sentence glued to the next: "food.Service", "Yes!!!Great" (a lower-case word or "!!", then a
# capitalised word).
_GLUED = re.compile(r"(?:(?<=[a-z]{2}[.!?])|(?<=[!?]{2}))(?=[A-Z][a-z])")
_LINE_BREAKS = re.compile(r"\s*[\r\n\u2028\u2029]+\s*")
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_ALNUM = re.compile(r"\w", re.UNICODE)


def _ends_sentence(text: str, match: re.Match) -> bool:
    """Whether the terminal run of `match` in `text` ends a sentence."""
    terminal, closers = match.group(1), match.group(2)
    following = text[match.end():match.end() + 1]
    capital_next = following.isupper() or following.isdigit() or following in "\"'\u201c("
    if "!" in terminal or "?" in terminal:
        # 'Great!' he said -> one sentence; 'Great!!! we will be back' -> two.
        return capital_next or not closers
    if terminal != ".":  # ellipsis: a pause unless a new sentence visibly starts
        return capital_next
    before = text[:match.start()].rsplit(None, 1)
    raw_word = before[-1].lstrip("\"'(\u201c[") if before else ""
    word = raw_word.lower()
    if word in NEVER_FINAL or (word in ("no", "nos") and following.isdigit()):
        return False
    if len(word) == 1 and raw_word.isupper():
        return False  # an initial: "J. Smith"
    if word in MAYBE_FINAL:
        return capital_next
    return True


def split_sentences(text: str) -> list[str]:
    """Split raw text (a review) into sentences.

    Line breaks always end a sentence; `.`, `!`, `?` and `...` followed by white space end one
    unless the period belongs to an abbreviation ("Dr.", "e.g.", "p.m." before a lower-case
    word) or an initial, an ellipsis or a quoted exclamation runs on in lower case. Runs such as
    "!!!" stay with their sentence. Pieces with no letter or digit (":)", "!!!", "") are dropped,
    so an empty review gives no sentences.
    """
    sentences: list[str] = []
    for line in _LINE_BREAKS.split(text or ""):
        line = _GLUED.sub(" ", _SPACES.sub(" ", line).strip())
        start = 0
        for match in _BOUNDARY.finditer(line):
            if _ends_sentence(line, match):
                sentences.append(line[start:match.end() - len(match.group(3))])
                start = match.end()
        sentences.append(line[start:])
    return [s.strip() for s in sentences if _ALNUM.search(s)]


# --- model tokens -> readable text -----------------------------------------------------------------

_CLITIC_HOSTS = {"ca": "can", "wo": "won", "ai": "ain"}  # PTB "ca n't" is "can't"


def _join_negation(match: re.Match) -> str:
    host = match.group(1)
    full = _CLITIC_HOSTS[host.lower()]
    return (full.capitalize() if host[0].isupper() else full) + "'t"


_DETOKENIZE = [
    (re.compile(r"\b(ca|wo|ai) n't\b", re.I), _join_negation),
    (re.compile(r" (n't|'s|'re|'ve|'m|'ll|'d)\b", re.I), r"\1"),
    (re.compile(r"\b(gon|wan) na\b", re.I), r"\1na"),
    (re.compile(r"`` *(.*?) *''"), r'"\1"'),  # `` quoted '' -> "quoted"
    (re.compile(r"(``|'') *"), '"'),  # an unpaired PTB quote
    (re.compile(r" +([.,!?;:%)\]}]|\.\.\.)"), r"\1"),  # no space before closing punctuation
    (re.compile(r"[,;:]+(?=[.!?])"), ""),  # "great,." -> "great."
    (re.compile(r"([(\[{$#]) +"), r"\1"),  # none after opening punctuation and currency
    (re.compile(r" +"), " "),
]


def detokenize(tokens: str | list[str]) -> str:
    """Undo PTB-style tokenisation: "did n't" -> "didn't", " ." -> ".", "$ 5" -> "$5"."""
    text = " ".join(tokens) if isinstance(tokens, list) else tokens
    text = text.strip()
    for pattern, replacement in _DETOKENIZE:
        text = pattern.sub(replacement, text)
    return text.strip()


_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def casing_table(texts: list[str]) -> dict[str, str]:
    """lower-case word -> its usual spelling in `texts`, for words usually not lower-case
    ("kfc" -> "KFC", "chicago" -> "Chicago"); words at the start of a sentence do not count."""
    counts: dict[str, Counter] = {}
    for text in texts:
        for sentence in split_sentences(text):
            for i, match in enumerate(_WORD.finditer(sentence)):
                if i == 0:
                    continue
                word = match.group(0)
                counts.setdefault(word.lower(), Counter())[word] += 1
    table = {}
    for lower, forms in counts.items():
        form, _ = forms.most_common(1)[0]
        if form != lower and forms[form] > forms.get(lower, 0):
            table[lower] = form
    return table


def sentence_case(text: str, casing: dict[str, str] | None = None) -> str:
    """Capitalise the first letter and the pronoun "I"; spell other words as in `casing`."""
    casing = casing or {}

    def respell(match: re.Match) -> str:
        word = match.group(0)
        lower = word.lower()
        if lower == "i" or lower.startswith("i'"):
            return "I" + word[1:]
        return casing.get(lower, word)

    text = _WORD.sub(respell, text)
    for i, char in enumerate(text):
        if char.isalpha():
            return text[:i] + char.upper() + text[i + 1:]
    return text


def count_words(text: str) -> int:
    """Words of a readable text, as the length budget counts them (white-space separated)."""
    return len(text.split())
