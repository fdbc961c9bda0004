"""Shared fixtures: synthetic ImageFolders, an untrained backbone, one trained model."""

from __future__ import annotations

import pytest

import engine  # noqa: F401  (process policy before torch)
from engine.features.teach.backbones import load_backbone
from engine.features.teach.settings import AugmentSettings, TrainSettings
from engine.features.teach.synthetic import write_image_folder
from engine.features.teach.training import dataset_from_folder, run_to_end, train

BACKBONE = "mobilenet_v3_small"


@pytest.fixture(scope="session")
def backbone():
    """MobileNetV3-Small with seeded random weights (no download)."""
    return load_backbone(BACKBONE, untrained=True)


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    """3 classes x 30 synthetic images (stripes, checks, blobs) in the ImageFolder layout."""
    return write_image_folder(tmp_path_factory.mktemp("imagefolder"), per_class=30, seed=0)


@pytest.fixture(scope="session")
def small_folder(tmp_path_factory):
    """3 classes x 8 images: for tests about behaviour rather than accuracy."""
    return write_image_folder(tmp_path_factory.mktemp("small"), per_class=8, seed=1)


@pytest.fixture(scope="session")
def trained(image_folder, backbone):
    """A linear head on the untrained backbone's cached features (no augmentation)."""
    settings = TrainSettings(seed=0, augment=AugmentSettings(enabled=False))
    return run_to_end(train(dataset_from_folder(image_folder), backbone, settings))
