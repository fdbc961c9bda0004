"""The classical LBP embedder separates the astronaut from other people with its default threshold."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.features.faces.align import align_face
from engine.features.faces.detectors import HaarDetector
from engine.features.faces.embedders import LBPEmbedder, default_embedder_name, distances, make_embedder


@pytest.fixture(scope="module")
def embedder():
    return LBPEmbedder()


@pytest.fixture(scope="module")
def variant_vectors(astronaut_variants, embedder):
    det = HaarDetector()
    chips = {name: align_face(img, det.detect(img)[0]) for name, img in astronaut_variants.items()}
    return dict(zip(chips, embedder.embed(list(chips.values()))))


def test_vectors_are_unit_float32(embedder, astronaut):
    chip = align_face(astronaut, HaarDetector().detect(astronaut)[0])
    vec = embedder.embed([chip, chip])
    assert vec.shape == (2, embedder.dim) and vec.dtype == np.float32
    assert np.allclose(np.linalg.norm(vec, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, embedder.dim)


def test_mirror_and_global_brightness_do_not_change_the_descriptor(embedder, astronaut):
    chip = align_face(astronaut, HaarDetector().detect(astronaut)[0])
    base, mirrored, brighter = embedder.embed([chip, chip[:, ::-1].copy(), cv2.add(chip, 10)])
    assert float(base @ mirrored) == pytest.approx(1.0, abs=1e-6)
    # Adding a constant keeps every neighbour comparison except where pixels saturate.
    assert 1 - float(base @ brighter) < 0.01


def test_genuine_pairs_are_within_and_impostors_beyond_the_default_threshold(embedder, variant_vectors, lfw_faces, coins):
    threshold = embedder.default_threshold
    vecs = np.stack(list(variant_vectors.values()))
    for name, vec in variant_vectors.items():
        assert distances(vec, vecs, "cosine").max() <= threshold, name
    det = HaarDetector()
    coin_chips = [align_face(coins, f) for f in det.detect(coins)]
    impostors = embedder.embed(lfw_faces + coin_chips)
    nearest = np.array([distances(v, vecs, "cosine").min() for v in impostors])
    assert (nearest > threshold).all(), f"{(nearest <= threshold).sum()} impostors accepted, closest {nearest.min():.3f}"


def test_the_offline_embedder_is_the_default_when_nothing_is_installed(tmp_path):
    from engine.models.cache import WeightsCache

    empty = WeightsCache(tmp_path / "models", bundled=False)
    assert default_embedder_name(empty) == "lbp"
    emb = make_embedder(None, empty)
    assert emb.name == "lbp" and emb.classical and "classical" in emb.title.lower()
    assert "classical" in emb.describe()
