"""Kernels as pictures and the images the CLI and the tab draw."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from engine.features.inspect.filters import filter_view, first_conv_layer
from engine.features.inspect.render import COLORMAPS, activation_grid, colorize, heat_overlay, mosaic, normalise_maps
from engine.features.inspect.zoo import load_model


def test_first_layer_kernels_are_rgb_tiles_with_zero_at_gray():
    net = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Conv2d(2, 4, 3))
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].weight[0, 0] = 1.0  # kernel 0 reacts to red only
        net[0].weight[1, 2, 1, 1] = -2.0  # kernel 1: negative blue centre
    view = filter_view(net, "0")
    assert view.rgb.shape == (2, 3, 3, 3) and view.weight_shape == (2, 3, 3, 3)
    assert np.allclose(view.rgb[0, ..., 0], 1.0) and np.allclose(view.rgb[0, ..., 1:], 0.5)
    assert view.rgb[1, 1, 1, 2] == 0.0 and view.rgb[1, 0, 0, 2] == 0.5
    deep = filter_view(net, "1")
    assert deep.rgb is None and deep.slices.shape == (4, 2, 3, 3)
    assert 0.0 <= deep.slices.min() and deep.slices.max() <= 1.0


def test_non_convolution_layers_are_refused_with_the_convolutions_listed():
    model = load_model("lenet5", untrained=True).module
    assert first_conv_layer(model) == "features.0"
    with pytest.raises(ValueError, match="features.0, features.3"):
        filter_view(model, "features.1")


def test_normalisation_per_channel_and_shared():
    maps = np.stack([np.zeros((2, 2)), np.array([[0.0, 1.0], [2.0, 4.0]])]).astype(np.float32)
    per = normalise_maps(maps, "channel")
    shared = normalise_maps(maps * 2 + 1, "shared")
    assert per[0].max() == 0 and per[1].max() == 1.0 and per[1][0, 1] == 0.25
    assert shared[0].max() == 0 and shared[1, 1, 1] == 1.0
    with pytest.raises(ValueError, match="channel, shared"):
        normalise_maps(maps, "global")


def test_grid_overlay_and_colour_maps():
    grid = activation_grid(np.random.rand(5, 4, 4).astype(np.float32), tile_size=10)
    assert grid.dtype == np.uint8 and grid.shape == (2 * 10 + 3 * 2, 3 * 10 + 4 * 2, 3)  # 5 tiles: 3 columns, 2 rows
    tiles = np.full((3, 2, 2, 3), 200, np.uint8)
    assert mosaic(tiles, columns=3, gap=1).shape == (4, 10, 3)
    image = np.zeros((20, 30, 3), np.uint8)
    heat = np.zeros((5, 5), np.float32)
    heat[2, 2] = 1.0
    blended = heat_overlay(image, heat, alpha=1.0, colormap="gray")
    assert blended.shape == image.shape and blended[8:12, 12:18].mean() > blended[:3, :3].mean()
    assert np.array_equal(heat_overlay(image, heat, alpha=0.0), image)
    assert colorize(np.ones((2, 2)), "gray")[0, 0].tolist() == [255, 255, 255]
    with pytest.raises(ValueError, match="viridis"):
        colorize(np.ones((2, 2)), "rainbow")


@pytest.mark.parametrize("name", ["viridis", "inferno", "magma", "jet", "gray"])
def test_colorize_matches_opencvs_colour_maps_one_map_or_a_stack(name):
    """The cached table gives exactly what cv2.applyColorMap gives, for a map and for a stack."""
    rng = np.random.default_rng(0)
    maps = rng.random((4, 7, 9)).astype(np.float32)
    grey = np.clip(maps * 255.0 + 0.5, 0, 255).astype(np.uint8)
    code = COLORMAPS[name]
    expected = np.stack([cv2.cvtColor(g, cv2.COLOR_GRAY2BGR) if code is None else cv2.applyColorMap(g, code) for g in grey])
    assert np.array_equal(colorize(maps, name), expected)
    assert np.array_equal(colorize(maps[2], name), expected[2])
