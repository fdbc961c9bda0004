"""Download sizes of the YOLOX, RT-DETR and D-FINE entries: exact (with the digest) where
the released bytes are published, else an approximate size the model manager marks "≈",
which matches what the architecture's float32 weights take."""

from __future__ import annotations

import re

import pytest
import torch

from engine.models.cache import WeightsCache
from engine.models.catalog import catalog

YOLOX = ("yolox-nano", "yolox-tiny", "yolox-s")
DETR = ("rtdetr-r18", "rtdetrv2-s", "dfine-n", "dfine-s")


def state_mib(model: torch.nn.Module) -> float:
    """MiB of a module's float32 state dict, tied tensors counted once (``parameters()``
    yields a shared one once), persistent buffers included; works on the meta device."""
    saved = model.state_dict().keys()
    tensors = list(model.parameters()) + [b for n, b in model.named_buffers() if n in saved]
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


@pytest.mark.parametrize("name", YOLOX)
def test_yolox_files_have_their_published_bytes_and_digest(name):
    (model_file,) = catalog().get(name).files
    assert model_file.size is not None and model_file.size > 1_000_000
    assert model_file.sha256 is not None and re.fullmatch(r"[0-9a-f]{64}", model_file.sha256)
    # the released .pth keeps the optimiser state beside the weights: well above 4 bytes a parameter
    assert model_file.size > 4 * catalog().get(name).meta["num_params"]


@pytest.mark.parametrize("name", DETR)
def test_hub_entries_have_an_approximate_size(name):
    entry = catalog().get(name)
    assert entry.size is None  # no exact bytes published: nothing to refuse a download on
    assert 10 < entry.meta["approx_size_mb"] < 100


def test_the_model_manager_shows_exact_and_approximate_sizes(qtbot, tmp_path):
    from PySide6.QtCore import Qt

    from gui.common.model_manager import ModelManagerDialog

    dialog = ModelManagerDialog(WeightsCache(tmp_path / "models"), catalog())
    qtbot.addWidget(dialog)
    shown = {dialog.table.item(row, 0).data(Qt.ItemDataRole.UserRole): dialog.table.item(row, 2).text()
             for row in range(dialog.table.rowCount())}
    assert shown["yolox-s"] == "68.7 MB" and shown["yolox-nano"] == "7.3 MB"
    assert shown["dfine-n"] == "≈ 15 MB" and shown["rtdetr-r18"] == "≈ 77 MB" and shown["dfine-s"] == "≈ 40 MB"


def test_approximate_sizes_match_the_float32_weights():
    """The hub's rounded figures agree with the architectures' parameter counts (within 3%)."""
    from transformers import DFineForObjectDetection, RTDetrConfig, RTDetrForObjectDetection, RTDetrResNetConfig

    from tests.detect.dfine_reference import nano_config

    with torch.device("meta"):
        nano = DFineForObjectDetection(nano_config())
    assert state_mib(nano) == pytest.approx(catalog().get("dfine-n").meta["approx_size_mb"], rel=0.03)
    backbone = RTDetrResNetConfig(depths=[2, 2, 2, 2], layer_type="basic", hidden_sizes=[64, 128, 256, 512],
                                  out_features=["stage2", "stage3", "stage4"], downsample_in_bottleneck=True)
    with torch.device("meta"):
        r18 = RTDetrForObjectDetection(RTDetrConfig(backbone_config=backbone, encoder_in_channels=[128, 256, 512],
                                                    hidden_expansion=0.5, decoder_layers=3, num_labels=80))
    assert state_mib(r18) == pytest.approx(catalog().get("rtdetr-r18").meta["approx_size_mb"], rel=0.03)
