"""The channel grid widget: each tile shows its map's colours where tile_rect says, numbered."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from engine.features.inspect.render import colorize, normalise_maps
from gui.features.inspect.views import ChannelGrid


def _rgb(image, point) -> tuple[int, int, int]:
    return QColor(image.pixel(point)).getRgb()[:3]


def test_tiles_show_their_maps_colours_at_their_rects(qtbot):
    grid = ChannelGrid()
    qtbot.addWidget(grid)
    grid.resize(400, 400)
    grid.show()
    maps = np.zeros((4, 2, 2), np.float32)
    maps[:, 0, :] = 0.0  # top row: each map's minimum
    maps[:, 1, :] = np.arange(1, 5)[:, None]  # bottom row: its maximum
    maps[2, 1, 1] = 0.5 * maps[2, 1, 0]  # one cell of map 2 half-way
    grid.set_maps(maps, np.array([7, 3, 11, 0]))
    shot = grid.grab().toImage()
    expected = colorize(normalise_maps(maps, "channel"), "viridis")  # BGR
    for i in range(4):
        rect = grid.tile_rect(i)
        w, h = rect.width(), rect.height()
        for (row, col) in ((0, 1), (1, 0), (1, 1)):
            point = rect.topLeft() + type(rect.topLeft())((col + 0.5) * w / 2, (row + 0.5) * h / 2)
            b, g, r = expected[i, row, col].tolist()
            assert _rgb(shot, point.toPoint()) == (r, g, b), (i, row, col)
    assert grid.channels == [7, 3, 11, 0] and grid.count == 4


def test_channel_numbers_are_drawn_and_a_click_selects_that_channel(qtbot):
    grid = ChannelGrid()
    qtbot.addWidget(grid)
    grid.resize(300, 300)
    grid.show()
    grid.set_maps(np.zeros((4, 3, 3), np.float32), np.array([5, 6, 7, 8]))  # flat maps: one colour
    shot = grid.grab().toImage()
    corner = grid.tile_rect(1)
    white = [shot.pixelColor(x, y).lightness() > 200
             for x in range(int(corner.left()) + 2, int(corner.left()) + 20)
             for y in range(int(corner.top()) + 2, int(corner.top()) + 16)]
    assert any(white)  # the number "6"
    clicked = []
    grid.channel_clicked.connect(clicked.append)
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.tile_rect(2).center().toPoint())
    assert clicked == [7] and grid.selected == 7
    outlined = grid.grab().toImage()
    edge = grid.tile_rect(2).topLeft().toPoint()
    r, g, b = _rgb(outlined, edge + type(edge)(3, 0))
    assert r > 200 and g > 150 and b < 80  # the yellow selection outline
