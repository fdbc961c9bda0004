"""Fixtures for the detection tests: bundled cfgs, random-but-calibrated Darknet weights
written in the real file format (cached for the session), and test images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.features.detect.backends.darknet.random_weights import synthetic_image, write_random_weights
from engine.features.detect.names import bundled_path


@pytest.fixture(scope="session")
def darknet_weights(tmp_path_factory):
    """``darknet_weights(name, seed=0) -> (cfg_path, weights_path)`` for a bundled cfg."""
    folder = tmp_path_factory.mktemp("darknet-weights")
    made: dict[tuple[str, int], Path] = {}

    def make(name: str, seed: int = 0) -> tuple[Path, Path]:
        cfg = bundled_path(f"{name}.cfg")
        key = (name, seed)
        if key not in made:
            path = folder / f"{name}-{seed}.weights"
            write_random_weights(cfg, path, seed=seed)
            made[key] = path
        return cfg, made[key]

    return make


@pytest.fixture(scope="session")
def street_image() -> np.ndarray:
    """A 480x640 BGR synthetic picture (not square, so x/y mix-ups show)."""
    return synthetic_image(480, 640, seed=3)
