"""k-nearest-neighbour scores over feature vectors, the score of every kNN-on-features method."""

from __future__ import annotations

import torch

CHUNK = 1024


@torch.no_grad()
def knn_score(queries: torch.Tensor, reference: torch.Tensor, k: int) -> torch.Tensor:
    """Mean squared Euclidean distance of each query to its ``k`` nearest reference vectors.

    Queries are compared in chunks: memory stays bounded by ``CHUNK`` x len(reference).
    """
    k = min(k, len(reference))
    out = [
        torch.cdist(queries[i : i + CHUNK], reference).pow(2).topk(k, dim=1, largest=False).values.mean(dim=1)
        for i in range(0, len(queries), CHUNK)
    ]
    return torch.cat(out) if out else queries.new_zeros(0)
