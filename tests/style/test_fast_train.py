"""Training a fast style: the loss falls, cancelling writes nothing, a trained model round-trips."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
import torch

from engine.features.style import models
from engine.features.style.fast_train import TrainingCancelled, TrainingError, TrainSettings, list_images, train, train_job
from engine.features.style.transformer_net import read_state
from engine.features.style.user_styles import install_user_style, save_user_style, user_style_entries
from engine.features.style.vgg16 import random_state as random_vgg16
from engine.models.cache import WeightsCache

SMALL = TrainSettings(steps=6, size=32, batch=1, lr=1e-2, preview_every=3, seed=0)


@pytest.fixture(scope="module")
def vgg16_state():
    return random_vgg16(0)


@pytest.fixture
def photos(tmp_path, pictures):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(folder / f"p{i}.png"), pictures.content(40 + 8 * i, 56))
    cv2.imwrite(str(folder / "sub" / "p3.jpg"), pictures.content(48, 48))
    (folder / "notes.txt").write_text("not an image")
    return folder


def _run(gen):
    reports = []
    while True:
        try:
            reports.append(next(gen))
        except StopIteration as stop:
            return reports, stop.value


def test_training_lowers_the_perceptual_loss(photos, pictures, vgg16_state):
    settings = TrainSettings(steps=14, size=32, batch=1, lr=1e-2, preview_every=7)
    # one content image, so the loss is measured on the same crop each step
    reports, result = _run(train(pictures.style(48), list_images(photos)[:1], settings, vgg16_state))
    assert reports[0].step == 0 and "about" in reports[0].message and reports[0].eta_s > 0
    totals = [r.losses["total"] for r in reports[1:]]
    assert len(totals) == 14
    assert np.mean(totals[-3:]) < 0.8 * totals[0], totals
    assert any(r.preview is not None and r.preview.shape == (32, 32, 3) for r in reports)
    assert set(result.state) == set(read_state_keys())


def read_state_keys():
    from engine.features.style.transformer_net import expected_shapes

    return expected_shapes().keys()


def test_trained_model_round_trips_through_save_catalog_and_import(tmp_path, photos, pictures, vgg16_state):
    out = tmp_path / "out" / "mystyle.pth"
    _, (path, result) = _run(train_job(pictures.style(48), photos, out, SMALL, vgg16_state, style_name="strokes"))
    assert path == out and out.is_file() and out.with_suffix(".json").is_file()
    frame = pictures.content(48, 64)
    from engine.features.style.fast_style import FastStylizer

    direct = FastStylizer(result.state).stylize(frame, 64)
    cache = WeightsCache(tmp_path / "models")
    # save as the user's catalog model ...
    entry = save_user_style(cache, result.state, "My Strokes", {"style": "strokes", "steps": SMALL.steps})
    assert entry.name == "my-strokes"
    assert [e.name for e in user_style_entries(cache)] == [entry.name]
    assert entry.name in [e.name for e in models.fast_entries(cache)]
    via_catalog = models.fast_model(entry.name, "cpu", cache)
    assert np.array_equal(via_catalog.stylize(frame, 64), direct)
    # ... and import the CLI's file as another user style
    imported = install_user_style(cache, out, "Imported strokes")
    assert np.array_equal(models.fast_model(imported.name, "cpu", cache).stylize(frame, 64), direct)
    assert np.array_equal(models.fast_model(str(out), "cpu").stylize(frame, 64), direct)
    for name, tensor in read_state(cache.require(imported)).items():
        assert torch.equal(tensor, result.state[name])
    with pytest.raises(ValueError, match="exists already"):
        install_user_style(cache, out, "Imported strokes")


def test_content_folder_without_images_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(TrainingError, match="empty.*holds no images"):
        list_images(tmp_path / "empty")
    with pytest.raises(TrainingError, match="not a folder"):
        list_images(tmp_path / "missing")


def test_cancelled_mid_step_leaves_no_model_file(tmp_path, photos, pictures, vgg16_state):
    out = tmp_path / "cancelled.pth"
    cancel = threading.Event()
    gen = train_job(pictures.style(48), photos, out, SMALL, vgg16_state, cancel=cancel)
    next(gen)  # the estimate
    next(gen)  # step 1
    cancel.set()  # noticed inside step 2, after its forward pass
    with pytest.raises(TrainingCancelled):
        next(gen)
    assert not out.exists()
    assert list(tmp_path.glob("*.part")) == [] and list(tmp_path.glob(".*part")) == []
    # closing the generator (the GUI's cancel) writes nothing either
    gen = train_job(pictures.style(48), photos, out, SMALL, vgg16_state)
    for _ in range(SMALL.steps):  # up to the last step's report, just before the save
        next(gen)
    gen.close()
    assert not out.exists() and list(tmp_path.iterdir()) == [photos]
