"""The Faces tab's state and commands, without Qt: the tab is a thin view over this.

State: the chosen embedder/detector, the live settings (threshold, mode, verify name,
upsampling) as one frozen ``FacesSettings`` snapshot, the gallery, the guided capture,
the latest result. Commands return what the view must do (rebuild the task, show an
error) instead of doing it.

One detector and one embedder exist: those of the live ``FacesTask``. Enrolment and
triplet checks borrow them through ``models()`` under the task's lock (loading the task
in the caller's thread when the worker has not yet), so nothing is built twice and no
model is built on the GUI thread to validate a choice (that is a file check).

``store``: a key/value settings store with ``value(key, default)``, ``setValue`` and
``remove`` (QSettings has them; tests pass a dict-backed one).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import numpy as np

from engine.features.faces.detectors import DETECTOR_NAMES, HAAR_NAME, MMOD_NAME, default_detector_name
from engine.features.faces.embedders import distances, embedder_info, installed_embedders
from engine.features.faces.task import MODES, FacesSettings

log = logging.getLogger(__name__)

DETECTOR_TITLES = {MMOD_NAME: "dlib MMOD CNN (+ 5 landmarks)", "yunet": "YuNet (landmarks)", HAAR_NAME: "Haar cascade (offline)"}


class DictStore:
    """A dict with QSettings' three methods (tests, headless use)."""

    def __init__(self) -> None:
        self.data: dict = {}

    def value(self, key, default=None):
        return self.data.get(key, default)

    def setValue(self, key, value) -> None:  # noqa: N802 - QSettings' name
        self.data[key] = value

    def remove(self, key) -> None:
        self.data.pop(key, None)


@dataclass(frozen=True)
class Triplet:
    """d(A, P), d(A, N) and the margin d(A, N) - d(A, P) (> 0: the triplet is satisfied)."""

    d_ap: float
    d_an: float

    @property
    def margin(self) -> float:
        return self.d_an - self.d_ap

    def loss(self, alpha: float) -> float:
        """The triplet loss max(0, d(A,P) - d(A,N) + alpha) that trains such networks."""
        return max(0.0, self.d_ap - self.d_an + alpha)


