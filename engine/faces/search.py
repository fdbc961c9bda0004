"""Nearest-neighbour search over gallery embeddings: one (N, D) float32 matrix on a device.

Rows are unit vectors, so both metrics come from one matrix product:
cosine distance = 1 - q.v, L2 distance = sqrt(2 - 2 q.v). Ranking by the dot product
is therefore exact for both, and the square root is only taken for the k answers.

Adding appends into spare capacity (the buffer doubles when full) and removing moves
the last row into the hole, so both cost O(D) per row instead of rebuilding the matrix.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hit:
    """One search answer: the row's key (e.g. an embedding id), its label, its distance."""

    key: int
    label: int
    distance: float


def similarity_to_distance(sim: torch.Tensor, metric: str) -> torch.Tensor:
    if metric == "cosine":
        return 1.0 - sim
    if metric == "euclidean":
        return torch.sqrt(torch.clamp(2.0 - 2.0 * sim, min=0.0))
    raise ValueError(f"unknown metric '{metric}': use cosine or euclidean")


class VectorIndex:
    """Exact top-k search over unit vectors, thread-safe.

    dim: vector length D. metric: "cosine" or "euclidean". device: where the matrix lives.
    Each row has a unique integer ``key`` and an integer ``label`` (e.g. a person id);
    ``search(..., per_label=True)`` returns the best row of each label only.
    """

    def __init__(self, dim: int, metric: str = "cosine", device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32, capacity: int = 64) -> None:
        similarity_to_distance(torch.zeros(1), metric)  # validates the metric name
        self.dim = dim
        self.metric = metric
        self.device = torch.device(device)
        self.dtype = dtype
        self._matrix = torch.zeros((max(capacity, 1), dim), dtype=dtype, device=self.device)
        self._labels = torch.zeros(max(capacity, 1), dtype=torch.long, device=self.device)
        self._keys: list[int] = []
        self._row_of: dict[int, int] = {}
        self._label_list: list[int] = []
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._keys)

    def keys(self) -> list[int]:
        with self._lock:
            return list(self._keys)

    def labels_by_key(self) -> dict[int, int]:
        with self._lock:
            return dict(zip(self._keys, self._label_list))

    def __contains__(self, key: int) -> bool:
        return key in self._row_of

    def _grow(self, needed: int) -> None:
        capacity = self._matrix.shape[0]
        if needed <= capacity:
            return
        while capacity < needed:
            capacity *= 2
        matrix = torch.zeros((capacity, self.dim), dtype=self.dtype, device=self.device)
        labels = torch.zeros(capacity, dtype=torch.long, device=self.device)
        n = len(self._keys)
        matrix[:n] = self._matrix[:n]
        labels[:n] = self._labels[:n]
        self._matrix, self._labels = matrix, labels

    def add(self, keys: Sequence[int], vectors: np.ndarray, labels: Sequence[int]) -> None:
        """Add rows. vectors: (M, D) float32 unit vectors. A key already present is replaced."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(keys) != len(vectors) or len(labels) != len(vectors):
            raise ValueError(f"{len(keys)} keys, {len(labels)} labels and {len(vectors)} vectors: counts must match")
        with self._lock:
            present = [k for k in keys if k in self._row_of]
            if present:
                self.remove(present)
            n = len(self._keys)
            self._grow(n + len(keys))
            self._matrix[n:n + len(keys)] = torch.from_numpy(vectors).to(self.device, self.dtype)
            self._labels[n:n + len(keys)] = torch.as_tensor(list(labels), dtype=torch.long).to(self.device)
            for i, (key, label) in enumerate(zip(keys, labels)):
                self._row_of[int(key)] = n + i
                self._keys.append(int(key))
                self._label_list.append(int(label))

    def remove(self, keys: Sequence[int]) -> int:
        """Remove rows by key (unknown keys are ignored); returns how many were removed."""
        removed = 0
        with self._lock:
            for key in keys:
                row = self._row_of.pop(int(key), None)
                if row is None:
                    continue
                last = len(self._keys) - 1
                if row != last:  # fill the hole with the last row
                    self._matrix[row] = self._matrix[last]
                    self._labels[row] = self._labels[last]
                    moved = self._keys[last]
                    self._keys[row] = moved
                    self._label_list[row] = self._label_list[last]
                    self._row_of[moved] = row
                self._keys.pop()
                self._label_list.pop()
                removed += 1
        return removed

    def remove_label(self, label: int) -> int:
        """Remove every row of ``label`` (e.g. a deleted person)."""
        with self._lock:
            return self.remove([k for k, lab in zip(self._keys, self._label_list) if lab == label])

    def relabel(self, old: int, new: int) -> None:
        """Give rows of label ``old`` the label ``new`` (merging two people)."""
        with self._lock:
            n = len(self._keys)
            view = self._labels[:n]
            view[view == old] = new
            self._label_list = [new if lab == old else lab for lab in self._label_list]

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()
            self._row_of.clear()
            self._label_list.clear()

    def search(self, queries: np.ndarray, k: int = 1, per_label: bool = True) -> list[list[Hit]]:
        """Top-k nearest rows for each query.

        queries: (Q, D) or (D,) float32 unit vectors. per_label: keep only the closest row
        of each label (so k people, not k shots of one person). Returns Q lists of up to k
        hits, nearest first.
        """
        q = np.asarray(queries, dtype=np.float32).reshape(-1, self.dim)
        with self._lock:
            n = len(self._keys)
            if n == 0 or len(q) == 0:
                return [[] for _ in range(len(q))]
            qt = torch.from_numpy(q).to(self.device, self.dtype)
            sims = qt @ self._matrix[:n].T  # (Q, n)
            results = []
            if per_label and k > 1:
                labels = self._labels[:n]
                uniq, inverse = torch.unique(labels, return_inverse=True)
                best = torch.full((len(q), len(uniq)), -float("inf"), dtype=sims.dtype, device=self.device)
                best = best.scatter_reduce(1, inverse.expand(len(q), n), sims, reduce="amax", include_self=True)
                kk = min(k, len(uniq))
                top_sim, top_label_idx = torch.topk(best, kk, dim=1)
                # Map each chosen label back to its best row (for the key).
                for qi in range(len(q)):
                    hits = []
                    for s, li in zip(top_sim[qi].tolist(), top_label_idx[qi].tolist()):
                        label = int(uniq[li])
                        mask = labels == label
                        row = int(torch.nonzero(mask)[torch.argmax(sims[qi][mask])])
                        dist = float(similarity_to_distance(torch.tensor(s), self.metric))
                        hits.append(Hit(self._keys[row], label, dist))
                    results.append(hits)
                return results
            kk = min(k, n)
            top_sim, top_row = torch.topk(sims, kk, dim=1) if kk > 1 else sims.max(dim=1, keepdim=True)
            dists = similarity_to_distance(top_sim.float(), self.metric).cpu().tolist()
            rows = top_row.cpu().tolist()
            for qi in range(len(q)):
                results.append([Hit(self._keys[r], self._label_list[r], d) for r, d in zip(rows[qi], dists[qi])])
            return results
