"""The live Faces task on real frames, directly and through the real inference worker."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
import torch

from engine.core.frame import Frame
from engine.features.faces.detectors import HaarDetector
from engine.features.faces.embedders import LBPEmbedder
from engine.features.faces.recognizer import FaceRecognizer
from engine.features.faces.task import FacesSettings, FacesTask
from engine.features.faces.types import UNKNOWN
from engine.runtime.sync import run_task
from engine.runtime.worker import InferenceWorker


def _frame(image, i=0):
    return Frame(image=image, index=i, timestamp=time.monotonic(), source="test")


def _run(task, image, i=0):
    return next(run_task(task, [_frame(image, i)], device="cpu", load=False)).result


@pytest.fixture()
def enrolled(gallery, astronaut_variants):
    rec = FaceRecognizer(HaarDetector(), LBPEmbedder(), gallery)
    rec.enrol("Eileen", [(n, astronaut_variants[n]) for n in ("original", "brighter")])
    return gallery


def test_recognise_verify_and_enrol_modes(enrolled, astronaut_variants, coins):
    task = FacesTask(embedder="lbp", gallery=enrolled)
    task.load(torch.device("cpu"))
    assert task.threshold == LBPEmbedder.default_threshold
    result = _run(task, astronaut_variants["noisy"])
    (face,) = result.faces
    assert face.label == "Eileen" and face.distance <= task.threshold and result.embedder == "lbp"
    assert {f.label for f in _run(task, coins).faces} == {UNKNOWN}

    default = task.settings
    task.configure(replace(default, threshold=0.0))  # the slider at zero: nobody is close enough
    assert _run(task, astronaut_variants["darker"]).faces[0].match.name == UNKNOWN
    task.configure(default)

    task.configure(FacesSettings(threshold=default.threshold, mode="verify", verify_name="Eileen"))
    result = _run(task, astronaut_variants["smaller"])
    assert result.faces[0].verified is True and result.faces[0].label == "match"
    for face in _run(task, coins).faces:
        assert face.verified is False

    task.configure(FacesSettings(mode="enrol"))
    good = _run(task, astronaut_variants["original"])
    assert good.candidate.chip is not None and good.candidate.verdict.ok
    several = _run(task, coins)
    assert not several.candidate.verdict.ok and "2 faces" in several.candidate.verdict.reason
    task.close()


def test_the_task_sees_people_enrolled_after_it_started(gallery, astronaut_variants):
    task = FacesTask(embedder="lbp", gallery=gallery)
    task.load(torch.device("cpu"))
    assert _run(task, astronaut_variants["noisy"]).faces[0].match.name == UNKNOWN
    FaceRecognizer(HaarDetector(), LBPEmbedder(), gallery).enrol("Eileen", [("o", astronaut_variants["original"])])
    assert _run(task, astronaut_variants["noisy"], 1).faces[0].match.name == "Eileen"
    gallery.remove("Eileen")
    assert _run(task, astronaut_variants["noisy"], 2).faces[0].match.name == UNKNOWN


def test_runs_in_the_inference_worker(enrolled, astronaut_variants):
    results, events = [], []
    done = threading.Event()

    def on_result(r):
        results.append(r)
        done.set()

    worker = InferenceWorker(on_result, events.append, device=torch.device("cpu"))
    worker.start()
    try:
        worker.set_task(FacesTask(embedder="lbp", gallery=str(enrolled.path)))
        worker.submit(_frame(astronaut_variants["flipped"]))
        assert done.wait(60), [e.message for e in events]
    finally:
        worker.stop()
    assert results[0].result.faces[0].label == "Eileen"
    assert not [e for e in events if e.kind in ("load_error", "frame_error")]
