"""Fixtures for the style tests: procedural pictures and weights generated in the published layouts."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.features.style.adain import random_decoder_state, random_encoder_state
from engine.features.style.gatys import GatysSettings
from engine.features.style.vgg import random_vgg19_state_dict

# Layers that keep Gatys tests cheap on a shared CPU: the extractor then stops at conv2_2.
SHALLOW = dict(content_layer="conv2_2", style_layers=(("conv1_1", 0.5), ("conv2_1", 0.5)))


def make_content(height: int = 48, width: int = 64) -> np.ndarray:
    """A 'photo': smooth colour gradient with a disc and a bar (BGR uint8)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([x / width * 200 + 30, y / height * 180 + 40, 120 + 60 * np.sin(x / 9.0)], axis=2)
    image = image.astype(np.uint8)
    cv2.circle(image, (width // 3, height // 2), max(3, height // 4), (40, 200, 250), -1)
    cv2.rectangle(image, (width // 2, height // 5), (width // 2 + width // 6, height - height // 5), (200, 60, 60), -1)
    return np.ascontiguousarray(image)


def make_style(size: int = 64, seed: int = 1) -> np.ndarray:
    """A 'painting': saturated diagonal strokes in a few colours (BGR uint8)."""
    rng = np.random.default_rng(seed)
    image = np.full((size, size, 3), (30, 60, 160), np.uint8)
    palette = [(20, 220, 250), (200, 40, 30), (240, 240, 240), (10, 120, 10)]
    for _ in range(size // 2):
        x0, y0 = rng.integers(0, size, 2)
        length = int(rng.integers(size // 8, size // 3))
        colour = palette[int(rng.integers(len(palette)))]
        cv2.line(image, (int(x0), int(y0)), (int(x0) + length, int(y0) + length // 2), colour, max(1, size // 32))
    return image


@pytest.fixture(scope="session")
def vgg_state() -> dict[str, torch.Tensor]:
    return random_vgg19_state_dict(seed=0)


@pytest.fixture
def content() -> np.ndarray:
    return make_content()


@pytest.fixture
def style() -> np.ndarray:
    return make_style()


@pytest.fixture
def shallow_settings() -> GatysSettings:
    return GatysSettings(size=64, steps=8, levels=1, style_weight=1e4, **SHALLOW)


@pytest.fixture(scope="session")
def adain_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """vgg_normalised.pth and decoder.pth with random weights, saved like the published files."""
    folder = tmp_path_factory.mktemp("adain")
    enc, dec = folder / "vgg_normalised.pth", folder / "decoder.pth"
    torch.save(random_encoder_state(0), enc)
    torch.save(random_decoder_state(0), dec)
    return enc, dec


class Pictures:
    """Factories for test pictures (test modules cannot import conftest in importlib mode)."""

    content = staticmethod(make_content)
    style = staticmethod(make_style)


@pytest.fixture
def pictures() -> type[Pictures]:
    return Pictures


@pytest.fixture
def shallow_layers() -> dict:
    return dict(SHALLOW)
