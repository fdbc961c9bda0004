"""Panorama-shaped pictures in stylize: one clear line instead of a traceback."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch


@pytest.fixture()
def vgg_installed(tmp_path, monkeypatch):
    from engine.features.style.vgg import random_vgg19_state_dict
    from engine.models.cache import WeightsCache
    from engine.models.catalog import catalog

    monkeypatch.setenv("CNN_STUDIO_HOME", str(tmp_path / "home"))
    weights = tmp_path / "vgg19-random.pth"
    torch.save(random_vgg19_state_dict(seed=4), weights)
    WeightsCache().import_file(catalog().get("vgg19"), weights, force=True)


@pytest.mark.parametrize("role", ["content", "style"])
def test_a_thin_strip(tmp_path, vgg_installed, cli, role):
    rng = np.random.default_rng(6)
    strip = tmp_path / "strip.png"
    cv2.imwrite(str(strip), rng.integers(0, 256, (18, 2400, 3), dtype=np.uint8))
    square = tmp_path / "square.png"
    cv2.imwrite(str(square), rng.integers(0, 256, (96, 96, 3), dtype=np.uint8))
    content, style = (strip, square) if role == "content" else (square, strip)
    out = tmp_path / "out.png"
    result = cli("stylize", content, style, "-o", out, "--steps", "2", "--size", "192")
    result.assert_one_error("2400x18", "short side")
    assert not out.exists()
