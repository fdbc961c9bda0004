"""Plain result types of the faces pipeline (frozen dataclasses, numpy inside).

Coordinates follow the engine convention: boxes are x1 y1 x2 y2 in pixels of the
original frame (float32), landmarks are (5, 2) x y pixels in the same frame. Two
landmark schemes exist, named by ``FaceDetection.scheme``:
  "yunet": OpenCV YuNet's order — right eye, left eye, nose tip, right mouth corner,
           left mouth corner ("right" being the person's right, the left of the image);
  "dlib5": dlib's 5-point model — outer and inner corner of the eye on the image's
           right, outer and inner corner of the other eye, the point below the nose
           (integer pixels, as dlib gives them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

UNKNOWN = "Unknown"


@dataclass(frozen=True)
class FaceDetection:
    """One detected face.

    box: (4,) float32 x1 y1 x2 y2, frame pixels.
    score: detector confidence (YuNet: [0, 1]; Haar has none: 1.0; dlib's MMOD: the
    network's margin, > 0, about 1 for a clear face).
    landmarks: (5, 2) float32 frame pixels, or None when the detector gives none.
    scheme: which five points ``landmarks`` are ("yunet" or "dlib5", see the module doc).
    """

    box: np.ndarray
    score: float = 1.0
    landmarks: np.ndarray | None = None
    scheme: str = "yunet"

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])


@dataclass(frozen=True)
class Match:
    """The best gallery match of one face embedding.

    distance is in the embedder's metric (cosine distance 1 - cos, or L2 between unit
    vectors); ``name`` is ``UNKNOWN`` when the distance is beyond the threshold, and
    ``candidate`` then still names the closest person (for the UI's "closest: X").
    """

    name: str
    distance: float
    person_id: int | None = None
    candidate: str | None = None

    @property
    def known(self) -> bool:
        return self.name != UNKNOWN


@dataclass(frozen=True)
class RecognisedFace:
    """A face in a frame with its (smoothed) label.

    track_id: stable across frames while the face stays in view.
    match: this frame's raw match; ``label``/``distance`` are what the UI should show
    (the majority of the last few frames, so labels do not flicker).
    """

    detection: FaceDetection
    track_id: int
    label: str
    distance: float
    match: Match | None = None
    verified: bool | None = None


@dataclass(frozen=True)
class FacesResult:
    """What the recognition task returns for one frame.

    faces: one entry per detected face, in detection order.
    mode: "recognise" or "verify"; in verify mode ``verify_name`` is the claimed person
    and each face's ``verified`` says match / no match.
    threshold: the distance threshold used (embedder metric).
    """

    frame_size: tuple[int, int]  # (width, height) pixels
    faces: tuple[RecognisedFace, ...]
    embedder: str
    metric: str
    threshold: float
    mode: str = "recognise"
    verify_name: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
