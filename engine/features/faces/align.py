"""Cut a face out of a frame into a canonical "chip" that every embedder reads.

A chip is a square uint8 BGR image (CHIP_SIZE x CHIP_SIZE). With five landmarks the
face is warped by a similarity transform (rotation, uniform scale, translation) onto
the standard five-point template used by ArcFace/SFace, scaled to the chip. Without
landmarks (Haar) a square, margin-padded crop around the box is taken instead; the
margin was chosen so both paths frame the face about the same way. Chips are also what
the gallery stores as thumbnails, so re-embedding with another embedder needs no frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.core.errors import UserError
from engine.features.faces.types import FaceDetection

CHIP_SIZE = 160

# ArcFace five-point template for a 112x112 crop (x, y): eyes, nose tip, mouth corners.
_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)

# Haar boxes span roughly brow to chin; widen them so the framing matches the template.
BOX_MARGIN = 0.15


def template(size: int = CHIP_SIZE) -> np.ndarray:
    """The five-point template for a ``size`` x ``size`` chip, (5, 2) float32 pixels."""
    return _TEMPLATE_112 * (size / 112.0)


def similarity_matrix(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama) mapping ``src`` points onto ``dst``.

    src, dst: (K, 2) float points, K >= 2. Returns a (2, 3) float32 affine matrix.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1  # forbid reflections: a mirrored face is a different image
    rot = u @ np.diag(sign) @ vt
    var_s = (s**2).sum() / len(src)
    scale = (sig * sign).sum() / var_s if var_s > 0 else 1.0
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m.astype(np.float32)


def crop_box(image: np.ndarray, box: np.ndarray, size: int = CHIP_SIZE, margin: float = BOX_MARGIN) -> np.ndarray:
    """Square crop centred on ``box`` (x1 y1 x2 y2 pixels), side = max(w, h) * (1 + 2*margin).

    Parts outside the image are filled by replicating the border. Returns (size, size, 3).
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * (1.0 + 2.0 * margin)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    scale = size / max(side, 1.0)
    m = np.array([[scale, 0, size / 2.0 - scale * cx], [0, scale, size / 2.0 - scale * cy]], np.float32)
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def dlib_to_template_matrix(size: int = CHIP_SIZE) -> np.ndarray:
    """(2, 3) similarity from dlib's 150 px chip (padding 0.25) to our ``size`` template chip.

    Fitted on the points both templates share: the two eye centres (dlib's are the means
    of its eye corners) and the nose (dlib's point sits just below the tip, close enough
    for framing a thumbnail).
    """
    from engine.features.faces.dlib_chip import CHIP_SIZE as DLIB_SIZE
    from engine.features.faces.dlib_chip import PADDING, TEMPLATE_5

    dlib_pts = (PADDING + TEMPLATE_5) / (2 * PADDING + 1) * DLIB_SIZE
    src = np.array([(dlib_pts[2] + dlib_pts[3]) / 2, (dlib_pts[0] + dlib_pts[1]) / 2, dlib_pts[4]])
    dst = template(size)[:3]
    return similarity_matrix(src, dst)


def frame_to_dlib_chip_matrix(points: np.ndarray) -> np.ndarray:
    """(2, 3) affine map from frame pixels to dlib's chip pixels for dlib's 5 landmarks."""
    from engine.features.faces.dlib_chip import face_chip_details

    d = face_chip_details(points)
    l, t, r, b = d.rect
    cx, cy = (l + r) / 2, (t + b) / 2
    c, s = np.cos(d.angle), np.sin(d.angle)
    # chip (0,0) -> rotated top-left corner; one chip pixel = (r - l) / (cols - 1) frame pixels.
    step = (r - l) / (d.cols - 1)
    tl = np.array([c * (l - cx) - s * (t - cy) + cx, s * (l - cx) + c * (t - cy) + cy])
    chip_to_frame = np.array([[c * step, -s * step, tl[0]], [s * step, c * step, tl[1]]])
    full = np.vstack([chip_to_frame, [0, 0, 1]])
    return np.linalg.inv(full)[:2].astype(np.float32)


def align_face(image: np.ndarray, face: FaceDetection, size: int = CHIP_SIZE) -> np.ndarray:
    """The chip of one detected face: landmark warp when landmarks exist, else a box crop.

    image: uint8 BGR (H, W, 3). Returns uint8 BGR (size, size, 3), C-contiguous. dlib's
    landmarks are mapped through dlib's own chip geometry onto the same template, so
    every detector's thumbnails frame the face alike.
    """
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if face.landmarks is not None and face.scheme == "dlib5":
        to_chip = np.vstack([frame_to_dlib_chip_matrix(face.landmarks), [0, 0, 1]])
        to_template = np.vstack([dlib_to_template_matrix(size), [0, 0, 1]])
        m = (to_template @ to_chip)[:2].astype(np.float32)
        chip = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    elif face.landmarks is not None:
        m = similarity_matrix(face.landmarks, template(size))
        chip = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    else:
        chip = crop_box(image, face.box, size)
    return np.ascontiguousarray(chip)


# An image given as an already aligned face chip must look like one: nearly square, and
# not so small (or so large) that resizing it to the embedder's input invents or throws
# away most of the face. Beyond these it is refused with a message instead of being
# silently squashed (a 1x10000 "chip" used to become a 160x160 smear).
MAX_CHIP_ASPECT = 1.25       # long side / short side
MIN_CHIP_FRACTION = 0.25     # short side >= this x the embedder's input side
MAX_CHIP_FACTOR = 16         # long side <= this x the embedder's input side


class ChipError(UserError, ValueError):
    """An image refused as an aligned face chip; the message names it and says what to do."""


def check_chip(image: np.ndarray, size: int, name: str = "the image") -> None:
    """ChipError when ``image`` (H, W[, C]) is too far from a ``size`` x ``size`` face chip."""
    h, w = image.shape[:2]
    short, long = min(h, w), max(h, w)
    advice = (f"give a face chip of about {size}x{size} pixels, or leave out --aligned so the face is found "
              "and aligned first")
    if short == 0 or long / short > MAX_CHIP_ASPECT:
        raise ChipError(f"{name}: {w}x{h} pixels is not square enough for an aligned face chip "
                        f"(at most {MAX_CHIP_ASPECT}:1); {advice}")
    if short < MIN_CHIP_FRACTION * size:
        raise ChipError(f"{name}: {w}x{h} pixels is too small for an aligned face chip (at least "
                        f"{int(np.ceil(MIN_CHIP_FRACTION * size))} pixels a side for this embedder); {advice}")
    if long > MAX_CHIP_FACTOR * size:
        raise ChipError(f"{name}: {w}x{h} pixels is too large for an aligned face chip (at most "
                        f"{MAX_CHIP_FACTOR * size} pixels a side for this embedder); {advice}")


def as_chip(image: np.ndarray, size: int = CHIP_SIZE) -> np.ndarray:
    """Treat a whole image as an already-aligned face crop: centre-square it and resize."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    h, w = image.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    square = image[y0:y0 + side, x0:x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(square, (size, size), interpolation=interp))
