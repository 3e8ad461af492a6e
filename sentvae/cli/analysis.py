"""`sentvae summarize`, `evaluate` and `plot`: what a trained model does with a corpus."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from ..errors import SentvaeError
from .common import (add_encoding_errors, add_fusion_options, add_model_options, add_prior_draw_options,
                     load_pipeline)


def cmd_summarize(args) -> int:
    """Summarise groups of reviews through the latent space (see sentvae/summarize/)."""
    from ..summarize import SummaryOptions, read_groups, report, summarize

    defaults = SummaryOptions()
    strategy = replace(defaults.strategy, beam=args.beam)
    if args.no_repeat_ngram is not None:
        strategy = replace(strategy, no_repeat_ngram=args.no_repeat_ngram)
    avoid_numbers = defaults.avoid_numbers if args.avoid_numbers is None else args.avoid_numbers
    options = SummaryOptions(method=args.method, length=args.length, rerank=not args.no_rerank,
                             n_best=args.n_best, max_sentence_tokens=args.max_sentence_tokens,
                             avoid_numbers=avoid_numbers, seed=args.seed, strategy=strategy)
    groups = read_groups(args.input, group_column=args.group_column, text_column=args.text_column,
                         columns=args.columns, references=args.references)
    model = load_pipeline(args)
    summaries = summarize(model, groups, options)
    for summary in summaries:
        if summary.message:
            print(f"sentvae summarize: {summary.message}", file=sys.stderr)
        print(summary.text)
    result = report(summaries, groups, options)
    if "evaluation" in result:
        e = result["evaluation"]
        print(f"# {e['groups']} groups: ROUGE-1 {e['rouge1']:.2f}  ROUGE-2 {e['rouge2']:.2f}  "
              f"ROUGE-L {e['rougeL']:.2f}  BLEU {e['bleu']:.2f}  chrF {e['chrf']:.2f}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n",
                                   encoding="utf-8")
    return 0 if any(s.text for s in summaries) else 2


def cmd_fit_prior(args) -> int:
    """Fit the mixture prior to a checkpoint's training codes (the corpus it was trained on)."""
    import torch

    from ..checkpoint import read_train_config, resolve_checkpoint
    from ..latent import fit_code_prior
    from ..pipeline import save_prior
    from ..prior import COMPONENT_CHOICES, FULL_COMPONENT_CHOICES
    from ..splits import prepare_splits

    if args.threads:
        torch.set_num_threads(args.threads)
    choices = tuple(sorted(set(args.components))) if args.components is not None else COMPONENT_CHOICES
    full_choices = (tuple(sorted(set(args.full_components))) if args.full_components is not None
                    else FULL_COMPONENT_CHOICES)
    if not choices and not full_choices:
        raise SentvaeError("--components and --full-components are both empty: no mixture to fit")
    for option, ks in (("--components", choices), ("--full-components", full_choices)):
        if ks and min(ks) < 1:
            raise SentvaeError(f"{option} must be >= 1, got {min(ks)}")
    vae = load_pipeline(args)
    if not vae.cfg.has_latent:
        raise SentvaeError(f"{args.model}: a language model (no latent code) has no prior to fit")
    directory = resolve_checkpoint(args.model)
    train_cfg = read_train_config(directory)
    _, splits = prepare_splits(vae.cfg, train_cfg, vae.tokenizer)
    mixture, report = fit_code_prior(vae.model, splits["train"], splits["valid"], seed=args.seed,
                                     choices=choices, full_choices=full_choices)
    path = save_prior(directory, mixture)
    standard = report["valid_log_likelihood_standard_normal"]
    print(f"validation codes: mean log-likelihood per code (N(0, I): {standard:.2f})")
    for label, score in report["valid_log_likelihood"].items():
        print(f"  {label:>12}  {score:8.2f}{'  <- chosen' if label == mixture.label else ''}")
    print(f"wrote {path}")
    return 0


