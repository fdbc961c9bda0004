#!/usr/bin/env python3
"""The live app as users run it: inference rate inside the real main window vs standalone.

Runs the real ``MainWindow`` (offscreen Qt) with one tab's real task on a source, for
``--seconds``, and prints the in-app inference fps, the capture-to-result latency, the
GUI thread's share of one core, then the *standalone* fps of the very same task (its
preprocess / infer / postprocess in a plain loop on the same frames, no GUI) measured in
the same run, and their ratio. ``--busy`` adds one competing busy process (a browser tab
on a laptop) for the whole run.

    python bench/gui_live.py --scenario detect            # 9 rounds of 5 s + 5 s
    python bench/gui_live.py --scenario features --busy
    python bench/gui_live.py --scenario all
    python bench/gui_live.py --scenario detect --overlay heatmap   # tracking + heat map on
    python bench/gui_live.py --scenario detect --overlay grid      # the grid view, a box selected

In-app and standalone phases alternate ``--repeats`` times (the machine's speed drifts;
alternating puts the drift into the spread of the per-round ratios, which are printed,
instead of into the median). On the shared 2-core reference machine single rounds spread
by about ±15 %, so the default is many short rounds (9 x 5 s): two runs of the same code
gave medians of 0.93 and 0.93 with 9-11 rounds, and 0.85 and 0.94 with 5 rounds of 8 s. Beside the rates it prints each thread's CPU in the in-app
phase as a share of one core (GUI, capture, the inference thread itself; "process"
includes the intra-op threads) and the whole process's in the standalone phase ("alone").

Scenarios: detect (yolov4-tiny 416, random weights written in the Darknet format: speed
does not depend on the weight values), features (ResNet-18 layer2 activations,
untrained), faces-lbp and faces-facenet (a face photo as the source; FaceNet with random
weights in the published checkpoint layout), each with the Haar detector; faces-dlib (the
default pipeline: dlib's MMOD detector, 5-point landmarks and ResNet, from the bundled
public-domain models).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("CNN_STUDIO_HOME", tempfile.mkdtemp(prefix="cnn-studio-gui-live-"))
os.environ.setdefault("CNN_STUDIO_DEVICE", "cpu")

from engine.runtime.threads import THREADS_ENV, prepare_process, threads_argument

# Exactly what main.py does for the GUI, before torch loads: the run is the app's.
prepare_process("gui", threads_argument())
if threads_argument():
    os.environ[THREADS_ENV] = str(threads_argument())


def thread_cpu_seconds(native_id: int) -> float:
    """CPU seconds (user + system) used so far by thread ``native_id`` of this process (Linux)."""
    with open(f"/proc/self/task/{native_id}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def face_photo(folder: Path) -> str:
    import cv2
    from skimage import data

    path = folder / "face.png"
    cv2.imwrite(str(path), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    return str(path)


# -- scenarios: put the real tab in the state a user would -------------------------------
def prepare_detect(window, workdir: Path) -> str:
    from engine.features.detect.backends.darknet.random_weights import write_random_weights
    from engine.features.detect.names import bundled_path
    from engine.models.catalog import catalog

    entry = catalog().get("yolov4-tiny")
    cache = window.context.weights_cache
    if not cache.is_installed(entry):
        generated = workdir / entry.files[0].filename
        write_random_weights(bundled_path("yolov4-tiny.cfg"), generated, seed=0)
        cache.import_file(entry, generated)
    return "Detect"


def prepare_features(window, workdir: Path) -> str:
    tab = next(t for t in window.tabs if t.title == "Feature maps")
    tab.controller.set_model("resnet18")
    tab.choose_layer("layer2")
    return "Feature maps"


def _pick(combo, name: str) -> None:
    index = combo.findData(name)
    if index < 0:
        raise SystemExit(f"error: the Faces tab offers no '{name}'")
    combo.setCurrentIndex(index)


def prepare_faces(embedder: str, detector: str = "haar"):
    """The Faces tab with ``embedder`` and ``detector`` picked in its own combo boxes."""
    def prepare(window, workdir: Path) -> str:
        tab = next(t for t in window.tabs if t.title == "Faces")
        if embedder.startswith("facenet"):
            import torch

            from engine.features.faces.inception_resnet_v1 import InceptionResnetV1
            from engine.models.catalog import catalog

            entry = catalog().get(embedder)
            generated = workdir / entry.files[0].filename
            torch.manual_seed(0)
            torch.save(InceptionResnetV1().state_dict(), generated)  # the published checkpoint layout
            window.context.weights_cache.import_file(entry, generated)
        window.tab_widget.setCurrentIndex(window.tabs.index(tab))
        window.models_changed()  # as after an install in the app: the pickers offer the new weights
        _pick(tab.embedder_combo, embedder)
        _pick(tab.detector_combo, detector)
        return "Faces"
    return prepare


def apply_overlay(window, overlay: str) -> None:
    """The Detect tab's overlays as a user turns them on: "heatmap" (tracking and the heat
    map), "grid" (the grid view; the most confident box is selected), "none"."""
    tab = next(t for t in window.tabs if t.title == "Detect")
    s = tab.settings_box
    s.track_check.setChecked(overlay == "heatmap")
    s.heat_check.setChecked(overlay == "heatmap")
    s.grid_check.setChecked(overlay == "grid")


SCENARIOS = {
    "detect": (prepare_detect, "demo"),
    "features": (prepare_features, "demo"),
    "faces-lbp": (prepare_faces("lbp"), "face"),
    "faces-facenet": (prepare_faces("facenet-vggface2"), "face"),
    "faces-dlib": (prepare_faces("dlib-resnet", "dlib-mmod"), "face"),
}


def run_event_loop(seconds: float, until=None) -> None:
    """Run the Qt event loop as the app does (no polling) for ``seconds`` or until ``until()``."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    if until is not None:
        check = QTimer()
        check.timeout.connect(lambda: loop.quit() if until() else None)
        check.start(50)
    loop.exec()


