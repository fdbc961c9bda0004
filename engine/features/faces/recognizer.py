"""Detect, align, embed and match faces against the gallery (no threads, no Qt).

``FaceRecognizer`` is the synchronous pipeline shared by the CLI, the live task and
the benchmark. ``GalleryMatcher`` keeps a VectorIndex of one embedder's gallery
vectors and follows gallery changes incrementally.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from engine.features.faces.align import align_face
from engine.features.faces.detectors import FaceDetector
from engine.features.faces.embedders import Embedder
from engine.features.faces.gallery import Gallery
from engine.features.faces.gallery_records import Person
from engine.features.faces.quality import EnrolmentError, single_face
from engine.features.faces.search import VectorIndex
from engine.features.faces.types import UNKNOWN, FaceDetection, Match

log = logging.getLogger(__name__)


def reembed(gallery: Gallery, embedder: Embedder, batch: int = 16) -> Iterator[tuple[int, int]]:
    """Compute missing vectors of ``embedder`` from the stored thumbnails.

    A generator yielding (done, total) after each batch, so callers can show progress
    and cancel between batches; each batch is committed on its own.
    """
    missing = gallery.missing_embeddings(embedder.name)
    total = len(missing)
    for start in range(0, total, batch):
        ids = missing[start:start + batch]
        chips = gallery.chips_of_shots(ids)
        vectors = embedder.embed(chips)
        gallery.add_embeddings(embedder.name, dict(zip(ids, vectors)))
        yield min(start + batch, total), total
    if total:
        log.info("re-embedded %d shots with %s", total, embedder.name)


class GalleryMatcher:
    """Nearest-person search for one embedder, kept in step with a gallery.

    Rows are keyed by embedding id and labelled by person id; ``sync`` adds and removes
    only the rows that changed since the last call.
    """

    def __init__(self, embedder: Embedder, device: torch.device | str = "cpu") -> None:
        self.embedder = embedder
        self.index = VectorIndex(embedder.dim, embedder.metric, device)
        self.names: dict[int, str] = {}
        self._token: object = None

    def sync(self, gallery: Gallery, force: bool = False) -> bool:
        """Bring the index up to date with ``gallery``; True when anything was checked."""
        token = gallery.change_token()
        if not force and token == self._token:
            return False
        ids, people, vectors = gallery.vectors(self.embedder.name)
        current = {int(i): int(p) for i, p in zip(ids, people)}
        self.index.remove([k for k in self.index.keys() if k not in current])
        known = self.index.labels_by_key()
        # New rows, and rows whose person changed (a merge moves shots between people).
        todo = [n for n, i in enumerate(ids) if known.get(int(i)) != int(people[n])]
        if todo:
            self.index.add([int(ids[n]) for n in todo], vectors[todo], [int(people[n]) for n in todo])
        self.names = gallery.names_by_id()
        self._token = token
        return True

    def load(self, keys: np.ndarray, labels: np.ndarray, vectors: np.ndarray, names: dict[int, str]) -> None:
        """Hold exactly these rows: keys (M,) and labels (M,) ints, vectors (M, D) float32,
        names {label: name}; a gallery read elsewhere (a batch run's workers get arrays,
        never the database). A later ``sync`` replaces them with a gallery's rows."""
        self.index.remove(self.index.keys())
        if len(keys):
            self.index.add([int(k) for k in keys], vectors, [int(label) for label in labels])
        self.names = dict(names)
        self._token = None

    def match(self, vectors: np.ndarray, threshold: float) -> list[Match]:
        """Best person for each (N, D) vector; "Unknown" beyond ``threshold``."""
        out = []
        for hits in self.index.search(vectors, k=1):
            if not hits:
                out.append(Match(UNKNOWN, float("nan")))
                continue
            hit = hits[0]
            name = self.names.get(hit.label, "?")
            if hit.distance <= threshold:
                out.append(Match(name, hit.distance, hit.label, name))
            else:
                out.append(Match(UNKNOWN, hit.distance, None, name))
        return out

    def distance_to(self, vectors: np.ndarray, person_id: int) -> np.ndarray:
        """Distance of each (N, D) vector to the closest shot of one person -> (N,) (inf if none)."""
        return self.index.distance_to_label(vectors, person_id)


