"""VectorIndex against brute force, and incremental changes against a rebuilt index."""

from __future__ import annotations

import numpy as np
import pytest

from engine.features.faces.search import VectorIndex


def _unit(rng, n, d):
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("half", [False, True], ids=["float32", "float16-ranking"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_top_k_equals_brute_force(metric, half):
    rng = np.random.default_rng(0)
    data, queries = _unit(rng, 500, 32), _unit(rng, 7, 32)
    index = VectorIndex(32, metric, capacity=4, half_ranking=half)  # capacity 4 forces the buffer to grow
    index.add(list(range(1000, 1500)), data, list(range(500)))
    for q, hits in zip(queries, index.search(queries, k=5)):
        if metric == "cosine":
            d = 1 - data @ q
        else:
            d = np.linalg.norm(data - q, axis=1)
        order = np.argsort(d)[:5]
        assert [h.key for h in hits] == [1000 + i for i in order]
        assert np.allclose([h.distance for h in hits], d[order], atol=1e-5)


@pytest.mark.parametrize("half", [False, True], ids=["float32", "float16-ranking"])
def test_incremental_add_remove_matches_a_rebuilt_index(half):
    rng = np.random.default_rng(1)
    data = _unit(rng, 300, 16)
    labels = rng.integers(0, 40, 300)
    live = VectorIndex(16, "cosine", capacity=8, half_ranking=half)
    live.add(list(range(200)), data[:200], labels[:200])
    removed = rng.choice(200, 80, replace=False).tolist()
    assert live.remove(removed + [99999]) == 80
    live.add(list(range(200, 300)), data[200:], labels[200:])
    keep = [i for i in range(300) if i not in set(removed)]
    rebuilt = VectorIndex(16, "cosine", half_ranking=False)
    rebuilt.add(keep, data[keep], labels[keep])
    assert len(live) == len(rebuilt) == 220
    queries = _unit(rng, 20, 16)
    for a, b in zip(live.search(queries, k=3, per_label=False), rebuilt.search(queries, k=3, per_label=False)):
        assert [h.key for h in a] == [h.key for h in b]
    assert live.remove_label(int(labels[keep[0]])) > 0
    assert all(h.label != int(labels[keep[0]]) for hits in live.search(queries, k=10) for h in hits)


@pytest.mark.parametrize("half", [False, True], ids=["float32", "float16-ranking"])
def test_per_label_returns_distinct_people_with_their_best_row(half):
    rng = np.random.default_rng(2)
    base = _unit(rng, 3, 8)
    # Person 7 has two shots near the query, person 9 one further away.
    data = np.stack([base[0], base[0] * 0.99 + base[1] * 0.01, base[2]])
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    index = VectorIndex(8, "euclidean", half_ranking=half)
    index.add([1, 2, 3], data, [7, 7, 9])
    hits = index.search(base[0], k=2, per_label=True)[0]
    assert [h.label for h in hits] == [7, 9] and hits[0].key == 1 and hits[0].distance < 1e-3
    far = float(np.linalg.norm(data[2] - base[0]))
    assert np.allclose(index.distance_to_label(np.stack([base[0], base[0]]), 9), [far, far], atol=1e-5)
    assert np.isinf(index.distance_to_label(base[0], 123)).all()
    index.relabel(9, 7)
    assert {h.label for h in index.search(base[0], k=3, per_label=False)[0]} == {7}
    assert index.search(np.zeros((0, 8), np.float32)) == []
    assert VectorIndex(8).search(base[0]) == [[]]


def test_bad_metric_and_mismatched_counts_are_refused():
    with pytest.raises(ValueError, match="unknown metric"):
        VectorIndex(4, "manhattan")
    with pytest.raises(ValueError, match="counts must match"):
        VectorIndex(4).add([1, 2], np.zeros((1, 4), np.float32), [1, 2])


def test_float16_ranking_finds_the_float32_answer_among_many_close_vectors():
    # 20k vectors crowded around one direction: float16 rounding alone cannot rank them.
    rng = np.random.default_rng(3)
    centre = _unit(rng, 1, 64)[0]
    data = centre + 0.01 * rng.normal(size=(20_000, 64)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    queries = data[:20] + 0.001 * rng.normal(size=(20, 64)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    fast = VectorIndex(64, "cosine", half_ranking=True)
    exact = VectorIndex(64, "cosine", half_ranking=False)
    for index in (fast, exact):
        index.add(list(range(20_000)), data, [0] * 20_000)
    for a, b in zip(fast.search(queries, k=3, per_label=False), exact.search(queries, k=3, per_label=False)):
        assert [h.key for h in a] == [h.key for h in b]
        assert np.allclose([h.distance for h in a], [h.distance for h in b], atol=1e-6)
