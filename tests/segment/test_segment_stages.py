"""The decoder's path and DeepLabV3's atrous rates, read from torchvision's networks, and
the rates drawn as receptive fields around the pointer in the Segment tab."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor, QImage, QPainter

from engine.features.segment.model import Segmentation, Segmenter, build_network
from engine.features.segment.stages import atrous_taps, decoder_path, tap_offsets
from engine.features.segment.task import SegmentResult
from engine.models.cache import WeightsCache
from engine.models.catalog import catalog
from gui.common.context import AppContext
from gui.features.segment.tab import ATROUS_COLOURS, SegmentTab


def segmenter(name: str) -> Segmenter:
    entry = catalog().get(name)
    return Segmenter(build_network(name), name=name, categories=entry.meta["categories"], transforms=entry.transforms,
                     short_side=entry.meta["short_side"])


def test_the_decoder_path_goes_from_stride_16_to_every_pixel_bilinearly():
    stages = decoder_path(segmenter("lraspp_mobilenet_v3_large"), np.zeros((240, 320, 3), np.uint8), short_side=256)
    names = [s.name for s in stages]
    assert names == ["backbone high", "backbone low", "head logits", "logits at the input", "logits at the frame"]
    assert stages[0].stride == pytest.approx(16, rel=0.05) and stages[0].channels == 960
    assert stages[1].stride == pytest.approx(8, rel=0.05) and stages[2].channels == 21
    assert stages[3].size == (341, 256) and stages[-1].size == (320, 240)
    # torchvision's heads upsample with F.interpolate: no transposed convolution anywhere
    assert {s.op for s in stages} == {"", "bilinear"}


@pytest.mark.parametrize("name, expected", [
    ("deeplabv3_mobilenet_v3_large", [(12, 16), (24, 16), (36, 16)]),
    ("deeplabv3_resnet50", [(12, 8), (24, 8), (36, 8)]),
    ("lraspp_mobilenet_v3_large", []),
])
def test_atrous_rates_and_output_strides(name, expected):
    assert atrous_taps(segmenter(name)) == expected


def test_tap_offsets_span_the_receptive_field():
    taps = tap_offsets(12, 8, frame_per_input=0.5)
    assert taps.shape == (9, 2) and np.abs(taps).max() == 48  # 12 * 8 input px = 48 frame px
    assert sorted(set(taps[:, 0].tolist())) == [-48, 0, 48]


def test_the_tab_draws_the_atrous_taps_around_the_pointer(qtbot, tmp_path):
    context = AppContext(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), torch.device("cpu"),
                         weights_cache=WeightsCache(tmp_path / "models"))
    tab = SegmentTab(context)
    qtbot.addWidget(tab)
    labels = np.full((240, 320), 15, np.uint8)
    seg = Segmentation(labels, np.full((240, 320), 0.9, np.float32), np.bincount(labels.ravel(), minlength=21),
                       catalog().get("deeplabv3_mobilenet_v3_large").meta["categories"], (640, 480))
    tab.controller.on_result(SegmentResult("deeplabv3_mobilenet_v3_large", "classes", segmentation=seg,
                                           atrous=((12, 16), (24, 16))))
    assert tab.hover_at(160, 120).name == "person"
    marks = tab.atrous_marks(320)
    assert [rate for rate, _ in marks] == [12, 24]
    # rate 12 at stride 16 is 192 input px = 96 frame px (the input is twice the frame)
    assert np.allclose(marks[0][1][0], [160.5 - 96, 120.5 - 96])
    image = QImage(320, 240, QImage.Format.Format_RGB32)
    image.fill(QColor(0, 0, 0))
    painter = QPainter(image)
    tab.paint_overlay(painter, 320, 240)
    painter.end()
    x, y = marks[0][1][0]
    assert image.pixelColor(int(x), int(y)) == ATROUS_COLOURS[0]
    # the receptive field's square (dashed) runs between the corner taps
    x1 = marks[0][1][2][0]
    edge = [image.pixelColor(int(c), int(y)) == ATROUS_COLOURS[0] for c in range(int(x) + 8, int(x1) - 8)]
    assert 0 < sum(edge) < len(edge)
    tab.shutdown()


def test_a_click_on_the_picture_reads_that_pixel(qtbot, tmp_path):
    from gui.common.video_view import VideoView

    view = VideoView()
    qtbot.addWidget(view)
    context = AppContext(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), torch.device("cpu"),
                         weights_cache=WeightsCache(tmp_path / "models"), video_view=view)
    tab = SegmentTab(context)
    qtbot.addWidget(tab)
    labels = np.full((240, 320), 12, np.uint8)
    seg = Segmentation(labels, np.full((240, 320), 0.7, np.float32), np.bincount(labels.ravel(), minlength=21),
                       catalog().get("deeplabv3_resnet50").meta["categories"], (520, 390))
    tab.controller.on_result(SegmentResult("deeplabv3_resnet50", "classes", segmentation=seg, atrous=((12, 8),)))
    tab.activated()
    view.frame_clicked.emit(100.0, 60.0)
    assert (tab.probe.x, tab.probe.y, tab.probe.name) == (100, 60, "dog")
    assert [rate for rate, _ in tab.atrous_marks(320)] == [12]
    tab.deactivated()
    view.frame_clicked.emit(10.0, 10.0)
    assert tab.probe is None
    tab.shutdown()
