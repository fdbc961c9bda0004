"""`batch faces`: the faces feature's 1:N recognition, mapped over one input at a time.

The task-specific part of a batch run, as engine/batch/detect.py is for detect: the same
runner, resume logic and output folder. Tables of one input (``source``, ``frame`` and
``time`` as in engine/batch/detect.py):

- "faces": one row per face found, largest first within a frame: source, frame, time,
  x1, y1, x2, y2 (float32 pixels of the original frame, top-left origin), score (float32,
  the detector's confidence: dlib's MMOD margin, about 1 for a clear face; YuNet 0..1;
  Haar 1), identity (the gallery's name when the best match is within the threshold,
  else null), distance (float32, in the embedder's metric, to the closest gallery row;
  null without a gallery or with an empty one), closest (the name of that closest
  person, also when beyond the threshold; null without one);
- "frames": one row per frame processed: source, frame, time, width, height, faces (how
  many rows that frame has in "faces").

The faces of a frame are what ``faces identify IMAGE --json`` reports for it (identity
there is "Unknown" where it is null here): the same detector, embedder, threshold and
per-frame step (``FaceRecognizer.identify``). The gallery is read once, by the driver,
read-only (engine/features/faces/gallery_snapshot.py); its rows travel to the workers
inside the job, which Ray puts in its object store once (engine/batch/runner.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from engine.batch.inputs import frames_of
from engine.core.errors import SourceError
from engine.features.faces.gallery_snapshot import GallerySnapshot

FACE_SCHEMA = pa.schema([("source", pa.string()), ("frame", pa.int64()), ("time", pa.float64()),
                         ("x1", pa.float32()), ("y1", pa.float32()), ("x2", pa.float32()), ("y2", pa.float32()),
                         ("score", pa.float32()), ("identity", pa.string()), ("distance", pa.float32()),
                         ("closest", pa.string())])
FRAME_SCHEMA = pa.schema([("source", pa.string()), ("frame", pa.int64()), ("time", pa.float64()),
                          ("width", pa.int32()), ("height", pa.int32()), ("faces", pa.int32())])


@dataclass(frozen=True)
class FacesJob:
    """What every worker builds: the ``detector`` (with ``upsample``) and ``embedder`` of
    the faces feature (installed models, as ``faces identify --detector/--embedder``),
    matching every face against ``snapshot`` (the rows of the gallery file ``gallery``,
    read by the driver; None: no gallery, no identities) within ``threshold``, on every
    ``every``-th frame of a video. ``gallery_stamp`` fingerprints the rows, so that a
    resume against an edited gallery is refused. Picklable."""

    embedder: str
    detector: str
    upsample: int = 0
    threshold: float | None = None
    every: int = 1
    gallery: str | None = None
    gallery_stamp: str | None = None
    snapshot: GallerySnapshot | None = field(default=None, compare=False, repr=False)

    name = "faces"
    tables = ("faces", "frames")
    rows = "face(s)"

    @property
    def model(self) -> str:
        """What the workers load, for messages."""
        return f"{self.detector} + {self.embedder}"

    @classmethod
    def create(cls, *, gallery: str | None = None, threshold: float | None = None, every: int = 1,
               embedder: str | None = None, detector: str | None = None, upsample: int = 0) -> "FacesJob":
        """Checked as ``faces identify`` checks its flags, before any worker starts: the models
        are installed, and ``gallery`` is read here, once (GalleryError when it is missing
        or damaged). ``threshold`` None: the embedder's default."""
        from engine.features.faces.detectors import DETECTOR_NAMES, HAAR_NAME, default_detector_name
        from engine.features.faces.embedders import EMBEDDER_NAMES, make_embedder
        from engine.features.faces.models import model_path

        if every < 1:
            raise ValueError(f"--every {every}: give a whole number of at least 1")
        if not 0 <= upsample <= 3:
            raise ValueError(f"--upsample {upsample}: use 0 to 3 (each step doubles the image)")
        if threshold is not None and not gallery:
            raise ValueError("--threshold only applies with --gallery (without one, faces are found but not named)")
        if threshold is not None and threshold < 0:
            raise ValueError(f"--threshold {threshold:g}: give a distance of at least 0")
        if embedder is not None and embedder not in EMBEDDER_NAMES:
            raise ValueError(f"unknown embedder '{embedder}': choose one of {', '.join(EMBEDDER_NAMES)}")
        model = make_embedder(embedder)  # FaceModelError (how to install it) when its files are missing
        if detector is not None and detector not in DETECTOR_NAMES:
            raise ValueError(f"unknown face detector '{detector}': choose one of {', '.join(DETECTOR_NAMES)}")
        detector = detector or default_detector_name(None, model.name)
        if detector != HAAR_NAME:
            model_path(detector)
        if detector == "dlib-mmod":
            model_path("dlib-5pt")
        if not gallery:
            return cls(model.name, detector, int(upsample), None, every)
        from engine.features.faces.gallery_snapshot import read_snapshot

        def embed(chips):
            # Shots enrolled with another embedder: embedded here, on the CPU, as
            # `faces identify` embeds them before it stores them.
            model.load(None)
            return model.embed(chips)

        snapshot = read_snapshot(gallery, model.name, model.dim, embed)
        limit = model.default_threshold if threshold is None else float(threshold)
        return cls(model.name, detector, int(upsample), limit, every, snapshot.path, snapshot.stamp, snapshot)

    def describe(self) -> dict[str, Any]:
        """The settings a run is made of (a resumed run must have the same)."""
        return {"task": self.name, "embedder": self.embedder, "detector": self.detector, "upsample": self.upsample,
                "threshold": self.threshold, "every": self.every, "gallery": self.gallery, "gallery_stamp": self.gallery_stamp}

    def start(self, device: str | None = None) -> "FacesWorker":
        """Build the detector and the embedder (this machine's installed files) once per worker process."""
        return FacesWorker(self, device)


