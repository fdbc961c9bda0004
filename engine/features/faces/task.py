"""The live Faces task: runs on each camera frame in the inference worker's thread.

Live settings are one frozen ``FacesSettings`` snapshot (threshold, mode, verify name,
detector upsampling), applied by ``configure`` on the worker thread between frames.
Modes:
  "recognise": names (or "Unknown") with distances, smoothed per track.
  "verify":    1:1 — is each face ``verify_name``? (match / no match with the distance)
  "enrol":     no matching; each result carries the largest face's chip and a quality
               verdict for the guided capture.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass, replace

import numpy as np
import torch

from engine.core.frame import Frame
from engine.features.faces.detectors import make_detector
from engine.features.faces.embedders import make_embedder
from engine.features.faces.gallery import Gallery
from engine.features.faces.quality import ShotRules, ShotVerdict, judge_shot
from engine.features.faces.recognizer import FaceRecognizer
from engine.features.faces.tracking import FaceTracker
from engine.features.faces.types import UNKNOWN, FacesResult, RecognisedFace
from engine.runtime.worker import Task

log = logging.getLogger(__name__)

MODES = ("recognise", "verify", "enrol")


@dataclass(frozen=True)
class FacesSettings:
    """One snapshot of the live Faces settings.

    threshold: distance at or below which a face is "same person" (None: the embedder's
    default, from its catalog entry). mode: one of MODES. verify_name: the claimed person
    in verify mode. upsample: dlib-mmod only, how many times the frame is doubled before
    detection (0 or 1; 1 finds faces down to ~40 px at 4x the cost).
    """

    threshold: float | None = None
    mode: str = "recognise"
    verify_name: str | None = None
    upsample: int = 0


@dataclass(frozen=True)
class EnrolCandidate:
    """Enrol mode: the chip of the largest face (uint8 BGR, S x S) and its verdict."""

    chip: np.ndarray | None
    verdict: ShotVerdict


@dataclass(frozen=True)
class FacesFrameResult(FacesResult):
    """chips: the gallery chips of the faces (detection order); vectors: their (N, D)
    embeddings (None in enrol mode) — the Siamese view's live anchor."""

    candidate: EnrolCandidate | None = None
    chips: tuple = ()
    vectors: np.ndarray | None = None


