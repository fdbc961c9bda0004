"""VideoView: letterbox mapping between widget and frame pixels, overlays, composites."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor

from gui.common.video_view import BACKGROUND, VideoView, bgr_to_qimage, qimage_to_bgr


@pytest.fixture
def view(qtbot):
    widget = VideoView()
    qtbot.addWidget(widget)
    widget.resize(400, 400)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_wide_frame_is_letterboxed_top_and_bottom(view):
    view.show_image(np.zeros((100, 200, 3), np.uint8))  # 2:1 in a square: scale 2, bars of 100 px
    assert view.widget_to_frame(QPointF(200, 200)) == QPointF(100, 50)
    assert view.widget_to_frame(QPointF(0, 100)) == QPointF(0, 0)
    assert view.widget_to_frame(QPointF(399, 299)) == QPointF(199.5, 99.5)
    assert view.widget_to_frame(QPointF(200, 50)) is None  # in the top bar
    assert view.widget_to_frame(QPointF(200, 350)) is None  # in the bottom bar
    assert view.frame_to_widget().map(QPointF(100, 50)) == QPointF(200, 200)


def test_tall_frame_is_pillarboxed_left_and_right(view):
    view.show_image(np.zeros((200, 100, 3), np.uint8))
    assert view.widget_to_frame(QPointF(200, 200)) == QPointF(50, 100)
    assert view.widget_to_frame(QPointF(50, 200)) is None
    assert view.widget_to_frame(QPointF(100, 0)) == QPointF(0, 0)


def test_no_picture_maps_nothing_and_shows_message(view):
    assert view.widget_to_frame(QPointF(10, 10)) is None
    assert view.render_composited() is None
    assert "source" in view.message().lower()


def test_click_reports_frame_coordinates(qtbot, view):
    view.show_image(np.zeros((100, 200, 3), np.uint8))
    with qtbot.waitSignal(view.frame_clicked, timeout=1000) as blocker:
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(300, 150))
    assert blocker.args == [pytest.approx(150.0), pytest.approx(25.0)]


def test_painted_picture_keeps_aspect_and_overlay_is_in_frame_pixels(qtbot, view):
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, :] = (255, 0, 0)  # BGR blue
    view.show_image(image)

    def overlay(painter, width, height):
        assert (width, height) == (200, 100)
        painter.fillRect(150, 50, 50, 50, QColor(0, 255, 0))  # bottom-right quarter of the frame

    view.set_overlay_painter(overlay)
    shot = view.grab().toImage()
    assert shot.pixelColor(200, 20).getRgb()[:3] == BACKGROUND.getRgb()[:3]  # letterbox bar
    assert shot.pixelColor(100, 150).getRgb()[:3] == (0, 0, 255)  # picture (RGB)
    assert shot.pixelColor(350, 250).getRgb()[:3] == (0, 255, 0)  # overlay, scaled x2 and offset
    assert view.frames_painted >= 1


def test_render_composited_is_frame_sized_with_overlay_and_leaves_frame_untouched(view):
    image = np.full((60, 80, 3), 40, np.uint8)
    view.show_image(image)
    view.set_overlay_painter(lambda p, w, h: p.fillRect(0, 0, 10, 10, QColor(255, 255, 255)))
    out = view.render_composited()
    assert out.shape == (60, 80, 3)
    assert out[5, 5].tolist() == [255, 255, 255]
    assert out[30, 40].tolist() == [40, 40, 40]
    assert image[5, 5].tolist() == [40, 40, 40]  # the engine's frame was not drawn on


def test_failing_overlay_does_not_break_painting(view):
    view.show_image(np.zeros((10, 10, 3), np.uint8))
    view.set_overlay_painter(lambda p, w, h: 1 / 0)
    view.grab()
    assert view.overlay_errors == 1
    assert view.render_composited().shape == (10, 10, 3)


def test_qimage_round_trip_and_rejects_wrong_arrays():
    image = np.random.default_rng(0).integers(0, 255, (7, 13, 3), dtype=np.uint8)
    assert np.array_equal(qimage_to_bgr(bgr_to_qimage(image)), image)
    view_slice = image[:, 2:9]  # not contiguous: must still convert correctly
    assert np.array_equal(qimage_to_bgr(bgr_to_qimage(view_slice)), view_slice)
    with pytest.raises(ValueError, match="uint8 BGR"):
        bgr_to_qimage(np.zeros((4, 4), np.uint8))


def test_the_picture_on_screen_has_the_frames_colours(view):
    """BGR frames reach the screen in the right channel order, scaled into place."""
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:, :32] = (255, 0, 0)  # blue in BGR
    frame[:, 32:] = (0, 0, 255)  # red
    view.show_image(frame)
    shot = view.grab().toImage()  # 64x48 in 400x400: scale 6.25, bars of 50 px top and bottom
    assert shot.pixelColor(20, 200).getRgb()[:3] == (0, 0, 255)
    assert shot.pixelColor(380, 200).getRgb()[:3] == (255, 0, 0)
    assert shot.pixelColor(200, 20).getRgb()[:3] == BACKGROUND.getRgb()[:3]


def test_raster_overlay_draws_into_the_picture_at_screen_scale_and_in_snapshots(view):
    """The raster overlay gets the picture as composed on screen (here scale 2) and, for a
    snapshot, at frame resolution (scale 1); it marks the same frame pixels either way."""
    calls = []

    def raster(canvas, scale, width, height):
        calls.append((canvas.shape, scale, width, height))
        x, y = int(round(150 * scale)), int(round(50 * scale))  # frame pixel (150, 50)
        canvas[y:y + int(10 * scale), x:x + int(10 * scale)] = (0, 255, 0, 255)

    view.show_image(np.full((100, 200, 3), 30, np.uint8))
    view.set_raster_overlay(raster)
    shot = view.grab().toImage()
    assert calls[-1] == ((200, 400, 4), 2.0, 200, 100)
    # Frame (150, 50) is widget (300, 200): 2x and 100 px below the top bar.
    assert shot.pixelColor(305, 205).getRgb()[:3] == (0, 255, 0)
    assert shot.pixelColor(290, 205).getRgb()[:3] == (30, 30, 30)
    out = view.render_composited()
    assert calls[-1] == ((100, 200, 4), 1.0, 200, 100)
    assert out.shape == (100, 200, 3) and out[55, 155].tolist() == [0, 255, 0] and out[55, 140].tolist() == [30, 30, 30]


def test_the_composed_picture_is_reused_until_frame_or_overlay_changes(view):
    calls = []
    view.set_raster_overlay(lambda canvas, scale, w, h: calls.append(scale))
    view.show_image(np.zeros((100, 200, 3), np.uint8))
    view.grab()
    view.grab()  # a repaint without news: the same picture
    assert len(calls) == 1
    view.refresh_overlay()  # e.g. a selection changed
    view.grab()
    assert len(calls) == 2
    view.show_image(np.zeros((100, 200, 3), np.uint8))
    view.grab()
    assert len(calls) == 3
    view.show_image(np.zeros((100, 200, 3), np.uint8), overlay=False)  # not this frame's result
    view.grab()
    assert len(calls) == 3


def test_failing_raster_overlay_does_not_break_painting(view):
    view.show_image(np.full((10, 10, 3), 50, np.uint8))
    view.set_raster_overlay(lambda canvas, scale, w, h: 1 / 0)
    shot = view.grab().toImage()
    assert view.overlay_errors == 1
    assert shot.pixelColor(200, 200).getRgb()[:3] == (50, 50, 50)


def test_display_geometry_places_whole_pixels_centred():
    from gui.common.video_view import display_geometry

    assert display_geometry(640, 480, 900, 675) == (0, 0, 900, 675)
    assert display_geometry(640, 480, 1000, 675) == (50, 0, 900, 675)  # pillarbox
    assert display_geometry(200, 100, 400, 400) == (0, 100, 400, 200)  # letterbox
    assert display_geometry(640, 480, 500, 400, pixel_ratio=2.0) == (0, 25, 1000, 750)  # device pixels
    assert display_geometry(0, 480, 500, 400) == (0, 0, 0, 0)


@pytest.mark.parametrize("frame_size, view_size", [((640, 480), (640, 481)), ((640, 480), (641, 480)),
                                                   ((333, 333), (500, 501)), ((200, 100), (401, 399))])
def test_every_pixel_of_the_view_is_painted(qtbot, frame_size, view_size):
    """Picture plus bars cover the whole view, also when a one-pixel remainder falls on one side."""
    from PySide6.QtGui import QImage

    widget = VideoView()
    qtbot.addWidget(widget)
    widget.resize(*view_size)
    widget.show_image(np.full((frame_size[1], frame_size[0], 3), 200, np.uint8))
    target = QImage(view_size[0], view_size[1], QImage.Format.Format_RGB32)
    target.fill(QColor(255, 0, 255))
    widget.render(target)
    pixels = np.frombuffer(target.constBits(), np.uint8).reshape(view_size[1], view_size[0], 4)[..., :3]
    assert not ((pixels == (255, 0, 255)[::-1]).all(axis=2)).any()