class FacesWorker:
    """A loaded ``FacesJob``: ``process(path)`` turns one input into its tables."""

    def __init__(self, job: FacesJob, device: str | None = None) -> None:
        from engine.features.faces.detectors import make_detector
        from engine.features.faces.embedders import make_embedder
        from engine.features.faces.recognizer import FaceRecognizer
        from engine.runtime.device import choose_device

        self.job = job
        self.device = choose_device(device)
        embedder = make_embedder(job.embedder)
        embedder.load(self.device)
        detector = make_detector(job.detector, None, self.device, job.upsample)
        # No gallery object: the recognizer matches against the rows the job carries.
        self.recognizer = FaceRecognizer(detector, embedder, None, self.device)
        snapshot = job.snapshot
        if snapshot is not None:
            self.recognizer.matcher.load(snapshot.keys, snapshot.labels, snapshot.vectors, snapshot.names)
        self.threshold = job.threshold if job.threshold is not None else embedder.default_threshold

    def close(self) -> None:
        pass

    def process(self, path: str) -> dict[str, pa.Table]:
        """The tables of one input; SourceError (or another UserError) when it cannot be read."""
        wanted, fps = frames_of(path, self.job.every)
        named = self.job.snapshot is not None
        faces: dict[str, list] = {name: [] for name in FACE_SCHEMA.names}
        frames: dict[str, list] = {name: [] for name in FRAME_SCHEMA.names}
        for frame in wanted:
            index = frame.index
            time = index / fps if fps else None
            found = self.recognizer.identify(frame.image, self.threshold)
            for face, match in found:
                x1, y1, x2, y2 = (float(v) for v in face.box)
                measured = named and match.distance == match.distance  # NaN: an empty gallery
                for column, value in zip(FACE_SCHEMA.names, (
                        path, index, time, x1, y1, x2, y2, float(face.score), match.name if named and match.known else None,
                        match.distance if measured else None, match.candidate if measured else None)):
                    faces[column].append(value)
            height, width = frame.image.shape[:2]
            for column, value in zip(FRAME_SCHEMA.names, (path, index, time, width, height, len(found))):
                frames[column].append(value)
        if not frames["frame"]:
            raise SourceError(f"{path}: no frame could be decoded", "check that the file is a complete video")
        return {"faces": pa.table(faces, schema=FACE_SCHEMA), "frames": pa.table(frames, schema=FRAME_SCHEMA)}
