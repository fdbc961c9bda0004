"""Know your threshold: calibration on constructed distances and embeddings with a known ROC."""

from __future__ import annotations

import numpy as np
import pytest

from engine.features.faces.calibration import CalibrationError, calibrate, calibrate_gallery, pair_distances


def test_a_known_roc_gives_the_exact_eer_and_far_thresholds():
    # 10 genuine distances 0.1..1.0 and 10 impostor distances 0.65..1.55 (steps of 0.1).
    genuine = np.round(np.arange(1, 11) * 0.1, 10)
    impostor = np.round(0.55 + np.arange(1, 11) * 0.1, 10)
    cal = calibrate(genuine, impostor)
    # At t = 0.8: FRR = 2/10 (0.9, 1.0 rejected); FAR = 2/10 (0.65, 0.75 accepted): they meet.
    assert cal.eer == pytest.approx(0.2)
    assert cal.eer_threshold == pytest.approx(0.8)
    assert cal.rates_at(0.8) == (pytest.approx(0.2), pytest.approx(0.2))
    # The largest threshold with FAR <= 10 % is the last one before the second impostor (0.75).
    assert cal.threshold_at_far(0.1) == pytest.approx(0.7)
    assert cal.threshold_at_far(0.0) < 0.65 and cal.rates_at(cal.threshold_at_far(0.0))[0] == 0.0
    assert cal.threshold_at_far(1.0) == pytest.approx(1.55)
    # ROC endpoints: below every distance nothing is accepted; at the top everything is.
    assert cal.far[0] == 0.0 and cal.frr[0] == 1.0 and cal.far[-1] == 1.0 and cal.frr[-1] == 0.0
    assert np.all(np.diff(cal.far) >= 0) and np.all(np.diff(cal.frr) <= 0)


def test_separable_distances_have_zero_eer():
    cal = calibrate([0.1, 0.2, 0.3], [0.5, 0.9])
    assert cal.eer == 0.0 and 0.3 <= cal.eer_threshold < 0.5
    assert cal.threshold_at_far(0.0) == pytest.approx(0.3)


def test_pairs_from_constructed_embeddings():
    # Person 0 at x = 0 and x = 0.3; person 1 at x = 1.0 and 1.1 (1-d "embeddings", L2).
    vectors = np.array([[0.0], [0.3], [1.0], [1.1]], np.float32)
    labels = np.array([0, 0, 1, 1])
    genuine, impostor = pair_distances(vectors, labels, "l2")
    assert sorted(np.round(genuine, 6)) == [0.1, 0.3]
    assert sorted(np.round(impostor, 6)) == [0.7, 0.8, 1.0, 1.1]
    cal = calibrate(genuine, impostor)
    assert cal.eer == 0.0 and cal.threshold_at_far(0.25) == pytest.approx(0.7)
    cos_g, cos_i = pair_distances(np.array([[1, 0], [1, 0], [0, 1]], np.float32), np.array([0, 0, 1]), "cosine")
    assert np.allclose(cos_g, [0.0]) and np.allclose(cos_i, [1.0, 1.0])


def test_one_person_says_impostors_are_needed(gallery):
    rng = np.random.default_rng(0)
    chips = [rng.integers(0, 255, (160, 160, 3), dtype=np.uint8) for _ in range(2)]
    vecs = rng.normal(size=(2, 4)).astype(np.float32)
    gallery.enrol("Ann", zip(chips, vecs), "toy")
    with pytest.raises(CalibrationError, match="impostors are needed"):
        calibrate_gallery(gallery, "toy", "l2")
    with pytest.raises(CalibrationError, match="no other-embedder embeddings"):
        calibrate_gallery(gallery, "other-embedder", "l2")
    gallery.enrol("Bob", zip(chips[:1], vecs[:1] + 5.0), "toy")
    cal = calibrate_gallery(gallery, "toy", "l2")
    assert len(cal.genuine) == 1 and len(cal.impostor) == 2
