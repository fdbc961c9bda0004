"""Benchmark of the live pipeline as the GUI runs it: demo source -> worker -> Qt view.

Runs the real ``gui.live.bridge.LivePipeline`` (capture thread, latest-frame mailboxes,
InferenceWorker, queued Qt delivery) with a task of adjustable cost, while an offscreen
QApplication paints every delivered frame in a real ``VideoView`` and a precise QTimer
measures how late the event loop services it (event-loop latency).

    python bench/pipeline.py --cost-ms 40 --seconds 60

Prints capture FPS, processed FPS, dropped frames, end-to-end latency (capture -> result,
median and p95, overall / first 10 s / last 10 s and their ratio) and event-loop latency
(p50 / p99). Targets: p95(last 10 s) within 10 % of p95(first 10 s); event-loop p99 < 30 ms.

The latency is split into the wait before the worker took the frame (the only part a
queue could make grow; the mailbox bounds it by one frame period plus one inference) and
the compute time (which grows only if the CPU gets slower, e.g. other busy processes).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

# Run from anywhere: the engine and gui packages live in the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from engine.runtime.threads import prepare_process, threads_argument

# The fake model must use exactly one core, as the targets assume: the live worker sizes its
# threads itself (engine.runtime.threads), so the count is pinned the way a user would pin it.
os.environ.setdefault("CNN_STUDIO_THREADS", threads_argument() or "1")
prepare_process("bench", threads_argument())  # before torch loads: OpenMP waiting, thread count

import numpy as np  # noqa: E402
import torch  # noqa: E402

from engine.core.frame import Frame
from engine.runtime.worker import Task

TIMER_INTERVAL_MS = 10


class BusyTask(Task):
    """Costs about ``cost_ms`` of one CPU core per frame: a calibrated matmul loop."""

    name = "busy"

    def __init__(self, cost_ms: float, size: int = 192) -> None:
        self.cost_ms = cost_ms
        self.size = size
        self.repeats = 1

    def load(self, device: torch.device) -> None:
        self.a = torch.randn(self.size, self.size, device=device)
        self.b = torch.randn(self.size, self.size, device=device)
        self._step(5)  # warm up before timing
        # Calibrate on this thread's CPU time, so other busy processes do not skew it.
        trials = 0
        start = time.thread_time()
        while time.thread_time() - start < 0.3:
            self._step(10)
            trials += 10
        per_step_ms = (time.thread_time() - start) * 1000.0 / trials
        self.repeats = max(1, round(self.cost_ms / max(per_step_ms, 1e-3)))

    def _step(self, repeats: int) -> torch.Tensor:
        # Scaled by 1/sqrt(size) the values keep their magnitude from step to step: a
        # smaller factor shrinks them into denormal floats, whose arithmetic is several
        # times slower, so a long run cost 7x what the short calibration measured.
        acc, scale = self.a, 1.0 / math.sqrt(self.size)
        for _ in range(repeats):
            acc = torch.tanh(acc @ self.b * scale)
        return acc

    def preprocess(self, frame: Frame) -> torch.Tensor:
        # Touch the pixels the way a real model would (resize + normalise a thumbnail).
        thumb = frame.image[:: 8, :: 8]
        return torch.from_numpy(np.ascontiguousarray(thumb)).float().div_(255.0)

    def infer(self, inputs: torch.Tensor) -> float:
        return float(self._step(self.repeats).mean()) + float(inputs.mean())

    def postprocess(self, outputs: float, frame: Frame) -> float:
        return outputs


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


def window_stats(samples: list[tuple[float, float]], start: float, end: float) -> tuple[float, float, int]:
    """(median, p95, count) of latencies whose arrival time t satisfies start <= t < end."""
    chosen = [lat for t, lat in samples if start <= t < end]
    return percentile(chosen, 50), percentile(chosen, 95), len(chosen)


def run(cost_ms: float, seconds: float, width: int, height: int, fps: float, mode: str = "synced") -> dict[str, float]:
    from PySide6.QtCore import QElapsedTimer, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from engine.io.demo import DemoSource
    from gui.common.video_view import VideoView
    from gui.live.bridge import LivePipeline
    from gui.live.presenter import FramePresenter

    torch.set_num_threads(1)  # the worker saturates exactly one core, as the targets assume
    app = QApplication.instance() or QApplication([])
    view = VideoView()
    view.resize(960, 540)
    view.show()

    pipeline = LivePipeline(torch.device("cpu"))
    presenter = FramePresenter(mode)  # what the main window uses to pick the picture
    results: list[tuple[float, float]] = []  # (arrival since start s, latency ms capture -> result)
    waits: list[tuple[float, float]] = []  # (arrival, ms the frame waited before the worker took it)
    computes: list[tuple[float, float]] = []  # (arrival, ms of preprocess + inference + postprocess)
    shown: list[tuple[float, float]] = []  # (arrival, ms capture -> frame handed to the view)
    lateness: list[float] = []
    t0 = time.monotonic()

    def show(decision) -> None:
        if decision is None:
            return
        now = time.monotonic()
        view.show_image(decision.frame.image, decision.frame.index, overlay=decision.result is not None)
        shown.append((now - t0, (now - decision.frame.timestamp) * 1000.0))

    def on_frame(frame: Frame) -> None:
        show(presenter.frame(frame))

    def on_result(result) -> None:
        arrival = time.monotonic() - t0
        results.append((arrival, result.timings.latency_ms))
        waits.append((arrival, result.timings.capture_age_ms))
        computes.append((arrival, result.timings.total_ms))
        show(presenter.result(result))

    pipeline.frame_ready.connect(on_frame)
    pipeline.result_ready.connect(on_result)

    clock = QElapsedTimer()
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TIMER_INTERVAL_MS)
    last = {"t": 0}

    def tick() -> None:
        now = clock.nsecsElapsed()
        if last["t"]:
            lateness.append(max(0.0, (now - last["t"]) / 1e6 - TIMER_INTERVAL_MS))
        last["t"] = now

    timer.timeout.connect(tick)

    # The demo at the requested size, started through the same path the GUI uses.
    task = BusyTask(cost_ms)
    pipeline.set_task(task)
    presenter.task_changed(True)
    source = pipeline.attach(DemoSource(width=width, height=height, fps=fps))
    clock.start()
    timer.start()
    QTimer.singleShot(int(seconds * 1000), app.quit)
    app.exec()
    timer.stop()
    elapsed = time.monotonic() - t0
    dropped = pipeline.worker_dropped()
    captured = source.frames_delivered
    pipeline.shutdown()

    first_end = min(10.0, seconds / 2)
    last_start = max(seconds - 10.0, seconds / 2)
    overall_med, overall_p95, processed = window_stats(results, 0.0, float("inf"))
    first_med, first_p95, _ = window_stats(results, 0.0, first_end)
    last_med, last_p95, _ = window_stats(results, last_start, float("inf"))
    wait_first = window_stats(waits, 0.0, first_end)
    wait_last = window_stats(waits, last_start, float("inf"))
    compute_first = window_stats(computes, 0.0, first_end)
    compute_last = window_stats(computes, last_start, float("inf"))
    return {
        "wait_first_med": wait_first[0], "wait_first_p95": wait_first[1],
        "wait_last_med": wait_last[0], "wait_last_p95": wait_last[1],
        "compute_first_med": compute_first[0], "compute_first_p95": compute_first[1],
        "compute_last_med": compute_last[0], "compute_last_p95": compute_last[1],
        "seconds": elapsed,
        "cost_ms": cost_ms,
        "repeats": task.repeats,
        "capture_fps": captured / elapsed,
        "processed_fps": processed / elapsed,
        "shown_fps": len(shown) / elapsed,
        "dropped": float(dropped),
        "captured": float(captured),
        "processed": float(processed),
        "lat_med": overall_med, "lat_p95": overall_p95,
        "first_med": first_med, "first_p95": first_p95,
        "last_med": last_med, "last_p95": last_p95,
        "ratio_p95": last_p95 / first_p95 if first_p95 else float("nan"),
        "display_med": percentile([d for _, d in shown], 50),
        "display_p95": percentile([d for _, d in shown], 95),
        "loop_p50": percentile(lateness, 50), "loop_p99": percentile(lateness, 99),
        "loop_max": max(lateness) if lateness else float("nan"),
        "painted": float(view.frames_painted),
        "mode": mode,
    }


def report(r: dict[str, float]) -> str:
    ok_growth = abs(r["ratio_p95"] - 1.0) <= 0.10
    ok_loop = r["loop_p99"] < 30.0
    return "\n".join([
        f"pipeline benchmark ({r['mode']} view): demo source -> worker ({r['cost_ms']:.0f} ms/frame, "
        f"{r['repeats']:.0f} matmuls) -> Qt view, {r['seconds']:.1f} s",
        f"  capture FPS           {r['capture_fps']:6.1f}   ({r['captured']:.0f} frames)",
        f"  processed FPS         {r['processed_fps']:6.1f}   ({r['processed']:.0f} results)",
        f"  shown FPS             {r['shown_fps']:6.1f}   ({r['painted']:.0f} paints)",
        f"  dropped by worker     {r['dropped']:6.0f}   (latest-frame-wins: stale frames skipped)",
        "  latency capture->result, ms     median      p95",
        f"    overall                      {r['lat_med']:8.1f} {r['lat_p95']:8.1f}",
        f"    first 10 s                   {r['first_med']:8.1f} {r['first_p95']:8.1f}",
        f"    last 10 s                    {r['last_med']:8.1f} {r['last_p95']:8.1f}",
        f"    ratio last/first p95         {r['ratio_p95']:8.3f}   target within 10 %: {'PASS' if ok_growth else 'FAIL'}",
        "  of which, ms                     median      p95",
        f"    wait for worker, first 10 s  {r['wait_first_med']:8.1f} {r['wait_first_p95']:8.1f}",
        f"    wait for worker, last 10 s   {r['wait_last_med']:8.1f} {r['wait_last_p95']:8.1f}",
        f"    compute, first 10 s          {r['compute_first_med']:8.1f} {r['compute_first_p95']:8.1f}",
        f"    compute, last 10 s           {r['compute_last_med']:8.1f} {r['compute_last_p95']:8.1f}",
        f"  latency capture->view, ms      {r['display_med']:8.1f} {r['display_p95']:8.1f}",
        f"  event-loop lateness, ms   p50 {r['loop_p50']:6.2f}   p99 {r['loop_p99']:6.2f}   max {r['loop_max']:6.1f}"
        f"   target p99 < 30 ms: {'PASS' if ok_loop else 'FAIL'}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cost-ms", type=float, default=40.0, help="CPU time per frame of the fake model (default 40)")
    parser.add_argument("--seconds", type=float, default=60.0, help="run length (default 60)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=float, default=30.0, help="demo source frame rate (default 30)")
    parser.add_argument("--view-mode", choices=("synced", "live", "both"), default="both",
                        help="what the view shows: each result on its own frame, the newest frame, or both runs")
    args = parser.parse_args(argv)
    if args.seconds < 2 or args.cost_ms < 0:
        print("error: --seconds must be >= 2 and --cost-ms >= 0", file=sys.stderr)
        return 2
    modes = ("synced", "live") if args.view_mode == "both" else (args.view_mode,)
    for mode in modes:
        print(report(run(args.cost_ms, args.seconds, args.width, args.height, args.fps, mode)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
