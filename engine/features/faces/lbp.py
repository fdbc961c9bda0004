"""A classical, download-free face descriptor: grids of local-binary-pattern histograms.

This is not a neural network. Each pixel of the grey chip gets an 8-bit code saying
which of its 8 neighbours are brighter; codes are mapped to the 59 "uniform" patterns
(Ojala et al., 2002) and histogrammed per cell of a grid (Ahonen et al., 2006). Codes
only compare neighbours, so the descriptor ignores global brightness and contrast.

The descriptor is made mirror-symmetric (the histograms of the chip and of its mirror
image are added) so a user turning the head the other way, or a mirrored webcam, does
not look like someone else. Histograms are square-rooted (Hellinger kernel) and the
whole vector is L2-normalised, so cosine distance works on it like on a network's
embedding.
"""

from __future__ import annotations

import cv2
import numpy as np

# Inner part of the chip that is described: the border holds mostly background/hair.
_WORK_SIZE = 96
_INNER = (8, 92)  # rows/cols [8, 92) of the 96x96 grey chip -> 84x84
_GRID = 7  # 7x7 cells of 12x12 pixels
_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


def _uniform_table() -> np.ndarray:
    """Map each 8-bit code to one of 58 uniform patterns (<= 2 bit flips around) or bin 58."""
    table = np.full(256, 58, dtype=np.int64)
    next_bin = 0
    for code in range(256):
        bits = [(code >> i) & 1 for i in range(8)]
        flips = sum(bits[i] != bits[(i + 1) % 8] for i in range(8))
        if flips <= 2:
            table[code] = next_bin
            next_bin += 1
    return table


_TABLE = _uniform_table()
BINS = 59
DIM = _GRID * _GRID * BINS


def lbp_codes(gray: np.ndarray) -> np.ndarray:
    """Uniform LBP bin (0..58) of every interior pixel: (H-2, W-2) int64 for (H, W) uint8."""
    g = gray.astype(np.int16)
    centre = g[1:-1, 1:-1]
    h, w = centre.shape
    code = np.zeros((h, w), dtype=np.int64)
    for bit, (dy, dx) in enumerate(_NEIGHBOURS):
        neighbour = g[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        code |= (neighbour >= centre).astype(np.int64) << bit
    return _TABLE[code]


def _grid_histograms(gray: np.ndarray) -> np.ndarray:
    """Concatenated per-cell histograms of the inner region, (GRID*GRID*59,) float64 counts."""
    lo, hi = _INNER
    codes = lbp_codes(gray[lo - 1:hi + 1, lo - 1:hi + 1])  # one-pixel apron -> exactly the inner square
    side = codes.shape[0]
    cell = side // _GRID
    rows = np.minimum(np.arange(side) // cell, _GRID - 1)
    cell_index = rows[:, None] * _GRID + rows[None, :]
    flat = cell_index.ravel() * BINS + codes.ravel()
    return np.bincount(flat, minlength=DIM).astype(np.float64)


def describe(chip: np.ndarray) -> np.ndarray:
    """Descriptor of one face chip (uint8 BGR or grey, any square size): (DIM,) float32, unit norm."""
    gray = chip if chip.ndim == 2 else cv2.cvtColor(chip, cv2.COLOR_BGR2GRAY)
    gray = cv2.resize(gray, (_WORK_SIZE, _WORK_SIZE), interpolation=cv2.INTER_AREA)
    hist = _grid_histograms(gray) + _grid_histograms(np.ascontiguousarray(gray[:, ::-1]))
    vec = np.sqrt(hist)
    vec /= max(np.linalg.norm(vec), 1e-12)
    return vec.astype(np.float32)
