"""Groups of texts in: the reviews of one business (and their human summaries) per `Group`.

Input files (`read_groups`): TSV / CSV / JSONL with one group per row and several text columns
(FewSum's rev1..rev8, MeanSum's Input.original_review_0..7), or one text per row with a group
column, or plain text (a file or stdin) as a single group. A group that cannot be summarised
(bytes that are not UTF-8, no text) is returned with `problem` set, not refused.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..data import check_readable_file, json_records
from ..errors import ArgumentError, DataError
from .sentences import split_sentences

TABLE_SUFFIXES = (".tsv", ".csv", ".jsonl", ".json")


@dataclass
class Group:
    """The texts to summarise together, and (for evaluation) their human summaries."""

    id: str
    texts: list[str]
    references: list[str] = field(default_factory=list)
    where: str = ""  # "file:line", for messages
    problem: str | None = None  # why it cannot be summarised (set while reading)


def parse_columns(spec: str | list[str] | None) -> list[str]:
    """"rev1..rev8" -> rev1, ..., rev8; "a,b" -> a, b; both forms can be mixed."""
    if spec is None:
        return []
    items = spec if isinstance(spec, list) else [spec]
    names: list[str] = []
    for item in items:
        for part in (p.strip() for p in item.split(",")):
            if not part:
                continue
            span = re.fullmatch(r"(.*?)(\d+)\.\.(?:\1)?(\d+)", part)
            if span:
                prefix, first, last = span.group(1), int(span.group(2)), int(span.group(3))
                if last < first:
                    raise ArgumentError(f"column range {part!r} runs backwards")
                names.extend(f"{prefix}{i}" for i in range(first, last + 1))
            else:
                names.append(part)
    return names


_REVIEW_COLUMN = re.compile(r"(?i)(?:^|[._])(?:rev|review)_?\d+$")
_GROUP_COLUMNS = ("group_id", "group", "Input.business_id", "business_id", "topic", "id")


def _has_bad_bytes(text: str) -> bool:
    return any("\udc80" <= char <= "\udcff" for char in text)


def _values(value) -> list[str]:
    """A cell as a list of texts: a string, a list of strings, or nothing."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None and str(v).strip()]
    text = str(value)
    return [text] if text.strip() else []


def _read_rows(path: Path, text: str) -> tuple[list[dict], list[int]]:
    """Records of a TSV / CSV / JSONL text, with the line each starts on."""
    rows, lines = [], []
    if path.suffix.lower() in (".jsonl", ".json"):
        for number, record in json_records(path, text.splitlines()):
            rows.append(record)
            lines.append(number)
        return rows, lines
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    if not reader.fieldnames:
        raise DataError(f"{path}: no header row")
    start = 2
    try:
        for record in reader:
            rows.append(record)
            lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: malformed {'TSV' if delimiter == chr(9) else 'CSV'} ({exc})") from None
    return rows, lines


def read_groups(source: str | Path | None, group_column: str | None = None,
                text_column: str | None = None, columns: str | list[str] | None = None,
                references: str | list[str] | None = None) -> list[Group]:
    """Read groups from a file, or plain text from stdin (`source` None or "-") as one group.

    TSV / CSV / JSONL: with `columns`, each row is a group of those text columns ("rev1..rev8");
    with `text_column`, each row holds one text (or a JSON list of texts) and rows sharing a
    `group_column` value form a group (each row is its own group without one); with neither,
    review-like columns (rev1, Input.original_review_0, ...) are found by name. `references`
    names the human-summary columns. Other suffixes are plain text: the whole file is one group.
    A group with bytes that are not UTF-8 or with no text is returned with `problem` set.
    """
    if source is None or str(source) == "-":
        data, path = sys.stdin.buffer.read(), Path("<stdin>")
    else:
        path = check_readable_file(source)
        data = path.read_bytes()
    text = data.decode("utf-8", errors="surrogateescape").lstrip("\ufeff")
    if path.suffix.lower() not in TABLE_SUFFIXES:
        return [_checked(_plain_text_group(path, data, text))]
    rows, lines = _read_rows(path, text)
    if not rows:
        raise DataError(f"{path}: no rows")
    return _table_groups(path, rows, lines, group_column, text_column, parse_columns(columns),
                         parse_columns(references))


def _plain_text_group(path: Path, data: bytes, text: str) -> Group:
    """A plain text file (or stdin) as one group; `problem` names the first line that is not UTF-8."""
    group = Group(id=path.stem if path.name != "<stdin>" else "stdin", texts=_values(text),
                  where=str(path))
    if _has_bad_bytes(text):
        line = data[: data.decode("utf-8", errors="replace").find("\ufffd")].count(b"\n") + 1
        group.problem = f"line {line} is not valid UTF-8"
    return group


def _table_groups(path: Path, rows: list[dict], lines: list[int], group_column: str | None,
                  text_column: str | None, text_columns: list[str],
                  reference_columns: list[str]) -> list[Group]:
    """The groups of a table's rows (see `read_groups` for the columns)."""
    available = list(rows[0].keys())
    if not text_columns and text_column is None:
        text_columns = [c for c in available if _REVIEW_COLUMN.search(c)]
        if not text_columns:
            if "text" in available:
                text_column = "text"
            else:
                raise DataError(f"{path}: no review columns found; name them with --columns or "
                                f"--text-column (columns: {', '.join(available)})")
    if group_column is None and text_column is None:
        group_column = next((c for c in _GROUP_COLUMNS if c in available), None)
    for name in text_columns + reference_columns + [c for c in (group_column, text_column) if c]:
        if name not in available:
            raise DataError(f"{path}: no column {name!r} (columns: {', '.join(available)})")
    groups: dict[str, Group] = {}
    for number, (row, line) in enumerate(zip(rows, lines), start=1):
        key = str(row.get(group_column)) if group_column else str(number)
        group = groups.get(key) if text_column and group_column else None
        if group is None:
            group = groups.setdefault(key if group_column else str(number),
                                      Group(id=key, texts=[], where=f"{path}:{line}"))
        cells = [text_column] if text_column else text_columns
        for name in cells:
            group.texts.extend(_values(row.get(name)))
        for name in reference_columns:
            group.references.extend(_values(row.get(name)))
        bad = [name for name in cells + reference_columns
               if any(_has_bad_bytes(t) for t in _values(row.get(name)))]
        if bad and group.problem is None:
            group.problem = f"column {bad[0]!r} is not valid UTF-8"
    return [_checked(g) for g in groups.values()]


def _checked(group: Group) -> Group:
    if group.problem is None and not any(split_sentences(t) for t in group.texts):
        group.problem = "no text to summarise (empty reviews)"
    return group
