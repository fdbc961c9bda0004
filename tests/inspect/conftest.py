"""Fixtures of the inspection tests: small frames, generated weights files."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture
def frame_image() -> np.ndarray:
    """A 120 x 160 BGR test card: gradient background with a bright square (deterministic)."""
    rng = np.random.default_rng(7)
    image = np.zeros((120, 160, 3), np.uint8)
    image[..., 0] = np.linspace(0, 200, 160, dtype=np.uint8)[None, :]
    image[..., 1] = np.linspace(0, 150, 120, dtype=np.uint8)[:, None]
    image[30:70, 40:90] = 255
    image += rng.integers(0, 20, image.shape, dtype=np.uint8)
    return image


@pytest.fixture
def make_frame(frame_image):
    """Wraps an image in the engine's Frame type (index and time stamp filled in)."""
    import time

    from engine.io.sources import Frame

    def make(image: np.ndarray | None = None, index: int = 0):
        return Frame(image=frame_image if image is None else image, index=index, timestamp=time.monotonic(), source="test")

    return make


@pytest.fixture
def random_weights_file(tmp_path):
    """Saves a freshly initialised state_dict of a zoo model, the way users save theirs."""

    def save(name: str, seed: int = 0):
        from engine.features.inspect.zoo import model_spec

        torch.manual_seed(seed)
        module = model_spec(name).build()
        path = tmp_path / f"{name}-random-{seed}.pth"
        torch.save(module.state_dict(), path)
        return path, module

    return save
