"""The Style tab's controller without Qt: model choice, settings snapshots, weights by content, jobs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.features.style.controller import ADAIN, PALETTE, StyleController
from engine.features.style.gatys import GatysSettings
from engine.features.style.task import FastStyleTask, PaletteTask
from engine.features.style.transformer_net import random_state
from engine.models.cache import WeightsCache


def _drive(gen):
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def test_choice_snapshots_and_weights_by_content(tmp_path, pictures):
    c = StyleController(WeightsCache(tmp_path / "models"), torch.device("cpu"))
    assert c.live.model == PALETTE and any("only transfers the style's colours" in line for line in c.banner_lines())
    assert isinstance(c.make_live_task()[0], PaletteTask)
    with pytest.raises(ValueError, match="Choose a content photo"):
        c.check_photo("palette")

    path = tmp_path / "downloaded.bin"
    torch.save(random_state(1), path)
    assert c.identify_weights(path) == ["fast-candy", "fast-mosaic", "fast-rain-princess", "fast-udnie"]
    with pytest.raises(ValueError, match="choose which one"):
        c.install_weights(path)
    junk = tmp_path / "junk.pth"
    torch.save({"a": torch.zeros(1)}, junk)
    with pytest.raises(ValueError, match="not a VGG-19, AdaIN or TransformerNet"):
        c.install_weights(junk)
    assert c.install_weights(path, "fast-udnie") == "fast-udnie"
    assert c.live.model == "fast-udnie", "an installed fast style is the default until the user picks"
    task, text = c.make_live_task()
    assert isinstance(task, FastStyleTask) and "licence: BSD-3-Clause" in text

    announced = []
    c.settings_changed.connect(lambda _none: announced.append("settings"))
    c.task_changed.connect(lambda _none: announced.append("task"))
    c.set_styles([(pictures.style(32), "s", None)])
    first = c.live_settings()
    assert c.live_settings().styles is first.styles, "an unchanged blend keeps its identity (no recomputation)"
    c.set_weight(0, 2.0)
    assert c.live_settings().styles is not first.styles and c.live_settings().styles[0].weight == 2.0
    with pytest.raises(ValueError, match="between 160 and 1280"):
        c.set_live(process_side=100)
    assert announced == ["settings", "settings"]  # a new blend, a new weight: new snapshots
    c.set_live(strength=0.3, stabilise=True)
    assert announced[-1] == "settings"
    c.set_live(model=ADAIN)
    assert announced[-1] == "task", "another model rebuilds the task"
    c.set_live(model=ADAIN)
    assert len(announced) == 4, "the same model again changes nothing"
    snap = c.live_settings()
    assert snap.strength == 0.3 and snap.stabilise and c.model_chosen
    assert "AdaIN weights are not installed" in c.make_live_task()[1]


def test_photo_job_is_the_engine_job(tmp_path, pictures):
    from engine.features.style import jobs

    c = StyleController(WeightsCache(tmp_path / "models"), torch.device("cpu"))
    content = pictures.content(48, 64)
    c.set_content(content, "photo")
    c.set_styles([(pictures.style(32), "s", None)])
    settings = GatysSettings(size=64)
    image, info = _drive(c.photo_job("palette", settings))
    prepared = _drive(jobs.prepare("palette", c.styles, settings))
    again, _ = _drive(jobs.stylize_photo(prepared, content, settings))
    assert info["method"] == "palette" and np.array_equal(image, again)
    assert np.abs(image.astype(int) - content.astype(int)).mean() > 3


def test_a_user_style_is_described_in_plain_words(tmp_path):
    from engine.features.style.user_styles import save_user_style

    cache = WeightsCache(tmp_path / "models")
    entry = save_user_style(cache, random_state(2), "My Strokes", {"style": "strokes", "steps": 10})
    c = StyleController(cache, torch.device("cpu"))
    c.set_live(model=entry.name)
    task, text = c.make_live_task()
    assert isinstance(task, FastStyleTask)
    assert text == "My Strokes: fast style network; licence: yours."  # not "(yours (trained in CNN Studio))."
    assert entry.source.startswith("trained in CNN Studio")
