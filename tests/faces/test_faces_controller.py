"""The Faces tab's Qt-free controller: settings snapshots, model choice, jobs, calibration, triplets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.core.store import MemoryStore
from engine.features.faces.calibration import CalibrationError
from engine.features.faces.controller import FacesController
from engine.models.cache import WeightsCache, WeightsMissingError


@pytest.fixture()
def ctl(tmp_path, gallery):
    c = FacesController(MemoryStore(), WeightsCache(tmp_path / "models", bundled=False), torch.device("cpu"))
    c.gallery = gallery
    return c


def test_live_settings_are_one_frozen_snapshot(ctl):
    first = ctl.settings
    assert ctl.embedder_name == "lbp" and ctl.detector_name == "haar" and first.threshold == pytest.approx(0.16)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.threshold = 0.5
    second = ctl.set_threshold(5.0)  # clamped to the slider's range
    assert second is ctl.settings and second is not first and second.threshold == 2.0 and first.threshold == 0.16
    assert ctl.set_mode("verify").mode == "verify" and ctl.set_verify_name("Ann").verify_name == "Ann"
    assert ctl.set_upsample(7).upsample == 2
    with pytest.raises(ValueError, match="unknown mode"):
        ctl.set_mode("dance")
    ctl.set_threshold(0.3, remember=True)
    assert ctl.store.get("Faces/threshold/lbp", 0.0) == 0.3
    assert ctl.reset_threshold().threshold == pytest.approx(0.16) and not ctl.store.contains("Faces/threshold/lbp")


def test_choosing_a_missing_detector_is_a_file_check_not_a_model_build(ctl):
    rebuilds = []
    ctl.task_changed.connect(rebuilds.append)
    with pytest.raises(WeightsMissingError, match="models fetch yunet") as missing:
        ctl.pick_detector("yunet")
    assert missing.value.model == "yunet"  # the GUI names its model manager from it
    assert ctl.detector_name == "haar"
    with pytest.raises(WeightsMissingError, match="models fetch dlib-mmod"):
        ctl.pick_detector("dlib-mmod")
    assert rebuilds == []


def test_jobs_borrow_the_live_tasks_models(ctl, astronaut_variants, tmp_path):
    import cv2

    task = ctl.make_task()
    assert task.settings is ctl.settings
    paths = []
    for name in ("original", "brighter"):
        paths.append(str(tmp_path / f"{name}.png"))
        cv2.imwrite(paths[-1], astronaut_variants[name])
    from engine.features.faces.jobs import JobProgress, run_job

    steps = []
    person = run_job(ctl.enrol_photos_job("Eileen", paths, False), steps.append)
    assert person.shots == 2 and all(isinstance(s, JobProgress) for s in steps) and steps[-1].done == steps[-1].total
    recognizer = task.recognizer
    assert recognizer is not None, "the job loaded the task's own models"
    task.load(torch.device("cpu"))  # the worker's load finds them loaded: nothing is built twice
    assert task.recognizer is recognizer
    with pytest.raises(CalibrationError, match="impostors are needed"):
        ctl.calibration()


def test_triplet_distances_in_the_embedders_metric(ctl):
    t = ctl.triplet(np.array([1.0, 0.0]), np.array([1.0, 0.0]), np.array([0.0, 1.0]))  # lbp: cosine
    assert t.d_ap == pytest.approx(0.0) and t.d_an == pytest.approx(1.0) and t.margin == pytest.approx(1.0)
    assert t.loss(0.2) == 0.0 and ctl.triplet(np.array([0.0, 1.0]), np.array([1.0, 0.0]), np.array([0.0, 1.0])).loss(0.2) == pytest.approx(1.2)


def test_a_gallery_whose_embedder_files_were_removed(tmp_path, gallery, lfw_faces, capsys):
    """Vectors (and the remembered choice) of an embedder whose files are gone: the tab falls
    back to an installed embedder and re-embeds from the thumbnails; the CLI says what to do."""
    import main

    rng = np.random.default_rng(1)
    gallery.enrol("Ann", zip(lfw_faces[:2], rng.normal(size=(2, 128)).astype(np.float32)), "sface")
    gallery.enrol("Bob", zip(lfw_faces[2:4], rng.normal(size=(2, 128)).astype(np.float32)), "sface")
    store = MemoryStore()
    store.set("Faces/embedder", "sface")
    ctl = FacesController(store, WeightsCache(tmp_path / "models", bundled=False), torch.device("cpu"))
    ctl.gallery = gallery
    assert ctl.embedder_name == "lbp"  # sface is not installed any more
    cal = ctl.calibration()  # re-embeds every shot with lbp from its thumbnail first
    assert len(cal.genuine) == 2 and len(cal.impostor) == 4 and "lbp" in gallery.embedders()
    import cv2

    photo = str(tmp_path / "x.png")
    cv2.imwrite(photo, lfw_faces[0])
    code = main.main(["faces", "identify", photo, "--embedder", "sface", "--gallery", str(gallery.path)])
    err = capsys.readouterr().err
    assert code != 0 and err.count("error:") == 1 and "models fetch sface" in err