def standalone_fps(task, frames, seconds: float) -> float:
    """The task's own rate on ``frames``: load once, then preprocess/infer/postprocess in a loop."""
    import torch

    task.load(torch.device("cpu"))
    count, started = 0, time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            frame = frames[count % len(frames)]
            mode = torch.enable_grad() if task.needs_grad else torch.inference_mode()
            with mode:
                task.postprocess(task.infer(task.preprocess(frame)), frame)
            count += 1
    finally:
        task.close()
    return count / (time.monotonic() - started)


def thread_shares(native_ids: dict[str, int], seconds: float, before: dict[str, float]) -> dict[str, float]:
    """Each named thread's CPU share of one core since ``before`` (from thread_cpu_seconds)."""
    return {name: (thread_cpu_seconds(tid) - before[name]) / seconds for name, tid in native_ids.items()}


def named_threads() -> dict[str, int]:
    """Native ids of the app's own threads: GUI, capture, inference (what exists now)."""
    ids = {"gui": threading.get_native_id()}
    for thread in threading.enumerate():
        if thread.native_id is None:
            continue
        if thread.name.startswith("capture:"):
            ids["capture"] = thread.native_id
        elif thread.name.startswith("inference:"):
            ids["inference"] = thread.native_id
    return ids


def process_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def run_scenario(name: str, seconds: float, busy: bool, repeats: int = 1, overlay: str = "none") -> dict:
    """In-app and standalone phases of ``seconds`` each, alternated ``repeats`` times so
    that a change in the machine's load between them shows up as a spread, not a bias."""
    import torch
    from PySide6.QtWidgets import QApplication

    from gui.common.settings import open_settings
    from gui.shell.main_window import MainWindow

    workdir = Path(tempfile.mkdtemp(prefix="gui-live-"))
    prepare, source_kind = SCENARIOS[name]
    source = face_photo(workdir) if source_kind == "face" else "demo"
    QApplication.instance() or QApplication([])
    window = MainWindow(open_settings(), torch.device("cpu"), source=source)
    window.resize(1280, 800)
    window.show()
    title = prepare(window, workdir)
    if name == "detect":
        apply_overlay(window, overlay)
    index = next(i for i, t in enumerate(window.tabs) if t.title == title)
    window.tab_widget.setCurrentIndex(index)
    window.models_changed()  # what the app does after an install: the tab sees its new weights
    results: list[tuple[float, float, int]] = []  # (arrival, latency ms, frame index)
    frames: deque = deque(maxlen=30)  # the frames the app computed on, for the standalone loop

    def on_result(result) -> None:
        results.append((time.monotonic(), result.timings.latency_ms, result.frame.index))
        frames.append(result.frame)

    window.pipeline.result_ready.connect(on_result)
    competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    rounds = []
    try:
        for _ in range(repeats):
            results.clear()
            window._apply_task(window.active_tab)  # (again) after the standalone phase took the machine
            run_event_loop(120, until=lambda: bool(results))  # the model loads and warms up first
            if not results:
                raise SystemExit(f"error: {name}: no result within 120 s ({window.statusBar().currentMessage()})")
            run_event_loop(2.0)
            results.clear()
            ids = named_threads()
            before = {n: thread_cpu_seconds(tid) for n, tid in ids.items()}
            cpu0, t0 = process_cpu_seconds(), time.monotonic()
            run_event_loop(seconds)
            elapsed = time.monotonic() - t0
            shares = thread_shares(ids, elapsed, before)
            shares["process"] = (process_cpu_seconds() - cpu0) / elapsed
            in_app = len(results) / elapsed
            latency = statistics.median(lat for _, lat, _ in results) if results else float("nan")
            task = window.active_tab.make_task()
            window.pipeline.set_task(None)  # the standalone loop gets the machine the app had
            run_event_loop(0.5)
            cpu1, t1 = process_cpu_seconds(), time.monotonic()
            alone = standalone_fps(task, list(frames), seconds) if frames and task is not None else float("nan")
            shares["process_alone"] = (process_cpu_seconds() - cpu1) / (time.monotonic() - t1)
            rounds.append({"in_app_fps": in_app, "latency_ms": latency, "standalone_fps": alone, **shares})
    finally:
        if competitor is not None:
            competitor.kill()
        window.shutdown()
        window.close()
    return {"rounds": rounds}