def _component_list(text: str) -> list[int]:
    """"1,2,4" -> [1, 2, 4]; "" -> [] (none of that kind)."""
    try:
        return [int(k) for k in text.split(",") if k.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


def _trained_on_builtin_corpus(model: str) -> bool:
    """Whether a checkpoint was trained on the built-in grammar corpus (its recogniser applies)."""
    from ..checkpoint import read_train_config, resolve_checkpoint
    from ..errors import CheckpointError

    try:
        return read_train_config(resolve_checkpoint(model)).train_file is None
    except CheckpointError:
        return False


def cmd_evaluate(args) -> int:
    """Score a corpus: NLL (importance-weighted, or exact for a language model), ELBO, KL, mutual
    information, active units, reconstruction BLEU and prior-sample diversity."""
    import torch

    from ..evaluate import evaluate, format_table, load_evaluation_split
    from ..pipeline import VAEPipeline

    if args.threads:
        torch.set_num_threads(args.threads)
    vae = load_pipeline(args)
    split = load_evaluation_split(vae, args.data, text_column=args.text_column,
                                  max_sentences=args.max_sentences, long_sentences=args.long_sentences,
                                  encoding_errors=args.encoding_errors or "strict")
    lm = VAEPipeline.from_pretrained(args.lm, device=args.device) if args.lm else None
    if lm is not None and lm.cfg.has_latent:
        raise SentvaeError(f"{args.lm}: --lm needs a language model checkpoint (latent_dim 0)")
    grammar = args.grammar if args.grammar is not None else _trained_on_builtin_corpus(args.model)
    results = evaluate(vae, split, iw_samples=args.iw_samples, batch_size=args.batch_size,
                       seed=args.seed, prior_samples=args.prior_samples, lm=lm, grammar=grammar,
                       interpolation_pairs=args.interpolation_pairs, beam=args.beam, rerank=args.rerank,
                       z_scale=args.z_scale, refine=args.refine, echo=lambda line: print(line, file=sys.stderr))
    results.update(model=args.model, data=args.data)
    if vae.language_model is not None:  # prior samples and interpolation points decoded with it fused in
        results.update(fusion_lm=args.fusion_lm, fusion_lm_weight=vae.lm_weight)
    print(format_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


def cmd_plot(args) -> int:
    """Training curves of a run; KL per dimension and a PCA of posterior means on a corpus."""
    from ..evaluate import column_values, load_evaluation_split
    from ..pipeline import VAEPipeline
    from ..plot import plot_kl_per_dimension, plot_latent_pca, plot_training

    model_dir = args.model or (args.run if args.data else None)
    if args.run is None and model_dir is None:
        raise SentvaeError("plot needs --run RUN (training curves) and/or -m MODEL --data FILE "
                           "(latent-space plots)")
    if model_dir is not None and args.data is None:
        raise SentvaeError("the latent-space plots need --data FILE to encode")
    out = Path(args.out)
    written = []
    if args.run is not None:
        written.append(plot_training(args.run, out / "training.png"))
    if model_dir is not None:
        vae = VAEPipeline.from_pretrained(model_dir, device=args.device)
        if not vae.cfg.has_latent:
            raise SentvaeError(f"{model_dir}: a language model (no latent code) has no latent space to plot")
        split = load_evaluation_split(vae, args.data, text_column=args.text_column,
                                      max_sentences=args.max_sentences,
                                      encoding_errors=args.encoding_errors or "strict")
        labels = column_values(split, args.label_column) if args.label_column else None
        plot_kl_per_dimension(vae.model, split, out / "kl_per_dimension.png")
        written += [out / "kl_per_dimension.png",
                    plot_latent_pca(vae.model, split, labels, out / "latent_pca.png")]
    for path in written:
        print(path)
    return 0


def add_parsers(sub) -> None:
    """The `summarize`, `fit-prior`, `evaluate` and `plot` subcommands."""
    p = sub.add_parser("summarize", help="summarise groups of reviews through the latent space")
    add_model_options(p)
    p.add_argument("--input", default="-",
                   help="TSV/CSV/JSONL (a group per row, or a text per row with --group-column), or "
                        "plain text as one group (default: stdin)")
    p.add_argument("--columns", help="text columns of a group, e.g. rev1..rev8 (default: found by name)")
    p.add_argument("--text-column", help="column with one text (or a JSON list of texts) per row")
    p.add_argument("--group-column", help="rows with the same value here form one group")
    p.add_argument("--references", help="human-summary columns (e.g. summ1..summ3): print ROUGE, BLEU, chrF")
    p.add_argument("--method", choices=("mean", "cluster", "medoid"), default="cluster",
                   help="mean: one sentence from the mean code; cluster: decode k-means centroids; "
                        "medoid: the input sentences nearest the centroids (default cluster)")
    p.add_argument("--length", type=int, default=55, metavar="WORDS",
                   help="length budget in words (default 55: the mean human summary of the Yelp dev groups)")
    p.add_argument("--no-rerank", action="store_true",
                   help="keep each centroid's best beam sentence (no input-overlap reranking)")
    p.add_argument("--beam", type=int, default=5, metavar="W", help="beam width (default 5)")
    p.add_argument("--n-best", type=int, default=1, metavar="N",
                   help="rerank: also let the N best beam hypotheses of each code compete (default 1)")
    p.add_argument("--no-repeat-ngram", type=int, default=None, metavar="N",
                   help="never repeat an n-gram of this size within a decoded sentence (default 3; 0: off)")
    p.add_argument("--avoid-numbers", action=argparse.BooleanOptionalAction, default=None,
                   help="never choose a decoded sentence with the corpus's number placeholder "
                        "(default: on; it helped on the Yelp dev groups)")
    p.add_argument("--max-sentence-tokens", type=int, default=0, metavar="N",
                   help="split input sentences longer than N tokens at commas (0: off)")
    p.add_argument("--seed", type=int, default=0, help="seed of k-means and subset sampling")
    p.add_argument("--json", metavar="OUT", help="also write method, chosen sentences and scores as JSON")
    p.set_defaults(func=cmd_summarize)
    p = sub.add_parser("fit-prior", help="fit a mixture prior to the training codes of a checkpoint")
    add_model_options(p)
    p.add_argument("--components", type=_component_list, metavar="K,K,...",
                   help="numbers of components to try with diagonal covariances; the best mixture on "
                   "the validation codes is kept (default 1,2,4,8,16,32,64; '' for none)")
    p.add_argument("--full-components", type=_component_list, metavar="K,K,...",
                   help="numbers of components to try with full covariances (default 1,2,4,8,16; '' "
                   "for none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the posterior draws and of EM (default 0)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.set_defaults(func=cmd_fit_prior)

    p = sub.add_parser("evaluate", help="NLL, perplexity, ELBO, KL, mutual information, active units, BLEU")
    add_model_options(p)
    p.add_argument("--data", required=True, help="corpus to score: .txt, .jsonl, .csv, .tsv or .parquet")
    p.add_argument("--text-column", default="text", help="column holding the sentences (default text)")
    p.add_argument("--iw-samples", type=int, default=100, metavar="K",
                   help="importance samples per sentence for the NLL (default 100)")
    p.add_argument("--batch-size", type=int, default=256, metavar="B",
                   help="decoder rows per pass, sentences x importance samples (default 256)")
    p.add_argument("--prior-samples", type=int, default=1000, metavar="N",
                   help="sentences decoded from each prior for distinct-n / self-BLEU / fluency / "
                        "grammaticality (0: skip; default 1000)")
    p.add_argument("--lm", metavar="CKPT",
                   help="a language-model checkpoint (latent_dim 0) trained on the same data: the "
                        "forward perplexity of prior samples under it, next to its perplexity on --data")
    p.add_argument("--grammar", action=argparse.BooleanOptionalAction, default=None,
                   help="score grammaticality with the built-in corpus's recogniser (default: when "
                        "the checkpoint was trained on the built-in corpus)")
    p.add_argument("--interpolation-pairs", type=int, default=100, metavar="N",
                   help="interpolations between random pairs of --data sentences (default 100)")
    p.add_argument("--beam", type=int, default=1, metavar="W",
                   help="decode every latent code (reconstructions, prior samples, interpolations) by "
                        "beam search of width W (default 1: greedy)")
    p.add_argument("--rerank", action="store_true",
                   help="with --beam W: re-order the beams of reconstructions and interpolation ends by "
                        "log p(x | z) + log q(z | x), the sentence that encodes back to its code "
                        "first (prior samples stay plain beam search)")
    add_prior_draw_options(p)  # as `sentvae sample` draws them; the NLLs stay under the priors as they are
    add_fusion_options(p)  # decodes every code with a language model fused in; not the --lm that scores
    p.add_argument("--max-sentences", type=int, metavar="N", help="evaluate only the first N sentences")
    p.add_argument("--long-sentences", choices=("keep", "truncate"), default="keep",
                   help="sentences over the model's max_length: score whole (default) or truncate")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    add_encoding_errors(p)
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("plot", help="PNG plots: training curves, KL per dimension, latent PCA")
    p.add_argument("-m", "--model", help="checkpoint or run directory for the latent plots (default: --run)")
    p.add_argument("--run", help="training run directory: plot its metrics.jsonl")
    p.add_argument("--data", help="corpus to encode for the latent plots")
    p.add_argument("--text-column", default="text", help="column holding the sentences (default text)")
    p.add_argument("--label-column", help="colour the PCA by this column (e.g. label)")
    p.add_argument("--max-sentences", type=int, metavar="N", help="encode only the first N sentences")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--out", default="plots", help="output directory (default plots)")
    add_encoding_errors(p)
    p.set_defaults(func=cmd_plot)