class FacesController:
    def __init__(self, store, cache=None, device=None) -> None:
        self.store = store
        self.cache = cache
        self.device = device
        self.gallery = None
        self.capture = None
        self.task = None
        self.last = None
        self.embedder_name = str(store.value("Faces/embedder", "") or "")
        self.detector_name = str(store.value("Faces/detector", "") or "")
        self.settings = FacesSettings(upsample=int(store.value("Faces/upsample", 0) or 0))
        self.refresh_embedders()
        if self.detector_name not in DETECTOR_NAMES or not self.detector_installed(self.detector_name):
            self.detector_name = default_detector_name(cache, self.embedder_name)

    # -- models ------------------------------------------------------------------------
    def embedders(self) -> list[tuple[str, dict]]:
        return [(name, embedder_info(name)) for name in installed_embedders(self.cache)]

    def refresh_embedders(self) -> bool:
        """Re-read what is installed; True when the chosen embedder had to change."""
        names = installed_embedders(self.cache)
        wanted = self.embedder_name if self.embedder_name in names else names[0]
        changed = wanted != self.embedder_name
        if changed or self.settings.threshold is None:
            self._apply_embedder(wanted)
        return changed

    def _apply_embedder(self, name: str) -> None:
        self.embedder_name = name
        self.store.setValue("Faces/embedder", name)
        saved = self.store.value(f"Faces/threshold/{name}")
        threshold = float(saved) if saved not in (None, "") else self.default_threshold()
        self.settings = replace(self.settings, threshold=threshold)

    def pick_embedder(self, name: str) -> bool:
        """Choose the embedder; True when the task must be rebuilt."""
        if not name or name == self.embedder_name:
            return False
        self._apply_embedder(name)
        self.task = None
        return True

    def info(self) -> dict:
        return embedder_info(self.embedder_name)

    def detector_installed(self, name: str) -> bool:
        if name == HAAR_NAME:
            return True
        from engine.features.faces.models import is_installed

        try:
            installed = is_installed(name, self.cache)
            return installed and (name != MMOD_NAME or is_installed("dlib-5pt", self.cache))
        except Exception:  # an unknown name in old settings
            return False

    def pick_detector(self, name: str) -> tuple[bool, str | None]:
        """Choose the detector -> (rebuild the task?, error message to show or None)."""
        if name == self.detector_name:
            return False, None
        if name not in DETECTOR_NAMES:
            return False, f"unknown face detector '{name}'"
        if not self.detector_installed(name):
            return False, (f"the weights of '{name}' are not installed: run `python main.py models fetch {name}`, "
                           f"or `python main.py models import {name} FILE` with a file you already have")
        self.detector_name = name
        self.store.setValue("Faces/detector", name)
        self.task = None
        return True, None

    # -- live settings -----------------------------------------------------------------
    @property
    def threshold(self) -> float:
        return float(self.settings.threshold if self.settings.threshold is not None else self.default_threshold())

    @property
    def mode(self) -> str:
        return self.settings.mode

    def default_threshold(self) -> float:
        return float(embedder_info(self.embedder_name)["threshold"])

    def threshold_range(self) -> float:
        """Upper end of the threshold slider: 2 for unit vectors, 1.5 for dlib's raw L2."""
        return 1.5 if self.info()["metric"] == "l2" else 2.0

    def set_threshold(self, value: float, remember: bool = False) -> FacesSettings:
        value = max(0.0, min(self.threshold_range(), float(value)))
        self.settings = replace(self.settings, threshold=value)
        if remember:
            self.store.setValue(f"Faces/threshold/{self.embedder_name}", value)
        return self.settings

    def reset_threshold(self) -> FacesSettings:
        self.store.remove(f"Faces/threshold/{self.embedder_name}")
        return self.set_threshold(self.default_threshold())

    def set_mode(self, mode: str) -> FacesSettings:
        if mode not in MODES:
            raise ValueError(f"unknown mode '{mode}': use one of {', '.join(MODES)}")
        self.settings = replace(self.settings, mode=mode)
        self.last = None
        return self.settings

    def set_verify_name(self, name: str | None) -> FacesSettings:
        self.settings = replace(self.settings, verify_name=name or None)
        return self.settings

    def set_upsample(self, n: int) -> FacesSettings:
        self.settings = replace(self.settings, upsample=max(0, min(2, int(n))))
        self.store.setValue("Faces/upsample", self.settings.upsample)
        return self.settings

    # -- the task and its models ---------------------------------------------------------
    def make_task(self):
        from engine.features.faces.task import FacesTask

        if self.gallery is None:
            return None
        self.task = FacesTask(embedder=self.embedder_name, detector=self.detector_name, gallery=self.gallery,
                              cache=self.cache, settings=self.settings)
        return self.task

    def models(self):
        """(recogniser, lock) of the live task, loading it here when the worker has not yet."""
        task = self.task if self.task is not None else self.make_task()
        if task is None:
            raise ValueError("the face gallery is not open")
        task.ensure_loaded(self.device)
        return task.recognizer, task.lock

    def enrol_photos_job(self, name: str, paths, add: bool):
        from engine.features.faces.jobs import enrol_from_files

        recognizer, lock = self.models()
        return enrol_from_files(recognizer, name, paths, add, lock)

    def enrol_capture_job(self, name: str, add: bool):
        from engine.features.faces.jobs import enrol_from_chips

        recognizer, lock = self.models()
        return enrol_from_chips(recognizer, name, list(self.capture.chips), add, lock)

    # -- results -------------------------------------------------------------------------
    def on_result(self, data) -> str | None:
        """Keep the latest result; in verify mode return the verdict text to show."""
        self.last = data
        if data.mode != "verify":
            return None
        if not data.faces:
            return "no face in view"
        if data.verify_name is None:
            return "choose a person"
        face = data.faces[0]
        word = "match" if face.verified else "no match"
        return f"{word} — {data.verify_name}? distance {face.distance:.3f}"

    # -- know your threshold -------------------------------------------------------------
    def calibration(self):
        """Calibration of the gallery for the current embedder (CalibrationError if not possible)."""
        from engine.features.faces.calibration import calibrate_gallery
        from engine.features.faces.jobs import reembed_gallery, run_job

        if self.gallery is None:
            raise ValueError("the face gallery is not open")
        if self.gallery.missing_embeddings(self.embedder_name) and not self.gallery.read_only:
            recognizer, lock = self.models()
            run_job(reembed_gallery(self.gallery, recognizer.embedder, lock))
        return calibrate_gallery(self.gallery, self.embedder_name, self.info()["metric"])

    # -- the Siamese view ---------------------------------------------------------------
    def shot_chips(self, name: str) -> list[np.ndarray]:
        return [s.chip for s in self.gallery.shots(name)] if self.gallery is not None else []

    def embed_chips(self, chips) -> np.ndarray:
        recognizer, lock = self.models()
        with lock:
            return recognizer.embedder.embed(list(chips))

    def triplet(self, anchor: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> Triplet:
        """Distances of three vectors (D,) in the current embedder's metric."""
        metric = self.info()["metric"]
        d = distances(np.asarray(anchor, np.float32), np.stack([positive, negative]).astype(np.float32), metric)
        return Triplet(float(d[0]), float(d[1]))

    def live_anchor(self):
        """(chip, vector) of the largest face of the latest result, or None."""
        data = self.last
        if data is None or not data.faces or getattr(data, "vectors", None) is None or not len(data.vectors):
            return None
        return data.chips[0], data.vectors[0]


def fmt_distance(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"
