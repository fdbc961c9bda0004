"""dlib's image pyramids, bit-exact: pyramid_down<2> (chips of large faces) and
pyramid_down<6> (the MMOD detector's scales).

pyramid_down<2>: a separable [1 4 6 4 1] filter in 16-bit integers, every other row and
column, divided by 256 (truncating); output (H - 3) // 2 x (W - 3) // 2, a point p of the
input lands on p / 2 - (1.25, 0.75).

pyramid_down<N> (N > 2): a bilinear resize to (N - 1) / N of the size, computed as dlib's
SIMD RGB resize computes it (float32 lanes of four columns, the column position
accumulated in float32, values truncated; the last columns in double precision); a point
p lands on (p - 0.3) * (N - 1) / N.
"""

from __future__ import annotations

import numpy as np


def pyramid_down_2(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, C) -> uint8 ((H - 3) // 2, (W - 3) // 2, C); empty when H or W <= 8."""
    h, w = image.shape[:2]
    if h <= 8 or w <= 8:
        return np.zeros((0, 0) + image.shape[2:], np.uint8)
    img = image.astype(np.uint32)
    out_w = (w - 3) // 2
    oc = 2 * np.arange(out_w)
    rows = img[:, oc] + 4 * img[:, oc + 1] + 6 * img[:, oc + 2] + 4 * img[:, oc + 3] + img[:, oc + 4]
    n_rows = rows.shape[0]
    centres = np.arange(2, n_rows - 2, 2)
    out = rows[centres - 2] + 4 * rows[centres - 1] + 6 * rows[centres] + 4 * rows[centres + 1] + rows[centres + 2]
    out = (out // 256).astype(np.uint8)
    return out[: (h - 3) // 2]


def pyramid_chain(image: np.ndarray, depth: int) -> np.ndarray:
    """``depth`` applications of pyramid_down_2."""
    for _ in range(depth):
        image = pyramid_down_2(image)
    return image


def resize_bilinear_rgb(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """dlib's resize_image(rgb -> rgb, bilinear) -> uint8 (out_h, out_w, 3)."""
    in_h, in_w = image.shape[:2]
    if out_h == 0 or out_w == 0 or in_h == 0 or in_w == 0:
        return np.zeros((out_h, out_w, image.shape[2]), np.uint8)
    x_scale = (in_w - 1) / max(out_w - 1, 1)
    y_scale = (in_h - 1) / max(out_h - 1, 1)
    ys = np.cumsum(np.concatenate([[-y_scale], np.full(out_h, y_scale)]))[1:]
    top = np.floor(ys).astype(np.int64)
    bottom = np.minimum(top + 1, in_h - 1)
    tb = ys - top

    # The vectorised part: groups of four columns while the right neighbour stays inside.
    lanes = np.array([-4 * x_scale + j * x_scale for j in range(4)], np.float64).astype(np.float32)
    n_groups = (out_w + 3) // 4 + 1
    steps = np.full((n_groups, 4), np.float32(4 * x_scale), np.float32)
    xs_f = np.cumsum(np.vstack([lanes[None], steps]), axis=0, dtype=np.float32)[1:]   # (G, 4)
    left_f = xs_f.astype(np.int32)  # truncation; positions are non-negative
    ok = (left_f[:, 3] + 1) < in_w
    n_simd = int(np.argmin(ok)) if not ok.all() else n_groups
    # dlib writes four columns per group even past out_w? No: the loop breaks on the first
    # group whose last right neighbour is outside, so groups never exceed the image.
    n_simd = min(n_simd, out_w // 4 + (1 if out_w % 4 else 0))
    while n_simd > 0 and 4 * n_simd > out_w:
        n_simd -= 1
    simd_cols = 4 * n_simd
    img = image.astype(np.float32)
    out = np.empty((out_h, out_w, image.shape[2]), np.uint8)
    if simd_cols:
        xf = xs_f[:n_simd].reshape(-1)                        # (simd_cols,)
        left = left_f[:n_simd].reshape(-1).astype(np.int64)
        right = left + 1
        lr = (xf - left.astype(np.float32)).astype(np.float32)
        inv_lr = (np.float32(1) - lr).astype(np.float32)
        tbf = tb.astype(np.float32)[:, None]
        inv_tb = (np.float32(1) - tbf).astype(np.float32)
        tlf, trf = inv_tb * inv_lr, inv_tb * lr
        blf, brf = tbf * inv_lr, tbf * lr
        for ch in range(image.shape[2]):
            tl = img[top[:, None], left[None, :], ch]
            tr = img[top[:, None], right[None, :], ch]
            bl = img[bottom[:, None], left[None, :], ch]
            br = img[bottom[:, None], right[None, :], ch]
            val = ((tlf * tl + trf * tr) + blf * bl) + brf * br
            out[:, :simd_cols, ch] = val.astype(np.int32).astype(np.uint8)
    if simd_cols < out_w:
        n_tail = out_w - simd_cols
        xt = np.cumsum(np.concatenate([[-x_scale + simd_cols * x_scale], np.full(n_tail, x_scale)]))[1:]
        left = np.floor(xt).astype(np.int64)
        right = np.minimum(left + 1, in_w - 1)
        lr = (xt - left)[None, :, None]
        tbd = tb[:, None, None]
        src = image.astype(np.float64)
        tl = src[top[:, None], left[None, :]]
        tr = src[top[:, None], right[None, :]]
        bl = src[bottom[:, None], left[None, :]]
        br = src[bottom[:, None], right[None, :]]
        val = (1 - tbd) * ((1 - lr) * tl + lr * tr) + tbd * ((1 - lr) * bl + lr * br)
        out[:, simd_cols:] = np.clip(val, 0, 255).astype(np.uint8)
    return out


def pyramid_down_n(image: np.ndarray, n: int) -> np.ndarray:
    """dlib's pyramid_down<n> for n > 2 on an RGB image."""
    h, w = image.shape[:2]
    return resize_bilinear_rgb(image, ((n - 1) * h) // n, ((n - 1) * w) // n)
