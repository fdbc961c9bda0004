"""Live settings are one snapshot per frame: flipping them from another thread never mixes two."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest
import torch

from engine.features.inspect.task import InspectSettings, InspectTask
from engine.runtime.worker import running_worker


class RecordingTask(InspectTask):
    """Records which snapshot each step of a frame saw, and whether gradients were on."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.steps: dict[int, list] = {}

    def preprocess(self, frame):
        self.steps[frame.index] = [("preprocess", self.settings, torch.is_grad_enabled())]
        return super().preprocess(frame)

    def infer(self, inputs):
        out = super().infer(inputs)
        index = max(self.steps)
        self.steps[index].append(("infer", self.settings, torch.is_grad_enabled()))
        return out

    def postprocess(self, outputs, frame):
        self.steps[frame.index].append(("postprocess", self.settings, torch.is_grad_enabled()))
        return super().postprocess(outputs, frame)


LAYERS = ["features.0", "features.3", "features.4", "classifier.1"]
MODES = ["activations", "gradient", "gradcam", "smoothgrad"]


def test_settings_flipped_from_another_thread_for_two_seconds_never_mix(make_frame):
    task = RecordingTask("lenet5", untrained=True, settings=InspectSettings(layer="features.0", channels=4, smoothgrad_samples=2))
    results, events = [], []
    done = threading.Event()
    with running_worker(results.append, task, device="cpu", on_event=events.append) as worker:
        assert task.loaded.wait(30)

        def flip():
            rng = random.Random(1)
            while not done.is_set():
                worker.update(InspectSettings(layer=rng.choice(LAYERS), mode=rng.choice(MODES), channels=rng.randint(1, 6),
                                              target_class=rng.choice([None, 3, 7]), smoothgrad_samples=2))
                time.sleep(0.0005)  # still hundreds of flips per frame, without starving the worker of the GIL

        flipper = threading.Thread(target=flip)
        flipper.start()
        end = time.monotonic() + 2.0
        index = 0
        while time.monotonic() < end:
            worker.submit(make_frame(index=index))
            index += 1
            time.sleep(0.002)
        done.set()
        flipper.join()
    assert len(results) >= 5, f"only {len(results)} frames in 2 s"
    seen = set()
    for r in results:
        s, out = r.settings, r.result
        steps = task.steps[r.frame.index]
        # Every step of this frame read the very snapshot the worker recorded for it...
        assert [name for name, _, _ in steps] == ["preprocess", "infer", "postprocess"]
        assert all(snap is s for _, snap, _ in steps) and out.settings is s
        # ...and the grad mode the worker chose came from that same snapshot.
        assert all(grad == s.needs_grad for _, _, grad in steps)
        # What was computed matches it: layer hooked, mode run, channel count, class explained.
        assert out.layer == s.layer and out.mode == s.mode
        assert len(out.channels.channels) == min(s.channels, out.channels.shape[0])
        expected_shape = {"features.0": (6, 28, 28), "features.3": (16, 10, 10), "features.4": (16, 10, 10), "classifier.1": (120, 1, 1)}[s.layer]
        assert out.channels.shape == expected_shape
        if s.mode != "activations" and s.target_class is not None:
            assert out.saliency_class.index == s.target_class
        seen.add((s.layer, s.mode))
    assert len(seen) >= 3  # the flips really reached the frames
    assert not [e for e in events if e.kind in ("frame_error", "settings_error")]


def test_a_bad_layer_keeps_the_old_settings_and_says_so(make_frame):
    task = InspectTask("lenet5", untrained=True, settings=InspectSettings(layer="features.3"))
    results, events = [], []
    got = threading.Event()
    with running_worker(lambda r: (results.append(r), got.set()), task, device="cpu", on_event=events.append) as worker:
        assert task.loaded.wait(30)
        worker.update(InspectSettings(layer="features.77"))
        worker.submit(make_frame(index=1))
        assert got.wait(30)
    errors = [e.message for e in events if e.kind == "settings_error"]
    assert errors and "features.77" in errors[0] and "features.0" in errors[0]
    assert results[0].result.layer == "features.3" and results[0].settings.layer == "features.3"
