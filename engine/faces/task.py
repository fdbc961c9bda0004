"""The live Faces task: runs on each camera frame in the inference worker's thread.

Modes (a plain attribute, switched live by the GUI):
  "recognise": names (or "Unknown") with distances, smoothed per track.
  "verify":    1:1 — is each face ``verify_name``? (match / no match with the distance)
  "enrol":     no matching; each result carries the largest face's chip and a quality
               verdict for the guided capture.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from engine.faces.detectors import HAAR_NAME, make_detector
from engine.faces.embedders import make_embedder
from engine.faces.gallery import Gallery
from engine.faces.quality import ShotRules, ShotVerdict, judge_shot
from engine.faces.recognizer import FaceRecognizer
from engine.faces.tracking import FaceTracker
from engine.faces.types import UNKNOWN, FacesResult, RecognisedFace
from engine.runtime import Task
from engine.sources import Frame

log = logging.getLogger(__name__)

MODES = ("recognise", "verify", "enrol")


@dataclass(frozen=True)
class EnrolCandidate:
    """Enrol mode: the chip of the largest face (uint8 BGR, S x S) and its verdict."""

    chip: np.ndarray | None
    verdict: ShotVerdict


@dataclass(frozen=True)
class FacesFrameResult(FacesResult):
    candidate: EnrolCandidate | None = None


class FacesTask(Task):
    """detect -> align -> embed (batched) -> match -> track, on each frame.

    embedder: catalog/embedder name or None for the best installed one.
    detector: "haar" or "yunet". gallery: an open Gallery (shared, thread-safe) or a path.
    threshold: None means the embedder's default. Live attributes: ``threshold``,
    ``mode``, ``verify_name``.
    """

    name = "faces"

    def __init__(self, embedder: str | None = None, detector: str = HAAR_NAME, gallery: Gallery | str | None = None,
                 threshold: float | None = None, mode: str = "recognise", cache=None,
                 shot_rules: ShotRules = ShotRules()) -> None:
        self.embedder_name = embedder
        self.detector_name = detector
        self._gallery_arg = gallery
        self.threshold = threshold
        self.mode = mode
        self.verify_name: str | None = None
        self.shot_rules = shot_rules
        self._cache = cache
        self.recognizer: FaceRecognizer | None = None
        self.tracker = FaceTracker()
        self._own_gallery = False

    def load(self, device: torch.device) -> None:
        detector = make_detector(self.detector_name, self._cache)
        embedder = make_embedder(self.embedder_name, self._cache)
        embedder.load(device)
        gallery = self._gallery_arg
        if not isinstance(gallery, Gallery):
            gallery = Gallery(gallery)
            self._own_gallery = True
        self.recognizer = FaceRecognizer(detector, embedder, gallery, device)
        self.recognizer.prepare_gallery()
        if self.threshold is None:
            self.threshold = embedder.default_threshold
        log.info("faces task ready: %s + %s, %d gallery vectors", detector.name, embedder.name,
                 len(self.recognizer.matcher.index))

    @property
    def embedder(self):
        return self.recognizer.embedder if self.recognizer else None

    def preprocess(self, frame: Frame):
        assert self.recognizer is not None, "load() was not called"
        faces, chips = self.recognizer.faces(frame.image)
        return faces, chips

    def infer(self, inputs):
        faces, chips = inputs
        if self.mode == "enrol" or not chips:
            return faces, chips, None
        return faces, chips, self.recognizer.embedder.embed(chips)

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
        )

    def close(self) -> None:
        if self.recognizer is not None and self._own_gallery:
            self.recognizer.gallery.close()
        self.recognizer = None


__all__ = ["FacesTask", "FacesFrameResult", "EnrolCandidate", "MODES", "UNKNOWN"]