def _median(rounds: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=tuple(SCENARIOS) + ("all",), default="detect")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each in-app and each standalone phase")
    parser.add_argument("--repeats", type=int, default=9, help="in-app/standalone pairs per scenario (median reported)")
    parser.add_argument("--busy", action="store_true", help="one competing busy process for the duration")
    parser.add_argument("--overlay", choices=("none", "heatmap", "grid"), default="none",
                        help="detect only: tracking + heat map, or the grid view, on")
    parser.add_argument("--threads", help="intra-op threads, as main.py --threads (default: the app's plan)")
    args = parser.parse_args()
    names = tuple(SCENARIOS) if args.scenario == "all" else (args.scenario,)
    load = "one busy process beside it" if args.busy else "nothing else running"
    print(f"gui_live: real main window (offscreen), {args.repeats} x {args.seconds:.0f} s in-app + "
          f"{args.seconds:.0f} s standalone per scenario, {load}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print(f"{'scenario':16s} {'in-app fps':>10s} {'standalone':>10s} {'ratio':>6s} {'ratios':>16s} {'latency ms':>10s} "
          f"{'GUI':>5s} {'capture':>7s} {'worker':>6s} {'process':>7s} {'alone':>6s}   (CPU: share of one core)")
    for name in names:
        rounds = run_scenario(name, args.seconds, args.busy, max(1, args.repeats), args.overlay)["rounds"]
        if name == "detect" and args.overlay != "none":
            name = f"detect+{args.overlay}"
        ratios = [r["in_app_fps"] / r["standalone_fps"] if r["standalone_fps"] else float("nan") for r in rounds]
        share = lambda key: 100 * _median(rounds, key) if all(key in r for r in rounds) else float("nan")  # noqa: E731
        print(f"{name:16s} {_median(rounds, 'in_app_fps'):10.1f} {_median(rounds, 'standalone_fps'):10.1f} "
              f"{statistics.median(ratios):6.2f} {' '.join(f'{x:.2f}' for x in ratios):>16s} "
              f"{_median(rounds, 'latency_ms'):10.0f} {share('gui'):4.0f}% {share('capture'):6.0f}% "
              f"{share('inference'):5.0f}% {share('process'):6.0f}% {share('process_alone'):5.0f}%", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
