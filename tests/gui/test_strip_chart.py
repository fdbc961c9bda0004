"""The live strip chart: value ranges, where curves land in pixels, gaps, and cached frames."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage

from gui.common.strip_chart import StripChart, format_tick, nice_ceiling

RED = (255, 0, 0)


@pytest.mark.parametrize("value, expected", [(0.3, 0.5), (1.0, 1.0), (1.01, 2.0), (19.7, 20.0), (21.0, 50.0),
                                             (2504.0, 5000.0), (0.0, 1.0), (float("nan"), 1.0), (-3.0, 1.0)])
def test_nice_ceiling_rounds_up_to_1_2_5(value, expected):
    assert nice_ceiling(value) == pytest.approx(expected)


def test_ticks_read_without_unit_prefixes():
    assert [format_tick(v) for v in (0.0, 2.5, 40.0, 1200.0, 0.25)] == ["0", "2.5", "40", "1200", "0.25"]


def _render(chart: StripChart) -> QImage:
    chart.resize(400, 200)
    chart.show()
    return chart.grab().toImage()


def _is_red(image: QImage, x: int, y: int) -> bool:
    c = QColor(image.pixel(x, y))
    return c.red() > 200 and c.green() < 80 and c.blue() < 80


def _panel_pixel(chart: StripChart, seconds_ago: float, value: float) -> tuple[int, int]:
    rect = chart._panel_rects()[0]
    low, high = chart.panels[0].y_range
    x = rect.right() - seconds_ago / chart.window_s * rect.width()
    y = rect.bottom() - (value - low) / (high - low) * rect.height()
    return int(round(x)), int(round(y))


def test_a_constant_curve_is_drawn_at_its_height(qtbot):
    chart = StripChart(["fps"], window_s=60.0, colours={"a": RED})
    qtbot.addWidget(chart)
    x = np.linspace(-60, 0, 61)
    chart.set_panel(0, {"a": (x, np.full_like(x, 15.0))})
    assert chart.panels[0].y_range == (0.0, 20.0)
    image = _render(chart)
    px, py = _panel_pixel(chart, 30.0, 15.0)
    assert any(_is_red(image, px, py + d) for d in (-1, 0, 1))
    above = _panel_pixel(chart, 30.0, 5.0)
    assert not any(_is_red(image, above[0], above[1] + d) for d in (-1, 0, 1))


def test_nan_values_leave_a_gap(qtbot):
    chart = StripChart(["latency"], window_s=60.0, colours={"a": RED})
    qtbot.addWidget(chart)
    x = np.linspace(-60, 0, 61)
    y = np.full_like(x, 10.0)
    y[(x > -40) & (x < -20)] = np.nan  # no results for 20 s
    chart.set_panel(0, {"a": (x, y)})
    image = _render(chart)
    inside_gap = _panel_pixel(chart, 30.0, 10.0)
    outside = _panel_pixel(chart, 50.0, 10.0)
    assert not any(_is_red(image, inside_gap[0], inside_gap[1] + d) for d in (-1, 0, 1))
    assert any(_is_red(image, outside[0], outside[1] + d) for d in (-1, 0, 1))


def test_the_frame_is_rendered_again_only_when_its_range_changes(qtbot, monkeypatch):
    chart = StripChart(["fps"], window_s=60.0)
    qtbot.addWidget(chart)
    renders = []
    original = StripChart._render_frame
    monkeypatch.setattr(StripChart, "_render_frame", lambda self: renders.append(1) or original(self))
    x = np.linspace(-10, 0, 11)
    chart.resize(400, 200)
    chart.show()
    for value in (14.0, 15.0, 16.0, 18.0):  # all under the same ceiling of 20
        chart.set_panel(0, {"a": (x, np.full_like(x, value))})
        chart.grab()  # paints now (repaint() waits for an exposed window)
    assert len(renders) == 1
    chart.set_panel(0, {"a": (x, np.full_like(x, 31.0))})  # the axis now ends at 50
    chart.grab()
    assert len(renders) == 2 and chart.y_ticks(0)[-1] == (50.0, "50")
    assert chart.paints >= 5


def test_a_fitted_time_axis_spans_the_data(qtbot):
    chart = StripChart(["count"], window_s=None)
    qtbot.addWidget(chart)
    x = np.linspace(-170, 0, 20)
    chart.set_panel(0, {"line in": (x, np.arange(20.0)), "zone inside": (x, np.ones(20))})
    assert chart._x_span == 200.0
    assert chart.curve_names(0) == ["line in", "zone inside"]
    assert chart.panels[0].colours["line in"] != chart.panels[0].colours["zone inside"]
    chart.set_panel(0, {"zone inside": (x, np.ones(20))})
    assert chart.curve_names(0) == ["zone inside"]
    _render(chart)  # paints without error with one curve left



def test_y_labels_of_short_panels_do_not_overlap(qtbot):
    """Three panels in a short chart (the performance dock at its minimum height): the tick
    labels of a panel, and the top of one panel next to the bottom of the one above, used to
    be drawn over each other."""
    chart = StripChart(["fps", "latency", "dropped"], window_s=60.0)
    qtbot.addWidget(chart)
    chart.resize(400, 120)
    x = np.linspace(-60, 0, 61)
    for index, level in enumerate((24.0, 180.0, 3.0)):
        chart.set_panel(index, {"a": (x, np.full_like(x, level))})
    boxes = [box for box, _ in chart.y_labels()]
    assert all(not a.intersects(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert [label for _, label in chart.y_labels()].count("0") == 3  # every panel keeps its baseline
    # what was drawn before: every tick of every panel, some on top of each other
    every = [(rect.bottom() - rect.height() * k / 2) for rect in chart._panel_rects() for k in range(3)]
    assert min(abs(a - b) for i, a in enumerate(every) for b in every[i + 1:]) < 16
    image = _render(chart)
    assert image.width() == 400
