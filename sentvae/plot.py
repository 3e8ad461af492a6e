"""PNG plots of a run and of a model's latent space (matplotlib, the `plot` extra, Agg backend).

    plot_training          reconstruction, KL, beta and the validation NLL bound against step
    plot_kl_per_dimension  average KL(q(z_d | x) || N(0, 1)) of each latent dimension on a corpus
    plot_latent_pca        posterior means projected on their first two principal components,
                           coloured by a label column when the corpus has one
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .errors import DataError, SentvaeError


def _pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend, or a clear error if it is missing."""
    try:
        import matplotlib
    except ImportError:
        raise SentvaeError("plotting needs matplotlib: pip install 'sentvae[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, out_png) -> Path:
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    _pyplot().close(figure)
    return out


def read_metrics(run_dir) -> list[dict]:
    """The records of a run's metrics.jsonl (a `DataError` naming the file and line if bad)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise DataError(f"{path}: no such file (is {run_dir} a training run directory?)")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: malformed JSON ({exc.msg})") from None
    return records


def plot_training(run_dir, out_png) -> Path:
    """Training curves of a run: reconstruction NLL, KL, beta (train) and the valid bound."""
    plt = _pyplot()
    records = read_metrics(run_dir)
    for record in records:  # runs of sentvae before 0.2 logged the bound as "elbo_per_sentence"
        if "elbo_per_sentence" in record:
            record.setdefault("neg_elbo_per_sentence", record["elbo_per_sentence"])
    train = [r for r in records if r.get("split") == "train"]
    valid = [r for r in records if r.get("split") == "valid"]
    if not train and not valid:
        raise DataError(f"{Path(run_dir) / 'metrics.jsonl'}: no training or validation records")
    figure, axes = plt.subplots(2, 2, figsize=(10, 7))
    panels = [
        (axes[0, 0], train, "rec", "reconstruction NLL (nats / sentence)", "Training reconstruction"),
        (axes[0, 1], train, "kl", "KL (nats / sentence)", "Training KL"),
        (axes[1, 0], train, "beta", "beta (KL weight)", "KL weight schedule"),
        (axes[1, 1], valid, "neg_elbo_per_sentence", "-ELBO, beta = 1 (nats / sentence)",
         "Validation NLL bound"),
    ]
    for axis, rows, key, ylabel, title in panels:
        points = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
        if len(points) >= 30:  # many noisy one-batch values: faint raw curve + moving average
            steps, values = map(np.asarray, zip(*points))
            window = max(2, len(points) // 25)
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            axis.plot(steps, values, alpha=0.3, linewidth=0.8, label="logged")
            axis.plot(steps[window - 1:], smooth, label=f"mean of {window}")
            axis.legend()
        elif points:
            steps, values = zip(*points)
            axis.plot(steps, values, marker="o", markersize=3)
        else:
            axis.text(0.5, 0.5, "no records", ha="center", va="center", transform=axis.transAxes)
        axis.set_xlabel("step")
        axis.set_ylabel(ylabel)
        axis.set_title(title)
        axis.grid(alpha=0.3)
    figure.suptitle(f"Training curves: {run_dir}")
    return _save(figure, out_png)


def plot_kl_per_dimension(model, split, out_png) -> list[float]:
    """Bar chart of the average KL of each latent dimension on `split`; returns the values."""
    from .latent import kl_per_dimension

    plt = _pyplot()
    values = kl_per_dimension(model, split)
    figure, axis = plt.subplots(figsize=(max(6, 0.25 * len(values) + 2), 4))
    axis.bar(range(len(values)), values, color="tab:blue")
    axis.set_xlabel("latent dimension")
    axis.set_ylabel("KL(q(z_d | x) || N(0, 1)) (nats)")
    axis.set_title(f"KL per latent dimension ({len(split):,} sentences; total {sum(values):.2f} nats)")
    axis.grid(axis="y", alpha=0.3)
    _save(figure, out_png)
    return values


def principal_components(points: torch.Tensor, k: int = 2) -> torch.Tensor:
    """Project points (N, D) on their first `k` principal components -> (N, k)."""
    centred = points.double() - points.double().mean(0, keepdim=True)
    _, _, right = torch.linalg.svd(centred, full_matrices=False)  # rows of right: directions
    projected = centred @ right[:k].T  # (N, k)
    if projected.size(1) < k:  # fewer dimensions than components: pad with zeros
        projected = torch.cat([projected, projected.new_zeros(len(points), k - projected.size(1))], 1)
    return projected.float()


def plot_latent_pca(model, split, labels: list | None, out_png, max_points: int = 5000,
                    seed: int = 0) -> Path:
    """Scatter of posterior means on their first two principal components, coloured by label.

    `labels`: one per sentence of `split` (or None). At most `max_points` (a seeded subset) are drawn.
    """
    from .latent import posterior_parameters

    plt = _pyplot()
    if labels is not None and len(labels) != len(split):
        raise DataError(f"{len(labels)} labels for {len(split)} sentences")
    chosen = np.arange(len(split))
    if len(split) > max_points:
        chosen = np.sort(np.random.default_rng(seed).choice(len(split), max_points, replace=False))
    mu, _ = posterior_parameters(model, split)
    projected = principal_components(mu[torch.from_numpy(chosen)]).numpy()  # (n, 2)
    figure, axis = plt.subplots(figsize=(7, 6))
    if labels is None:
        axis.scatter(projected[:, 0], projected[:, 1], s=6, alpha=0.5)
    else:
        chosen_labels = [str(labels[i]) for i in chosen]
        for value in sorted(set(chosen_labels)):
            mask = np.array([label == value for label in chosen_labels])
            axis.scatter(projected[mask, 0], projected[mask, 1], s=6, alpha=0.5, label=value)
        axis.legend(title="label", markerscale=3)
    axis.set_xlabel("principal component 1")
    axis.set_ylabel("principal component 2")
    axis.set_title(f"Posterior means, 2-D PCA ({len(chosen):,} sentences)")
    axis.grid(alpha=0.3)
    return _save(figure, out_png)


__all__ = ["plot_training", "plot_kl_per_dimension", "plot_latent_pca", "principal_components",
           "read_metrics"]
