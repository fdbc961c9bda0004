"""Sliding-window arithmetic for the "convolution explained" panel, in plain numpy.

Sizes along one axis (n input, f kernel, p padding, s stride, d dilation), as torch
computes them:

    convolution / pooling:   m = floor((n + 2p - d(f - 1) - 1) / s) + 1
    transposed convolution:  m = (n - 1) s - 2p + d(f - 1) + output_padding + 1
    1 x 1 convolution:       m = n (channels are mixed, the size is kept)

What a CNN calls convolution is a cross-correlation (no kernel flip); padding is zeros
for convolutions and average pooling (torch's count_include_pad=True) and -inf for max
pooling. All arrays are float32, (rows, cols); cells are (row, col).
"""

from __future__ import annotations

import numpy as np

OPERATIONS = ("convolution", "dilated convolution", "transposed convolution", "1x1 convolution", "max pooling", "average pooling")


def output_size(n: int, f: int, p: int, s: int, d: int = 1) -> int:
    """Output side of a convolution or pooling (0 when the dilated kernel does not fit)."""
    if s < 1 or d < 1:
        raise ValueError(f"stride and dilation must be at least 1, got stride {s}, dilation {d}")
    span = n + 2 * p - d * (f - 1) - 1
    return span // s + 1 if span >= 0 else 0


def transposed_output_size(n: int, f: int, p: int, s: int, d: int = 1, output_padding: int = 0) -> int:
    """Output side of a transposed convolution (0 when the padding crops everything away)."""
    if s < 1 or d < 1:
        raise ValueError(f"stride and dilation must be at least 1, got stride {s}, dilation {d}")
    return max(0, (n - 1) * s - 2 * p + d * (f - 1) + output_padding + 1)


def window_cells(row: int, col: int, f: int, s: int, d: int = 1) -> list[tuple[int, int]]:
    """Cells of the padded input that output cell (row, col) reads: (row*s + i*d, col*s + j*d)."""
    return [(row * s + i * d, col * s + j * d) for i in range(f) for j in range(f)]


def transposed_cells(row: int, col: int, f: int, p: int, s: int, d: int = 1, size: int | None = None) -> list[tuple[int, int]]:
    """Output cells that input cell (row, col) writes to in a transposed convolution (inside ``size``)."""
    cells = [(row * s + i * d - p, col * s + j * d - p) for i in range(f) for j in range(f)]
    return [(r, c) for r, c in cells if size is None or (0 <= r < size and 0 <= c < size)]


def cross_correlate(patch: np.ndarray, kernel: np.ndarray, padding: int, stride: int, dilation: int = 1) -> np.ndarray:
    """sum(kernel * window) at every window position, zero padding: (n, n) -> (m, m)."""
    n, f = patch.shape[0], kernel.shape[0]
    m = output_size(n, f, padding, stride, dilation)
    padded = np.pad(patch.astype(np.float32), padding)
    out = np.zeros((m, m), np.float32)
    for i in range(m):
        for j in range(m):
            window = padded[i * stride: i * stride + dilation * (f - 1) + 1: dilation, j * stride: j * stride + dilation * (f - 1) + 1: dilation]
            out[i, j] = float((window * kernel).sum())
    return out


def transposed_convolve(patch: np.ndarray, kernel: np.ndarray, padding: int, stride: int, dilation: int = 1, output_padding: int = 0) -> np.ndarray:
    """Each input value stamps value * kernel onto the output (strided, dilated), then ``padding`` is cropped."""
    n, f = patch.shape[0], kernel.shape[0]
    full = (n - 1) * stride + dilation * (f - 1) + 1 + output_padding
    out = np.zeros((full, full), np.float32)
    for r in range(n):
        for c in range(n):
            for i in range(f):
                for j in range(f):
                    out[r * stride + i * dilation, c * stride + j * dilation] += patch[r, c] * kernel[i, j]
    m = transposed_output_size(n, f, padding, stride, dilation, output_padding)
    return out[padding: padding + m, padding: padding + m]


def pool(patch: np.ndarray, f: int, padding: int, stride: int, kind: str = "max") -> np.ndarray:
    """Max or average over each window (same size formula as a convolution)."""
    if kind not in ("max", "average"):
        raise ValueError(f"unknown pooling '{kind}': use max or average")
    if padding > f // 2:
        raise ValueError(f"padding {padding} is more than half the window {f}: torch refuses such a pool")
    n = patch.shape[0]
    m = output_size(n, f, padding, stride)
    padded = np.pad(patch.astype(np.float32), padding, constant_values=-np.inf if kind == "max" else 0.0)
    out = np.zeros((m, m), np.float32)
    for i in range(m):
        for j in range(m):
            window = padded[i * stride: i * stride + f, j * stride: j * stride + f]
            out[i, j] = window.max() if kind == "max" else window.mean()
    return out


def pointwise(channels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """A 1 x 1 convolution: (C_in, n, n) with (C_out, C_in) weights -> (C_out, n, n)."""
    if weights.shape[1] != channels.shape[0]:
        raise ValueError(f"{weights.shape[1]} input channels in the weights, {channels.shape[0]} in the input")
    return np.einsum("oc,chw->ohw", weights.astype(np.float32), channels.astype(np.float32))
