"""The flow stabiliser on generated clips: less flicker on a slow pan, no blur on a static scene."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from engine.features.style.fast_style import FastStylizer
from engine.features.style.stabilise import FlowStabiliser, flicker, psnr
from engine.features.style.transformer_net import random_state


def _scene(width: int = 400, height: int = 160, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    canvas = np.full((height, width, 3), 90, np.uint8)
    for _ in range(40):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        colour = tuple(int(c) for c in rng.integers(30, 230, 3))
        cv2.circle(canvas, (x, y), int(rng.integers(6, 22)), colour, -1)
    return cv2.GaussianBlur(canvas, (0, 0), 1.2)


def _clip(moving: bool, frames: int = 10, noise: float = 3.0) -> list[np.ndarray]:
    scene = _scene()
    rng = np.random.default_rng(1)
    out = []
    for t in range(frames):
        x = 0.6 * t if moving else 0.0  # slow pan: 0.6 px a frame
        m = np.float32([[1, 0, -x], [0, 1, 0]])
        frame = cv2.warpAffine(scene, m, (160, 120), flags=cv2.INTER_LINEAR)
        frame = np.clip(frame + rng.normal(0, noise, frame.shape), 0, 255).astype(np.uint8) if noise else frame
        out.append(frame)
    return out


def _stylise(frames: list[np.ndarray]) -> list[np.ndarray]:
    # a randomly initialised network flickers like a trained one: strokes follow the noise
    torch.manual_seed(0)
    state = random_state(5)
    state["deconv3.conv2d.weight"] = state["deconv3.conv2d.weight"] * 400.0
    state["deconv3.conv2d.bias"] = torch.full((3,), 128.0)
    net = FastStylizer(state, "cpu", options=None)
    return [net.stylize(f, long_side=160) for f in frames]


def test_stabiliser_halves_flicker_on_a_slow_pan():
    frames = _clip(moving=True)
    stylised = _stylise(frames)
    stab = FlowStabiliser()
    steady = [stab.apply(c, s) for c, s in zip(frames, stylised)]
    before, after = flicker(stylised[2:]), flicker(steady[2:])
    assert before > 2.0  # the clip really flickers
    assert after <= 0.5 * before, (before, after)


def test_stabiliser_does_not_blur_a_static_scene():
    frames = _clip(moving=False, noise=0.0)
    stylised = _stylise(frames)
    stab = FlowStabiliser()
    steady = [stab.apply(c, s) for c, s in zip(frames, stylised)]
    assert min(psnr(a, b) for a, b in zip(steady, stylised)) > 35.0


def test_stabiliser_lets_a_scene_cut_through():
    a, b = _clip(moving=False, noise=0.0)[0], np.full((120, 160, 3), 200, np.uint8)
    stab = FlowStabiliser()
    stab.apply(a, a)
    out = stab.apply(b, b)
    assert np.abs(out.astype(int) - b.astype(int)).mean() < 3.0