class FacesTask(Task):
    """detect -> align -> embed (batched) -> match -> track, on each frame.

    embedder: catalog/embedder name or None for the best installed one.
    detector: "dlib-mmod", "yunet", "haar" or None (the one that suits the embedder).
    gallery: an open Gallery (shared, thread-safe) or a path. settings: the initial
    FacesSettings (threshold/mode kept as keyword shortcuts).
    """

    name = "faces"

    def __init__(self, embedder: str | None = None, detector: str | None = None, gallery: Gallery | str | None = None,
                 threshold: float | None = None, mode: str = "recognise", cache=None,
                 shot_rules: ShotRules = ShotRules(), settings: FacesSettings | None = None) -> None:
        self.embedder_name = embedder
        self.detector_name = detector
        self._gallery_arg = gallery
        self.settings = settings or FacesSettings(threshold=threshold, mode=mode)
        self.shot_rules = shot_rules
        self._cache = cache
        self.recognizer: FaceRecognizer | None = None
        self.tracker = FaceTracker()
        self._own_gallery = False
        # Held while the models run: enrolment jobs borrow this task's models (one set only).
        self.lock = threading.RLock()

    # Read-only views of the current snapshot (set through ``configure``).
    @property
    def threshold(self) -> float | None:
        return self.settings.threshold

    @property
    def mode(self) -> str:
        return self.settings.mode

    @property
    def verify_name(self) -> str | None:
        return self.settings.verify_name

    def configure(self, settings: FacesSettings) -> None:
        """Apply a snapshot (worker thread, between frames): the detector's upsampling too."""
        self.settings = settings
        detector = self.recognizer.detector if self.recognizer else None
        if detector is not None and hasattr(detector, "upsample"):
            detector.upsample = int(settings.upsample)

    def ensure_loaded(self, device: torch.device | None) -> None:
        """Load here unless already loaded (by the worker or an earlier job)."""
        with self.lock:
            if self.recognizer is None:
                self.load(device or torch.device("cpu"))

    def load(self, device: torch.device) -> None:
        with self.lock:
            if self.recognizer is None:
                self._load(device)
            if self.settings.threshold is None:
                self.settings = replace(self.settings, threshold=self.recognizer.embedder.default_threshold)

    def _load(self, device: torch.device) -> None:
        from engine.features.faces.detectors import default_detector_name

        embedder = make_embedder(self.embedder_name, self._cache)
        detector_name = self.detector_name or default_detector_name(self._cache, embedder.name)
        detector = make_detector(detector_name, self._cache, device, self.settings.upsample)
        embedder.load(device)
        gallery = self._gallery_arg
        if not isinstance(gallery, Gallery):
            gallery = Gallery(gallery)
            self._own_gallery = True
        self.recognizer = FaceRecognizer(detector, embedder, gallery, device)
        self.recognizer.prepare_gallery()
        log.info("faces task ready: %s + %s, %d gallery vectors", detector.name, embedder.name,
                 len(self.recognizer.matcher.index))

    @property
    def embedder(self):
        return self.recognizer.embedder if self.recognizer else None

    def preprocess(self, frame: Frame):
        assert self.recognizer is not None, "load() was not called"
        with self.lock:
            faces, chips = self.recognizer.faces(frame.image)
            inputs = self.recognizer.embedder_inputs(frame.image, faces, chips) if faces and self.mode != "enrol" else None
        return faces, chips, inputs

    def infer(self, inputs):
        faces, chips, embed_inputs = inputs
        if embed_inputs is None:
            return faces, chips, None
        with self.lock:
            return faces, chips, self.recognizer.embed_inputs(embed_inputs)

    def postprocess(self, outputs, frame: Frame) -> FacesFrameResult:
        faces, chips, vectors = outputs
        rec = self.recognizer
        embedder = rec.embedder
        threshold = float(self.threshold if self.threshold is not None else embedder.default_threshold)
        height, width = frame.image.shape[:2]
        mode = self.mode if self.mode in MODES else "recognise"
        candidate = None
        recognised: list[RecognisedFace] = []
        if mode == "enrol":
            chip = chips[0] if chips else None
            candidate = EnrolCandidate(chip, judge_shot(faces, chip, width, self.shot_rules))
            recognised = [RecognisedFace(f, 0, "", math.nan) for f in faces]
            self.tracker.reset()
        elif faces:
            rec.matcher.sync(rec.gallery)
            matches = rec.matcher.match(vectors, threshold)
            verified: list[bool | None] = [None] * len(faces)
            labels = [(m.name, m.distance) for m in matches]
            if mode == "verify":
                person = rec.gallery.find(self.verify_name) if self.verify_name else None
                if person is None:
                    labels = [("no person chosen", math.nan)] * len(faces)
                else:
                    dist = rec.matcher.distance_to(vectors, person.id)
                    verified = [bool(d <= threshold) for d in dist]
                    labels = [("match" if ok else "no match", float(d)) for ok, d in zip(verified, dist)]
            tracked = self.tracker.update(np.stack([f.box for f in faces]), labels)
            for face, match, ok, (track_id, label, distance) in zip(faces, matches, verified, tracked):
                recognised.append(RecognisedFace(face, track_id, label, distance, match, ok))
        else:
            self.tracker.update(np.zeros((0, 4), np.float32), [])
        return FacesFrameResult(
            frame_size=(width, height),
            faces=tuple(recognised),
            embedder=embedder.name,
            metric=embedder.metric,
            threshold=threshold,
            mode=mode,
            verify_name=self.verify_name if mode == "verify" else None,
            candidate=candidate,
            chips=tuple(chips),
            vectors=vectors,
        )

    def close(self) -> None:
        if self.recognizer is not None and self._own_gallery:
            self.recognizer.gallery.close()
        self.recognizer = None


__all__ = ["FacesTask", "FacesSettings", "FacesFrameResult", "EnrolCandidate", "MODES", "UNKNOWN"]
