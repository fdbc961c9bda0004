"""Boxes and captions drawn into picture pixels (gui.common.raster_boxes)."""

from __future__ import annotations

import numpy as np
import pytest

from gui.common.raster_boxes import CaptionBitmaps, class_bgra, draw_boxes


@pytest.fixture
def canvas():
    image = np.zeros((240, 320, 4), np.uint8)
    image[..., :3] = 90
    image[..., 3] = 255
    return image


def is_colour(pixel, class_id: int) -> bool:
    return tuple(int(v) for v in pixel) == class_bgra(class_id)


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_outline_sits_on_the_box_edges_at_any_scale(qtbot, scale):
    canvas = np.full((int(240 * scale), int(320 * scale), 4), 90, np.uint8)
    canvas[..., 3] = 255
    box = np.array([[60.0, 80.0, 200.0, 180.0]])
    hidden = draw_boxes(canvas, scale, box, np.array([3]), None, None, 320, 240)
    assert hidden == 0
    x1, y1, x2, y2 = (int(round(v * scale)) for v in box[0])
    mid_x, mid_y = (x1 + x2) // 2, (y1 + y2) // 2
    width = max(1, int(round(1.0 * scale)))  # 1/400 of 320 px, at least 1, times the scale
    assert is_colour(canvas[mid_y, x1], 3) and is_colour(canvas[mid_y, x2], 3)
    assert is_colour(canvas[y1, mid_x], 3) and is_colour(canvas[y2, mid_x], 3)
    assert (canvas[mid_y, x1 + width + 1, :3] == 90).all()  # inside untouched
    assert (canvas[mid_y, x1 - width - 1, :3] == 90).all()  # outside untouched
    assert (canvas[..., 3] == 255).all()


def test_selected_box_is_thicker(canvas, qtbot):
    boxes = np.array([[20.0, 20.0, 100.0, 100.0], [150.0, 20.0, 230.0, 100.0]])
    draw_boxes(canvas, 1.0, boxes, np.array([1, 1]), None, None, 320, 240, selected=1)
    thin = sum(is_colour(canvas[60, x], 1) for x in range(15, 26))
    thick = sum(is_colour(canvas[60, x], 1) for x in range(145, 156))
    assert thick >= 2 and thick > thin


def test_captions_sit_above_their_box_best_first_and_are_capped(canvas, qtbot):
    boxes = np.array([[40.0, 60.0, 120.0, 140.0], [180.0, 60.0, 260.0, 140.0], [100.0, 170.0, 160.0, 230.0]])
    scores = [0.5, 0.9, 0.7]
    captions = [f"cat {s:.2f}" for s in scores]
    order = np.argsort(-np.array(scores))
    hidden = draw_boxes(canvas, 1.0, boxes, np.array([0, 1, 2]), captions, order, 320, 240, max_labels=2)
    assert hidden == 1
    bitmaps = CaptionBitmaps()
    h = bitmaps.height(max(10, round(320 / 50)))
    assert is_colour(canvas[60 - h + 1, 181], 1)  # the best box's caption, on its class colour
    assert is_colour(canvas[170 - h + 1, 101], 2)  # the second best
    assert not is_colour(canvas[60 - h + 1, 41], 0)  # the third caption was left out
    top_band = canvas[60 - h:60, 180:240, :3]
    assert (top_band.min(axis=2) < 40).any()  # dark text inside the caption


def test_captions_clip_at_the_picture_edges(canvas, qtbot):
    boxes = np.array([[300.0, 2.0, 319.0, 30.0], [-5.0, 230.0, 40.0, 239.0]])
    draw_boxes(canvas, 1.0, boxes, np.array([4, 5]), ["a-rather-long-caption 0.99", "x 0.50"], None, 320, 240)
    assert canvas.shape == (240, 320, 4) and (canvas[..., 3] == 255).all()
    assert is_colour(canvas[5, 318], 4)  # drawn inside the box's top edge, cut at the right border


def test_words_are_laid_out_once_and_captions_built_from_them(qtbot):
    bitmaps = CaptionBitmaps()
    first = bitmaps.caption("person 0.87", 2, 14)
    assert bitmaps.rendered == 2  # "person" and "0.87"
    bitmaps.caption("person 0.88", 2, 14)
    bitmaps.caption("person 0.87", 5, 14)  # another class: same words, another colour
    assert bitmaps.rendered == 3  # only "0.88" was new
    again = bitmaps.caption("person 0.87", 2, 14)
    assert again is first
    assert first.shape[0] == bitmaps.height(14) and first.shape[2] == 4
    assert (first[..., 3] == 255).all()
    assert tuple(int(v) for v in first[0, 0]) == class_bgra(2)  # padding: the plain class colour


def test_a_broken_box_does_not_take_the_others_down(canvas, qtbot):
    boxes = np.array([[np.nan, 10.0, 50.0, 50.0], [1e12, -3e9, 2e12, 4e9], [100.0, 100.0, 150.0, 150.0]])
    draw_boxes(canvas, 1.0, boxes, np.array([1, 2, 3]), ["a 0.1", "b 0.2", "c 0.3"], None, 320, 240)
    assert is_colour(canvas[125, 100], 3) and is_colour(canvas[125, 150], 3)
