"""Penn-Treebank-style word splitting: one definition, two users.

tokenizer.py puts these patterns into tokenizer.json (`split_punctuation`), so a checkpoint
normalises raw input the way its corpus was tokenised; `ptb_tokenize` applies the same patterns
in Python, for a checkpoint whose tokenizer splits on white space only (summarize/tokens.py):

    ptb_tokenize("Didn't it's $10!!!")                -> "Did n't it 's $ 10 !"
    ptb_tokenize("Didn't it's $10!!!", numbers=True)  -> "Did n't it 's $ _num_ !"
"""

from __future__ import annotations

import re

# The tokens of one white-space-separated piece, tried in order, any case; `\w+?(?=n't\b)` stops a
# word before its n't ("didn't" -> did n't, "can't" -> ca n't); hyphens and slashes inside a word
# and colons inside a number stay ("check-in", "a/c", "9:00"), as in the Yelp corpus.
PTB_TOKEN = (r"(?i)_num_|n't\b|'(?:s|re|ve|m|ll|d)\b|``|''|\.\.\.|--|gon(?=na\b)|wan(?=na\b)"
             r"|\w+?(?=n't\b)|\w+(?:[-/]\w+|(?<=\d):\d+)*|[^\w\s]")
# (pattern, replacement), applied in order before splitting.
PTB_REPLACEMENTS = [
    ("[\u2018\u2019\u02bc]", "'"),  # curly apostrophes
    ("[\u201c\u201d]", '"'),  # curly double quotes
    (r'(?<![^\s(\[{])"', "``"),  # a " that opens (at the start or after a space) ...
    ('"', "''"),  # ... and one that closes
    (r"[!?]*\?[!?]*", "?"),  # "?!?" -> "?"
    ("!{2,}", "!"),
    (r"\.{2,}", "..."),
]
# A number standing alone ("10", "$10.99", "1,000"), not part of "2nd", "9:00", "10-15"; becomes
# NUMBER_TOKEN for corpora that use it (Shen et al.'s Yelp sentences).
STANDALONE_NUMBER = r"(?<![\w.,:/-])\d+(?:[.,]\d+)*(?![\w:/-])"
NUMBER_TOKEN = "_num_"
_PTB_TOKEN = re.compile(PTB_TOKEN)
_PTB_REPLACEMENTS = [(re.compile(p), r) for p, r in PTB_REPLACEMENTS]


def ptb_tokenize(text: str, numbers: bool = False) -> str:
    """Split raw text the way PTB-tokenised corpora are: "Didn't it's $10!!!" ->
    "Did n't it 's $ 10 !" (numbers -> `_num_` with `numbers`). Idempotent on tokenised text."""
    for pattern, replacement in _PTB_REPLACEMENTS:
        text = pattern.sub(replacement, text)
    if numbers:
        text = re.sub(STANDALONE_NUMBER, NUMBER_TOKEN, text)
    return " ".join(token for piece in text.split() for token in _PTB_TOKEN.findall(piece))
