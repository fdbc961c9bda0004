"""Nearest-neighbour search over gallery embeddings: one (N, D) float32 matrix on a device.

Rows are unit vectors, so both metrics come from one matrix product:
cosine distance = 1 - q.v, L2 distance = sqrt(2 - 2 q.v). Ranking by the dot product
is therefore exact for both, and the square root is only taken for the k answers.

On the CPU a matrix-vector product is limited by memory bandwidth, so the index also
keeps a float16 copy for ranking when that is faster on this machine (it halves the
bytes read) and re-ranks a short list of candidates with the float32 rows: answers
and distances are those of the float32 vectors.

Adding appends into spare capacity (the buffer doubles when full) and removing moves
the last row into the hole, so both cost O(D) per row instead of rebuilding the matrix.
"""

from __future__ import annotations

import functools
import logging
import platform
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


def similarity_to_distance(sim: torch.Tensor, metric: str, q_sqnorm: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Distance from a score. For "l2" (plain Euclidean distance between raw, not unit,
    vectors such as dlib's descriptors) the score is q.v - |v|^2 / 2, so that
    |q - v|^2 = |q|^2 - 2 * score; ``q_sqnorm`` is |q|^2 (broadcast over the scores)."""
    if metric == "l2":
        return torch.sqrt(torch.clamp(q_sqnorm - 2.0 * sim, min=0.0))
    if metric == "cosine":
        # Rounding can push q.v of a vector with itself just above 1; a distance is never negative.
        return torch.clamp(1.0 - sim, min=0.0)
    if metric == "euclidean":
        return torch.sqrt(torch.clamp(2.0 - 2.0 * sim, min=0.0))
    raise ValueError(f"unknown metric '{metric}': use cosine, euclidean or l2")


SHORTLIST = 32  # candidates re-ranked in float32 after a float16 ranking


@functools.lru_cache(maxsize=1)
def cpu_half_is_faster() -> bool:
    """Whether float16 matrix-vector products beat float32 on this CPU.

    PyTorch has vectorised float16 kernels for x86 with AVX2/AVX-512 (F16C conversion)
    and for ARM64; elsewhere float16 falls back to slow scalar code. Decided from the
    CPU's capability rather than by timing, because a timing taken on a busy machine
    (or on a matrix that fits in the cache) would flip the decision from run to run.
    """
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        return True
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        return False
    return capability in ("AVX2", "AVX512")


class VectorIndex:
    """Exact top-k search over unit vectors, thread-safe.

    dim: vector length D. metric: "cosine" or "euclidean" (unit vectors), or "l2" (raw
    vectors, plain Euclidean distance). device: where the matrix lives.
    Each row has a unique integer ``key`` and an integer ``label`` (e.g. a person id);
    ``search(..., per_label=True)`` returns the best row of each label only.
    """

    def __init__(self, dim: int, metric: str = "cosine", device: torch.device | str = "cpu",
                 capacity: int = 64, half_ranking: bool | None = None) -> None:
        """half_ranking: rank with a float16 copy (None: on the CPU when measured faster)."""
        similarity_to_distance(torch.zeros(1), metric)  # validates the metric name
        self.dim = dim
        self.metric = metric
        self.device = torch.device(device)
        self.dtype = torch.float32
        if half_ranking is None:
            half_ranking = self.device.type == "cpu" and cpu_half_is_faster()
        self.half_ranking = bool(half_ranking)
        self._matrix = torch.zeros((max(capacity, 1), dim), dtype=self.dtype, device=self.device)
        self._fast = self._matrix.half() if self.half_ranking else None
        self._labels = torch.zeros(max(capacity, 1), dtype=torch.long, device=self.device)
        # Half squared norms of the rows, subtracted from q.v for the "l2" metric (else zeros).
        self._half_sq = torch.zeros(max(capacity, 1), dtype=self.dtype, device=self.device)
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
        half_sq = torch.zeros(capacity, dtype=self.dtype, device=self.device)
        n = len(self._keys)
        matrix[:n] = self._matrix[:n]
        labels[:n] = self._labels[:n]
        half_sq[:n] = self._half_sq[:n]
        self._matrix, self._labels, self._half_sq = matrix, labels, half_sq
        if self._fast is not None:
            fast = torch.zeros((capacity, self.dim), dtype=torch.float16, device=self.device)
            fast[:n] = self._fast[:n]
            self._fast = fast

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
            if self.metric == "l2":
                self._half_sq[n:n + len(keys)] = 0.5 * (self._matrix[n:n + len(keys)] ** 2).sum(1)
            if self._fast is not None:
                self._fast[n:n + len(keys)] = self._matrix[n:n + len(keys)].half()
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
                    self._half_sq[row] = self._half_sq[last]
                    if self._fast is not None:
                        self._fast[row] = self._fast[last]
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
            q_sq = (qt ** 2).sum(1, keepdim=True)
            sims = self._rank(qt, n)  # (Q, n), float32 values (float16-accurate when half_ranking)
            if per_label and k > 1:
                return self._search_per_label(qt, sims, n, k, q_sq)
            kk = min(k, n)
            if self._fast is not None:
                # Short list from the float16 ranking, then exact float32 scores.
                shortlist = torch.topk(sims, min(n, max(kk, SHORTLIST)), dim=1).indices
                exact = torch.einsum("qd,qsd->qs", qt, self._matrix[shortlist]) - self._half_sq[shortlist]
                top_sim, order = torch.topk(exact, kk, dim=1)
                top_row = torch.gather(shortlist, 1, order)
            elif kk > 1:
                top_sim, top_row = torch.topk(sims, kk, dim=1)
            else:
                top_sim, top_row = sims.max(dim=1, keepdim=True)
            dists = similarity_to_distance(top_sim.float(), self.metric, q_sq).cpu().tolist()
            rows = top_row.cpu().tolist()
            return [[Hit(self._keys[r], self._label_list[r], d) for r, d in zip(rows[qi], dists[qi])]
                    for qi in range(len(q))]

    def distance_to_label(self, queries: np.ndarray, label: int) -> np.ndarray:
        """Distance of each query (Q, D) to the closest row of ``label`` -> (Q,) float32 (inf: no rows)."""
        q = np.asarray(queries, dtype=np.float32).reshape(-1, self.dim)
        with self._lock:
            n = len(self._keys)
            rows = torch.nonzero(self._labels[:n] == int(label)).flatten()
            if len(rows) == 0 or len(q) == 0:
                return np.full(len(q), np.inf, np.float32)
            qt = torch.from_numpy(q).to(self.device)
            sims = qt @ self._matrix[rows].T - self._half_sq[rows]  # (Q, rows)
            q_sq = (qt ** 2).sum(1)
            return similarity_to_distance(sims.max(dim=1).values, self.metric, q_sq).cpu().numpy().astype(np.float32)

    def _rank(self, qt: torch.Tensor, n: int) -> torch.Tensor:
        return self._dot(qt, n) - self._half_sq[:n]

    def _dot(self, qt: torch.Tensor, n: int) -> torch.Tensor:
        if self._fast is not None:
            if len(qt) == 1:
                return torch.mv(self._fast[:n], qt[0].half()).float()[None]
            return (qt.half() @ self._fast[:n].T).float()
        if len(qt) == 1:
            return torch.mv(self._matrix[:n], qt[0])[None]
        return qt @ self._matrix[:n].T

    def _search_per_label(self, qt: torch.Tensor, sims: torch.Tensor, n: int, k: int, q_sq: torch.Tensor) -> list[list[Hit]]:
        labels = self._labels[:n]
        uniq, inverse = torch.unique(labels, return_inverse=True)
        best = torch.full((len(qt), len(uniq)), -float("inf"), dtype=sims.dtype, device=self.device)
        best = best.scatter_reduce(1, inverse.expand(len(qt), n), sims, reduce="amax", include_self=True)
        kk = min(k, len(uniq))
        top_label_idx = torch.topk(best, kk, dim=1).indices
        results = []
        for qi in range(len(qt)):
            hits = []
            for li in top_label_idx[qi].tolist():
                label = int(uniq[li])
                rows = torch.nonzero(labels == label).flatten()
                exact = self._matrix[rows] @ qt[qi] - self._half_sq[rows]  # float32 scores of this label's rows
                j = int(torch.argmax(exact))
                dist = float(similarity_to_distance(exact[j], self.metric, q_sq[qi, 0]))
                hits.append(Hit(self._keys[int(rows[j])], label, dist))
            results.append(sorted(hits, key=lambda h: h.distance))
        return results