class FaceRecognizer:
    """detector + embedder (+ gallery): the synchronous faces pipeline.

    Images are uint8 BGR (H, W, 3); boxes are frame pixels x1 y1 x2 y2.
    """

    def __init__(self, detector: FaceDetector, embedder: Embedder, gallery: Gallery | None = None,
                 device: torch.device | str = "cpu") -> None:
        self.detector = detector
        self.embedder = embedder
        self.gallery = gallery
        self.device = torch.device(device)
        self.matcher = GalleryMatcher(embedder, self.device)

    def faces(self, image: np.ndarray) -> tuple[list[FaceDetection], list[np.ndarray]]:
        """Detections (largest first) and their aligned gallery chips."""
        faces = self.detector.detect(image)
        return faces, [align_face(image, f) for f in faces]

    def embedder_inputs(self, image: np.ndarray, faces: Sequence[FaceDetection], chips: Sequence[np.ndarray]):
        """What ``embed_inputs`` needs: the embedder's own chips when it aligns faces itself
        (dlib's chip for dlib-resnet), else the gallery chips. Returns (chips, native?)."""
        native = self.embedder.native_chips(image, faces) if faces else None
        return (native, True) if native is not None else (list(chips), False)

    def embed_inputs(self, inputs) -> np.ndarray:
        chips, native = inputs
        return self.embedder.embed_native(chips) if native else self.embedder.embed(chips)

    def embed_faces(self, image: np.ndarray, faces: Sequence[FaceDetection], chips: Sequence[np.ndarray]) -> np.ndarray:
        """(N, D) vectors of ``faces`` found in ``image`` (chips: their gallery chips)."""
        if not faces:
            return np.zeros((0, self.embedder.dim), np.float32)
        return self.embed_inputs(self.embedder_inputs(image, faces, chips))

    def embed_single(self, image: np.ndarray, what: str) -> tuple[FaceDetection, np.ndarray, np.ndarray]:
        """The one face of a photo: (detection, chip, vector); EnrolmentError when not exactly one."""
        face = single_face(self.detector.detect(image), what)
        chip = align_face(image, face)
        return face, chip, self.embed_faces(image, [face], [chip])[0]

    def prepare_gallery(self) -> None:
        """Re-embed shots that lack this embedder's vectors, then load the search index."""
        if self.gallery is None:
            return
        if not self.gallery.read_only:
            for _progress in reembed(self.gallery, self.embedder):
                pass
        self.matcher.sync(self.gallery, force=True)

    def identify(self, image: np.ndarray, threshold: float | None = None) -> list[tuple[FaceDetection, Match]]:
        """Every face in ``image`` with its best gallery match."""
        faces, chips = self.faces(image)
        if not faces:
            return []
        if self.gallery is not None:
            self.matcher.sync(self.gallery)
        vectors = self.embed_faces(image, faces, chips)
        limit = self.embedder.default_threshold if threshold is None else threshold
        return list(zip(faces, self.matcher.match(vectors, limit)))

    def enrol(self, name: str, images: Sequence[tuple[str, np.ndarray]], add_to_existing: bool = False) -> Person:
        """Enrol ``name`` from photos [(label for messages, image)], one face each.

        Every photo is checked before anything is written; EnrolmentError names the
        photo with no face or several faces. PersonExistsError when the name exists and
        ``add_to_existing`` is False.
        """
        if self.gallery is None:
            raise ValueError("no gallery to enrol into")
        if not images:
            raise EnrolmentError("no photos given")
        chips, vectors = [], []
        for label, image in images:
            face = single_face(self.detector.detect(image), label)
            chip = align_face(image, face)
            chips.append(chip)
            vectors.append(self.embed_faces(image, [face], [chip])[0])
        return self.enrol_chips(name, chips, add_to_existing, np.stack(vectors))

    def enrol_chips(self, name: str, chips: Sequence[np.ndarray], add_to_existing: bool = False,
                    vectors: np.ndarray | None = None) -> Person:
        """Enrol already aligned gallery chips (guided capture); ``vectors`` when already computed."""
        if self.gallery is None:
            raise ValueError("no gallery to enrol into")
        if vectors is None:
            vectors = self.embedder.embed(list(chips))
        person = self.gallery.enrol(name, zip(chips, vectors), self.embedder.name, add_to_existing)
        self.matcher.sync(self.gallery)
        return person

    def verify_pair(self, image_a: np.ndarray, image_b: np.ndarray, what_a: str = "the first photo",
                    what_b: str = "the second photo", threshold: float | None = None) -> tuple[bool, float]:
        """1:1 check of two photos (one face each): (same person?, distance)."""
        _, _, a = self.embed_single(image_a, what_a)
        _, _, b = self.embed_single(image_b, what_b)
        from engine.features.faces.embedders import distances

        distance = float(distances(a, b[None, :], self.embedder.metric)[0])
        limit = self.embedder.default_threshold if threshold is None else threshold
        return distance <= limit, distance
