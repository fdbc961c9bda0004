"""Build detectors from catalog names or from user files, with user-facing errors."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from engine.features.detect.backends.darknet.cfg import DarknetCfgError, parse_cfg
from engine.features.detect.backends.darknet.model import DarknetModel
from engine.features.detect.backends.darknet.weights_file import DarknetWeightsError, WeightsHeader, read_header
from engine.features.detect.detector import Detector, DetectorError
from engine.features.detect.names import NamesError, bundled_path

log = logging.getLogger(__name__)

#: Everything that means "these files/settings cannot make a detector" (vs a bug).
USER_ERRORS = (DetectorError, DarknetCfgError, DarknetWeightsError, NamesError)


def expected_weights_bytes(cfg_path: str | Path, header: WeightsHeader | None = None) -> int:
    """Exact size of a .weights file for ``cfg_path`` (no tensor memory is allocated)."""
    cfg = parse_cfg(cfg_path)
    with torch.device("meta"):
        model = DarknetModel(cfg)
    floats = sum(t.numel() for block in model.conv_blocks() for t in block.darknet_tensors())
    return (header.nbytes if header else 20) + 4 * floats


def check_weights_file(cfg_name: str, path: str | Path) -> None:
    """Raise ValueError if ``path`` cannot be the .weights file of the bundled ``cfg_name``."""
    path = Path(path)
    with path.open("rb") as fh:
        head = fh.read(20)
    header = read_header(head, str(path))
    expected = expected_weights_bytes(bundled_path(cfg_name), header)
    actual = path.stat().st_size
    if actual != expected:
        raise DarknetWeightsError(
            f"the file does not fit {cfg_name}: expected {expected:,} bytes, got {actual:,} bytes "
            "(is it the weights file of another model?)")


def load_detector(name: str, *, cache=None, device: torch.device | str | None = None, **options) -> Detector:
    """Build the catalog model ``name`` from the weights cache with its entry's builder.

    Raises WeightsMissingError (with the fetch/import commands) when not installed,
    UnknownModelError for an unknown name, and USER_ERRORS for files that do not fit.
    """
    from engine.models.catalog import catalog

    entry = catalog().get(name)
    if entry.task != "detect":
        raise DetectorError(f"'{name}' is a {entry.task} model, not an object detector")
    if entry.builder is None:
        raise DetectorError(f"catalog entry '{name}' has no builder")
    return entry.builder(entry, cache, device, **options)


def detector_from_files(cfg: str | Path, weights: str | Path, names: str | Path | None = None, *,
                        device: torch.device | str | None = None, **options) -> Detector:
    """A YOLO detector from a user's own cfg + .weights (+ names) files."""
    from engine.features.detect.backends.darknet.detector import YoloDetector
    return YoloDetector.from_files(cfg, weights, names, device=device, **options)
