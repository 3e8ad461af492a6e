"""Data: loading each file type, blank lines, long sentences, bucketing, collation."""

import json

import numpy as np
import pytest

from sentvae.data import bucketed_batches, collate, encode_split, load_text_dataset, sorted_batches
from sentvae.errors import DataError
from sentvae.tokenizer import BOS_ID, EOS_ID, PAD_ID, TextTokenizer

SENTENCES = ["the dog sees a cat .", "a cat sleeps .", "did the dog see the cat ?"]


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_txt_skips_blank_lines(tmp_path):
    ds = load_text_dataset(write(tmp_path, "a.txt", "\n".join(["", SENTENCES[0], "   ", SENTENCES[1], ""])))
    assert ds["text"] == SENTENCES[:2]


def test_jsonl_csv_tsv_parquet_with_text_column(tmp_path):
    rows = [{"sentence": s, "label": i} for i, s in enumerate(SENTENCES)]
    jsonl = write(tmp_path, "a.jsonl", "\n".join(json.dumps(r) for r in rows))
    csv = write(tmp_path, "a.csv", "label,sentence\n" + "\n".join(f"{i},{s}" for i, s in enumerate(SENTENCES)))
    tsv = write(tmp_path, "a.tsv", "label\tsentence\n" + "\n".join(f"{i}\t{s}" for i, s in enumerate(SENTENCES)))
    import datasets

    parquet = str(tmp_path / "a.parquet")
    datasets.Dataset.from_list(rows).to_parquet(parquet)
    for path in (jsonl, csv, tsv, parquet):
        ds = load_text_dataset(path, text_column="sentence")
        assert ds["text"] == SENTENCES and ds["label"] == [0, 1, 2]


def test_missing_column_and_missing_file(tmp_path):
    tsv = write(tmp_path, "a.tsv", "label\tsentence\n1\thello .\n")
    with pytest.raises(DataError, match="no column 'text'"):
        load_text_dataset(tsv)
    with pytest.raises(DataError, match="no such file"):
        load_text_dataset(str(tmp_path / "nope.txt"))


def test_non_utf8_names_the_line_and_replace_works(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good line .\nsecond \xff line .\n")
    with pytest.raises(DataError, match=r"bad\.txt:2: not valid UTF-8"):
        load_text_dataset(str(path))
    ds = load_text_dataset(str(path), encoding_errors="replace")
    assert len(ds) == 2 and "\ufffd" in ds["text"][1]


def test_long_sentences_dropped_or_truncated(tmp_path):
    tok = TextTokenizer.train(SENTENCES)
    ds = load_text_dataset(write(tmp_path, "a.txt", "\n".join(SENTENCES)))
    dropped = encode_split(ds, tok, max_length=5, long_sentences="drop")
    assert len(dropped) == 1 and dropped.dropped == 2 and dropped.lengths.tolist() == [4]
    cut = encode_split(ds, tok, max_length=5, long_sentences="truncate")
    assert len(cut) == 3 and cut.truncated == 2 and cut.lengths.max() == 5
    assert cut.num_targets == int(cut.lengths.sum()) + 3


def test_encoded_ids_are_the_tokenizers_and_survive_detaching(tmp_path):
    import pickle

    texts = ["the dog sees a cat .", "", "a cat sleeps .", "did the dog see the cat ?"]
    tok = TextTokenizer.train(texts)
    ds = load_text_dataset(write(tmp_path, "a.jsonl", "\n".join(json.dumps({"text": t or " ", "label": i})
                                                                for i, t in enumerate(texts))))
    split = encode_split(ds, tok, max_length=6, long_sentences="drop")  # 6 and 4 words kept, 8 dropped
    expected = [tok.encode(texts[0]), tok.encode(texts[2])]
    assert split.ids.dtype == np.int32 and split.batch_ids(np.array([1, 0])) == expected[::-1]
    assert split.lengths.tolist() == [len(x) for x in expected]
    assert split.column("label") == [0, 2]  # the blank row was removed on loading
    shipped = pickle.loads(pickle.dumps(split.detached()))
    assert shipped.dataset is None and shipped.batch_ids(np.arange(2)) == expected
    assert shipped.subset(np.array([1])).batch_ids(np.array([0])) == [expected[1]]
    with pytest.raises(DataError, match="label"):
        shipped.column("label")


def test_collate_layout():
    tokens, lengths = collate([[5, 6], [7]])
    assert tokens.tolist() == [[BOS_ID, 5, 6, EOS_ID], [BOS_ID, 7, EOS_ID, PAD_ID]]
    assert lengths.tolist() == [3, 2]


def test_bucketed_batches_cover_everything_once_and_group_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 50, size=1000)
    batches = bucketed_batches(lengths, batch_size=16, seed=3, epoch=0, bucket_size=10)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    random_spread = np.mean([lengths[b].max() - lengths[b].min() for b in np.array_split(rng.permutation(1000), 63)])
    assert spread < random_spread / 3
    again = bucketed_batches(lengths, batch_size=16, seed=3, epoch=0, bucket_size=10)
    other = bucketed_batches(lengths, batch_size=16, seed=3, epoch=1, bucket_size=10)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other))


def test_ranks_get_disjoint_equal_shards():
    lengths = np.arange(100) % 17 + 1
    shards = [bucketed_batches(lengths, 8, seed=0, epoch=0, rank=r, world_size=2) for r in range(2)]
    assert len(shards[0]) == len(shards[1])
    assert not set(np.concatenate(shards[0]).tolist()) & set(np.concatenate(shards[1]).tolist())


def test_sorted_batches_cover_everything():
    lengths = np.array([5, 1, 3, 2, 4])
    batches = sorted_batches(lengths, 2)
    assert [b.tolist() for b in batches] == [[1, 3], [2, 4], [0]]
