"""The Feature maps controller without Qt: commands, snapshots, fallback after bad weights."""

from __future__ import annotations

import pytest
import torch

from engine.features.inspect.controller import InspectController
from engine.models.cache import WeightsCache
from engine.runtime.sync import run_task


def _frame(task, make_frame):
    return next(run_task(task, [make_frame()], device="cpu", load=False)).result


def test_commands_replace_the_snapshot_and_tell_the_view(tmp_path):
    c = InspectController(WeightsCache(tmp_path), model="lenet5", weights="untrained")
    calls = []
    c.settings_changed.connect(lambda _none: calls.append("settings"))
    c.task_changed.connect(lambda _none: calls.append("task"))
    first = c.settings
    c.set_mode("gradcam")
    c.set_target_class("7")
    assert c.settings.mode == "gradcam" and c.settings.target_class == 7 and first.mode == "activations"  # snapshots are never mutated
    with pytest.raises(ValueError, match="unknown class 'eleven'"):
        c.set_target_class("eleven")
    assert c.settings.target_class == 7
    c.set_target_class("Top prediction")
    assert c.settings.target_class is None
    assert calls == ["settings"] * 3
    with pytest.raises(ValueError, match="not in the zoo"):
        c.set_model("resnet19")
    c.set_model("resnet18")
    assert calls[-1] == "task" and c.settings.layer is None and c.weights_choice == "untrained"
    c.set_target_class("goldfish")
    assert c.settings.target_class == 1


def test_bad_weights_file_falls_back_and_the_choice_reverts(tmp_path, make_frame):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00" * 64)
    c = InspectController(WeightsCache(tmp_path / "cache"), model="lenet5", weights="untrained")
    task = c.make_task()
    task.load(torch.device("cpu"))
    c.on_result(_frame(task, make_frame))
    assert c.settings.layer  # the task's default layer was adopted
    c.set_weights_file(bad)
    task = c.make_task()
    assert task.fallback == (None, True)
    task.load(torch.device("cpu"))
    notices = []
    c.notice_changed.connect(notices.append)
    c.on_result(_frame(task, make_frame))
    assert notices == [c.notice]
    assert "bad.pth could not be loaded" in c.notice and c.weights_choice == "untrained" and c.weights_file is None
