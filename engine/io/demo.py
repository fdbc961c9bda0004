"""The demo source: moving synthetic pictures, so the app shows something without a camera."""

from __future__ import annotations

import math
import time

import cv2
import numpy as np

from engine.io.base import FrameSource


class DemoSource(FrameSource):
    """Synthetic moving content so the app is useful without a camera.

    Draws a slowly shifting gradient, shapes that bounce (circles, squares, a triangle,
    stripes) and a clock, at ``fps`` frames per second and ``width`` x ``height`` pixels.
    """

    kind = "demo"

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0, seed: int = 0) -> None:
        super().__init__("demo", fps=fps, pace=True)
        self.width, self.height = int(width), int(height)
        rng = np.random.default_rng(seed)
        short = min(self.width, self.height)
        speed = short / 120.0  # about 4 px per frame at 480 p, whatever the size
        self._shapes = []
        for kind in ("circle", "square", "triangle", "circle", "stripes"):
            size = float(rng.uniform(0.06, 0.15) * short)
            self._shapes.append(
                {
                    "kind": kind,
                    "pos": rng.uniform([size, size], [self.width - size, self.height - size]),
                    "vel": (rng.uniform(-1, 1, size=2) + np.sign(rng.uniform(-1, 1, size=2))) * speed,
                    "size": size,
                    "color": tuple(int(c) for c in rng.integers(40, 255, size=3)),
                }
            )
        self._x = np.arange(self.width, dtype=np.float32) / max(self.width, 1)
        self._y = np.arange(self.height, dtype=np.float32) / max(self.height, 1)
        self._green = (90 + 60 * self._y * 2).clip(0, 255).astype(np.uint8)
        self._t = 0

    def _open(self) -> None:
        pass

    def render(self, t: int) -> np.ndarray:
        """The demo image for tick ``t`` (deterministic for a given seed and tick)."""
        phase = t / 90.0
        base = np.empty((self.height, self.width, 3), np.uint8)
        # Each channel varies along one axis only: compute a row or a column and broadcast
        # (a full-frame sin per channel cost the capture thread more CPU than a small model).
        base[:, :, 0] = (110 + 80 * np.sin(2 * math.pi * (self._x + phase * 0.3))).astype(np.uint8)[None, :]
        base[:, :, 1] = self._green[:, None]
        base[:, :, 2] = (70 + 70 * np.cos(2 * math.pi * (self._y - phase * 0.2))).astype(np.uint8)[:, None]
        for shape in self._shapes:
            pos = shape["pos"] + shape["vel"] * t
            # Reflect off the borders so shapes bounce around the frame.
            span = np.array([self.width, self.height], dtype=np.float64) - 2 * shape["size"]
            p = np.abs((pos - shape["size"]) % (2 * span) - span) * -1 + span + shape["size"]
            x, y, s, color = int(p[0]), int(p[1]), int(shape["size"]), shape["color"]
            if shape["kind"] == "circle":
                cv2.circle(base, (x, y), s, color, -1, cv2.LINE_AA)
                cv2.circle(base, (x - s // 3, y - s // 3), max(s // 5, 2), (255, 255, 255), -1, cv2.LINE_AA)
            elif shape["kind"] == "square":
                angle = t * 2.0
                box = cv2.boxPoints(((x, y), (2 * s, 2 * s), angle)).astype(np.int32)
                cv2.fillConvexPoly(base, box, color, cv2.LINE_AA)
            elif shape["kind"] == "triangle":
                pts = np.array([[x, y - s], [x - s, y + s], [x + s, y + s]], np.int32)
                cv2.fillConvexPoly(base, pts, color, cv2.LINE_AA)
            else:
                for k in range(-2, 3):
                    cv2.line(base, (x - s, y + k * s // 3), (x + s, y + k * s // 3), color, max(s // 8, 2), cv2.LINE_AA)
        clock = time.strftime("%H:%M:%S")
        # One line of text on a dark band: anti-aliased text with an outline cost 4 ms a frame.
        base[self.height - 34 : self.height - 6, 6 : 330] //= 3
        cv2.putText(base, f"CNN Studio demo  {clock}  #{t}", (12, self.height - 14), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                    (255, 255, 255), 1, cv2.LINE_AA)
        return base

    def _read(self) -> np.ndarray:
        image = self.render(self._t)
        self._t += 1
        return image
