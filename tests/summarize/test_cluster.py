"""k-means over latent codes (summarize/cluster.py)."""

import torch

from sentvae.summarize.cluster import kmeans


def test_kmeans_is_seeded_and_finds_separated_clusters():
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([c + 0.1 * torch.randn(20, 2, generator=generator) for c in centres])
    found, labels = kmeans(x, 3, seed=1)
    again, labels_again = kmeans(x, 3, seed=1)
    assert torch.equal(found, again) and torch.equal(labels, labels_again)
    assert all(len(set(labels[i * 20:(i + 1) * 20].tolist())) == 1 for i in range(3))
    assert torch.cdist(centres, found).min(dim=1).values.max() < 0.2
    points, own = kmeans(x[:4], 9)
    assert torch.equal(points, x[:4]) and own.tolist() == [0, 1, 2, 3]
