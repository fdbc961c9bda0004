"""Draw the procedural style presets shipped in this folder (run from the repository root).

    python resources/styles/make_presets.py

Each is 256 x 256, drawn from a fixed seed so the files are reproducible: "embers"
(short warm strokes on dark blue), "mosaic" (Voronoi tiles with dark grout) and
"ripples" (interfering sine bands in a cool palette).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SIZE = 256
HERE = Path(__file__).resolve().parent


def embers(rng: np.random.Generator) -> np.ndarray:
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    image[:] = (70, 30, 20)
    palette = [(40, 140, 255), (30, 200, 255), (20, 60, 220), (200, 220, 250), (120, 40, 20)]
    for _ in range(900):
        x, y = rng.integers(0, SIZE, 2)
        angle = rng.normal(-0.6, 0.35)
        length = rng.integers(6, 22)
        end = (int(x + length * np.cos(angle)), int(y + length * np.sin(angle)))
        colour = palette[int(rng.integers(len(palette)))]
        cv2.line(image, (int(x), int(y)), end, colour, int(rng.integers(2, 5)), cv2.LINE_AA)
    return cv2.GaussianBlur(image, (3, 3), 0)


def mosaic(rng: np.random.Generator) -> np.ndarray:
    points = rng.integers(0, SIZE, (70, 2))
    colours = rng.integers(40, 240, (70, 3))
    colours[:, 0] //= 2  # warm bias: less blue
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    d = (x[None] - points[:, 0, None, None]) ** 2 + (y[None] - points[:, 1, None, None]) ** 2
    order = np.argsort(d, axis=0)
    nearest, second = order[0], order[1]
    gap = np.sqrt(np.take_along_axis(d, second[None], 0)[0]) - np.sqrt(np.take_along_axis(d, nearest[None], 0)[0])
    image = colours[nearest].astype(np.uint8)
    image[gap < 2.5] = (30, 30, 35)
    return image


def ripples(rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE
    field = np.zeros_like(x)
    for _ in range(4):
        cx, cy, f = rng.random(), rng.random(), rng.uniform(18, 40)
        field += np.sin(f * np.hypot(x - cx, y - cy))
    t = (field - field.min()) / (field.max() - field.min())
    bands = np.floor(t * 7) / 6
    b = 120 + 120 * bands
    g = 60 + 150 * np.sqrt(bands)
    r = 40 + 90 * (1 - bands)
    return np.clip(np.dstack([b, g, r]), 0, 255).astype(np.uint8)


def main() -> None:
    for index, (name, draw) in enumerate((("embers", embers), ("mosaic", mosaic), ("ripples", ripples))):
        image = draw(np.random.default_rng(100 + index))
        cv2.imwrite(str(HERE / f"{name}.png"), image)


if __name__ == "__main__":
    main()
