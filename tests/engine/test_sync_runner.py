"""The synchronous runner: the worker's per-frame step on the caller's thread.

The same frames through the live worker and through ``run_task`` give the same results
(the Detect task with random YOLO weights); a failing frame is reported with the
worker's own event, or raised; settings, gradients, loading and closing as the worker does.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from engine.core.frame import Frame
from engine.features.detect.backends.darknet.detector import YoloDetector
from engine.features.detect.backends.darknet.random_weights import synthetic_image, write_random_weights
from engine.features.detect.names import bundled_path
from engine.features.detect.task import DetectionTask, DetectSettings
from engine.runtime.sync import run_task
from engine.runtime.worker import InferenceWorker, Task, TaskResult, WorkerEvent
from tests.engine.worker_collector import Collector


@pytest.fixture(scope="module")
def yolo_files(tmp_path_factory):
    cfg = bundled_path("yolov4-tiny.cfg")
    weights = tmp_path_factory.mktemp("yolo") / "yolov4-tiny.weights"
    write_random_weights(cfg, weights, seed=0)
    return cfg, weights


def _frames() -> list[Frame]:
    photo = np.ascontiguousarray(cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    images = [photo, synthetic_image(480, 640, seed=3), synthetic_image(240, 320, seed=4)]
    return [Frame(image, i, time.monotonic(), f"frame{i}") for i, image in enumerate(images)]


def _detect_task(yolo_files, settings: DetectSettings) -> DetectionTask:
    cfg, weights = yolo_files
    return DetectionTask(lambda device: YoloDetector.from_files(cfg, weights, device=device, input_size=(320, 256)),
                         settings=settings)


def _through_worker(task: Task, frames: list[Frame]) -> Collector:
    """Each frame submitted after the previous one's result or error (the worker keeps only the newest)."""
    c = Collector()
    worker = InferenceWorker(c.on_result, c.on_event, device="cpu")
    worker.start()
    try:
        worker.set_task(task)
        for frame in frames:
            worker.submit(frame)
            assert c.wait(lambda c, i=frame.index: any(r.frame.index == i for r in c.results)
                          or any(e.kind == "frame_error" and f"frame {i}:" in e.message for e in c.events))
    finally:
        worker.stop()
    return c


def test_the_worker_and_run_task_give_identical_detections(yolo_files):
    frames = _frames()
    settings = DetectSettings(conf_threshold=0.2, iou_threshold=0.5)
    live = _through_worker(_detect_task(yolo_files, settings), frames)
    ran = list(run_task(_detect_task(yolo_files, settings), frames, device="cpu"))
    assert [r.frame.index for r in ran] == [r.frame.index for r in live.results] == [0, 1, 2]
    assert sum(len(r.result) for r in ran) > 3  # random weights that find something
    for got, want in zip(ran, live.results):
        assert got.frame is want.frame
        assert (got.task, got.generation, got.settings) == (want.task, want.generation, want.settings)
        np.testing.assert_array_equal(got.result.boxes, want.result.boxes)
        np.testing.assert_array_equal(got.result.scores, want.result.scores)
        np.testing.assert_array_equal(got.result.class_ids, want.result.class_ids)
        t = got.timings
        assert t.total_ms >= t.inference_ms >= 0 and t.latency_ms >= t.total_ms and t.capture_age_ms >= 0


class FailingTask(Task):
    """Doubles the mean brightness; raises on chosen frames; records its life cycle."""

    name = "failing"

    def __init__(self, fail_on: set[int]) -> None:
        self.fail_on = fail_on
        self.loaded_on: torch.device | None = None
        self.closed = False
        self.grad: list[bool] = []

    def load(self, device: torch.device) -> None:
        self.loaded_on = device

    def preprocess(self, frame: Frame) -> torch.Tensor:
        if frame.index in self.fail_on:
            raise ValueError(f"cannot read frame {frame.index}")
        return torch.from_numpy(frame.image).float()

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        self.grad.append(torch.is_grad_enabled())
        return x.mean() * (2.0 if self.settings is None else self.settings)

    def postprocess(self, y: torch.Tensor, frame: Frame) -> float:
        return float(y)

    def close(self) -> None:
        self.closed = True


def _small_frames(n: int) -> list[Frame]:
    return [Frame(np.full((4, 4, 3), 10 * i, np.uint8), i, time.monotonic(), "test") for i in range(n)]


def test_a_failing_frame_is_reported_with_the_workers_event_and_the_run_goes_on():
    frames = _small_frames(3)
    live = _through_worker(FailingTask({1}), frames)
    events: list[WorkerEvent] = []
    seen: list[TaskResult] = []
    task = FailingTask({1})
    ran = list(run_task(task, frames, device="cpu", on_error=events.append, on_result=seen.append))
    assert [r.result for r in ran] == [r.result for r in live.results] == [0.0, 40.0]
    assert seen == ran
    worker_errors = [e for e in live.events if e.kind == "frame_error"]
    assert len(events) == len(worker_errors) == 1
    got, want = events[0], worker_errors[0]
    assert (got.kind, got.task, got.message, got.generation) == (want.kind, want.task, want.message, want.generation)
    assert got.message == "failing failed on frame 1: ValueError: cannot read frame 1"
    assert isinstance(got.error, ValueError) and type(got.error) is type(want.error)
    assert task.closed


def test_without_on_error_the_tasks_own_exception_propagates_and_the_task_is_closed():
    task = FailingTask({1})
    results = []
    with pytest.raises(ValueError, match="cannot read frame 1") as caught:
        for result in run_task(task, _small_frames(3), device="cpu"):
            results.append(result.result)
    assert results == [0.0]
    assert "failing failed on frame 1: ValueError: cannot read frame 1" in caught.value.__notes__
    assert task.closed


def test_errors_of_the_frames_themselves_are_not_frame_errors():
    def frames():
        yield from _small_frames(1)
        raise OSError("the video ended early")

    events: list[WorkerEvent] = []
    task = FailingTask(set())
    with pytest.raises(OSError, match="ended early"):
        list(run_task(task, frames(), device="cpu", on_error=events.append))
    assert events == [] and task.closed


def test_settings_gradients_and_loading():
    class GradTask(FailingTask):
        needs_grad = True

    task = FailingTask(set())
    frames = _small_frames(2)
    runner = run_task(task, frames, device="cpu", settings=3.0)
    assert task.loaded_on is None  # lazy: nothing happens before the first frame is asked for
    results = list(runner)
    assert task.loaded_on == torch.device("cpu") and task.grad == [False, False]
    assert [r.result for r in results] == [0.0, 30.0] and all(r.settings == 3.0 for r in results)
    assert all(r.generation == 1 for r in results)

    grad = GradTask(set())
    list(run_task(grad, frames, device="cpu"))
    assert grad.grad == [True, True]

    loaded = FailingTask(set())
    loaded.load(torch.device("cpu"))
    loaded.loaded_on = None
    assert next(run_task(loaded, frames[1:], device="cpu", load=False)).result == 20.0
    assert loaded.loaded_on is None and not loaded.closed  # the caller owns a task it loaded itself
