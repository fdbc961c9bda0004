"""Shared fixtures of the faces tests: real photos from scikit-image, variants, impostors.

Only images bundled with scikit-image are used (no downloads): ``astronaut`` (one
face), ``coins`` (Haar finds two portraits on the coins: a "several faces" photo and two
impostors), ``lfw_subset`` (100 small faces of other people), and face-free photos.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from engine.features.faces.align import as_chip


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """512x512 uint8 BGR, one face (Eileen Collins)."""
    return _bgr(skimage.data.astronaut())


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)


@pytest.fixture(scope="session")
def astronaut_variants(astronaut) -> dict[str, np.ndarray]:
    """Photos of the same person that differ in framing, brightness, mirror, scale, blur."""
    rng = np.random.default_rng(7)
    noisy = np.clip(astronaut.astype(np.int16) + rng.normal(0, 6, astronaut.shape), 0, 255).astype(np.uint8)
    return {
        "original": astronaut,
        "flipped": np.ascontiguousarray(astronaut[:, ::-1]),
        "brighter": cv2.convertScaleAbs(astronaut, alpha=1.0, beta=40),
        "darker": cv2.convertScaleAbs(astronaut, alpha=0.6, beta=0),
        "cropped": np.ascontiguousarray(astronaut[20:400, 60:450]),
        "smaller": cv2.resize(astronaut, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA),
        "rotated": _rotate(astronaut, 3.0),
        "noisy": noisy,
        "blurred": cv2.GaussianBlur(astronaut, (5, 5), 0),
    }


@pytest.fixture(scope="session")
def coins() -> np.ndarray:
    """A photo in which Haar finds two faces (portraits on coins), BGR."""
    return cv2.cvtColor(skimage.data.coins(), cv2.COLOR_GRAY2BGR)


@pytest.fixture(scope="session")
def lfw_faces() -> list[np.ndarray]:
    """100 faces of other people (LFW), upscaled to 160x160 BGR chips."""
    faces = skimage.data.lfw_subset()[:100]
    out = []
    for face in faces:
        gray = (face * 255).round().astype(np.uint8)
        out.append(as_chip(cv2.resize(gray, (160, 160), interpolation=cv2.INTER_CUBIC)))
    return out


@pytest.fixture(scope="session")
def no_face_photos() -> dict[str, np.ndarray]:
    return {
        "coffee": _bgr(skimage.data.coffee()),
        "brick": cv2.cvtColor(skimage.data.brick(), cv2.COLOR_GRAY2BGR),
        "rocket": _bgr(skimage.data.rocket()),
    }


@pytest.fixture()
def gallery(tmp_path):
    from engine.features.faces.gallery import Gallery

    g = Gallery(tmp_path / "faces" / "gallery.db")
    yield g
    g.close()
