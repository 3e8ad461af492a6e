"""Summaries of groups of texts (reviews of one business) through the latent space.

    groups.py      Group; reading groups from TSV / CSV / JSONL / plain text
    sentences.py   raw text -> sentences; model tokens -> readable, sentence-cased text
    tokens.py      a group's sentences as the model's tokens (clauses of long ones)
    vae.py         everything the summariser asks of the VAE: encode sentences, decode codes
    cluster.py     seeded k-means over the posterior means
    overlap.py     content-word overlap with the input (the reranking score)
    summarizer.py  SummaryOptions, Summary; the mean / cluster / medoid methods; summarize()
    rouge.py       ROUGE, corpus scores (ROUGE, BLEU, chrF) and the JSON report of a run

    from sentvae import VAEPipeline
    from sentvae.summarize import SummaryOptions, read_groups, summarize
    summaries = summarize(VAEPipeline.from_pretrained("runs/yelp"), read_groups("reviews.tsv"))
"""

from .cluster import kmeans
from .groups import Group, parse_columns, read_groups
from .overlap import bag_f1, content_tokens, input_overlap, mean_overlap, ngram_counts
from .rouge import corpus_scores, report, rouge, rouge_scorer
from .sentences import count_words, detokenize, sentence_case, split_sentences
from .summarizer import METHODS, ORDERS, Summary, SummaryOptions, summarize, summarize_group
from .tokens import group_sentences

__all__ = ["Group", "Summary", "SummaryOptions", "METHODS", "ORDERS", "read_groups", "parse_columns",
           "summarize", "summarize_group", "group_sentences", "kmeans", "input_overlap", "mean_overlap",
           "bag_f1", "ngram_counts", "content_tokens", "rouge", "rouge_scorer", "corpus_scores", "report",
           "split_sentences", "detokenize", "sentence_case", "count_words"]
