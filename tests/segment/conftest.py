"""Fixtures of the Segment tests: calibrated seeded weights in torchvision's file format,
installed into a temporary weights cache the way a user's `models import` installs them."""

from __future__ import annotations

import pytest

from engine.models.cache import WeightsCache
from engine.models.catalog import catalog
from tests.segment.weights import calibrated_state, photo_bgr, save_state

LRASPP = "lraspp_mobilenet_v3_large"


@pytest.fixture(scope="session")
def lraspp_file(tmp_path_factory):
    """A .pth state_dict of LR-ASPP, seeded, calibrated on the astronaut photo."""
    folder = tmp_path_factory.mktemp("segment-weights")
    return save_state(calibrated_state(LRASPP, photo_bgr("astronaut")), folder / "lraspp_mobilenet_v3_large-d234d4ea.pth")


@pytest.fixture()
def segment_cache(tmp_path, lraspp_file):
    """A weights cache with the LR-ASPP file installed."""
    cache = WeightsCache(tmp_path / "models")
    cache.import_file(catalog().get(LRASPP), lraspp_file)
    return cache


@pytest.fixture(scope="session")
def maskrcnn_file(tmp_path_factory):
    """A .pth state_dict of Mask R-CNN (published layout), seeded, calibrated at short side 320."""
    import cv2

    from tests.segment.instance_weights import calibrated_instance_state

    folder = tmp_path_factory.mktemp("maskrcnn-weights")
    photo = cv2.resize(photo_bgr("astronaut"), (400, 300))
    return save_state(calibrated_instance_state("maskrcnn_resnet50_fpn", photo, min_size=320),
                      folder / "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth")
