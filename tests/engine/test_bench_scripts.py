"""The benchmark drivers run end to end on the CPU (their numbers are not checked: the
tests never time anything)."""

from __future__ import annotations

import dataclasses
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str, timeout: float = 240) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_gpu_suite_runs_on_the_cpu_and_prints_one_table():
    # The suite ends within its budget (plus its own start), so the timeout only has to be
    # generous; a script cut short by a busy machine shows as a "note:" in the output.
    out = run("bench/gpu_suite.py", "--device", "cpu", "--only", "faces", "--budget", "120", timeout=600)
    rows = [line for line in out.splitlines() if line.startswith("| faces ")]
    measures = {line.split("|")[2].strip() for line in rows}
    assert any(m.startswith("search ms") for m in measures), out
    assert any(m.startswith("recognition fps") for m in measures), out
    for line in rows:
        assert re.fullmatch(r"[\d.]+", line.split("|")[3].strip()), line
    assert "device cpu" in out and "note:" not in out, out


def test_gpu_suite_never_gives_a_script_more_than_the_budget_left():
    time_limit = runpy.run_path(str(ROOT / "bench" / "gpu_suite.py"))["time_limit"]
    for left, expected, expected_left in ((200.0, 30, 30), (480.0, 30, 150), (30.0, 10, 20), (10.0, 5, 15),
                                          (15.0, 100, 100), (600.0, 110, 90)):
        assert 10.0 <= time_limit(left, expected, expected_left) <= left, (left, expected, expected_left)
    assert time_limit(480.0, 30, 150) > 480.0 * 30 / 150  # more than its even share: estimates are rough
    assert time_limit(500.0, 110, 500) > 2 * time_limit(500.0, 20, 500)  # the long ones get the time they need


def test_gpu_suite_expects_its_gpu_settings_to_fit_the_default_budget():
    suite = runpy.run_path(str(ROOT / "bench" / "gpu_suite.py"))
    assert sum(b.gpu_s for b in suite["SUITE"]) <= suite["BUDGET_S"]


def test_every_measure_of_the_gpu_suite_matches_what_its_script_prints():
    # bench_outputs/ holds the scripts' real output from `gpu_suite.py --device cpu --outputs DIR`
    # (stderr cut off), plus runs with other flags where the CPU settings do not print a line
    # (NAME--SUFFIX.txt, e.g. YOLOX's compiled variant): every regex must find a number there,
    # so a changed print cannot silently empty a row of the GPU table.
    suite = runpy.run_path(str(ROOT / "bench" / "gpu_suite.py"))
    samples = ROOT / "tests" / "engine" / "bench_outputs"
    for bench in suite["SUITE"]:
        name = suite["slug"](bench.name)
        files = sorted([*samples.glob(f"{name}.txt"), *samples.glob(f"{name}--*.txt")])
        assert files, f"no captured output of {bench.name}"
        assert all(f.read_text().startswith(f"$ bench/{bench.script} ") for f in files), files  # that script's
        text = "\n".join(f.read_text() for f in files)
        for label, pattern in bench.measures:
            rows = suite["pick"](dataclasses.replace(bench, measures=((label, pattern),)), text)
            assert rows, (bench.name, label)
            assert all(re.fullmatch(r"\d[\d.]*", value) for _, value in rows), (bench.name, rows)


def test_detect_process_compares_both_processes_on_the_same_clip():
    out = run("bench/detect_process.py", "--frames", "4", "--runs", "1")
    pair = next(line for line in out.splitlines() if "pair 1:" in line)
    counts = re.findall(r"4 frame\(s\), (\d+) detection\(s\)", pair)
    assert len(counts) == 2 and counts[0] == counts[1], pair  # same clip, same weights: same boxes
    assert re.search(r"ratio of medians [\d.]+", out)


def test_detect_peers_runs_ours_and_both_runtimes_on_the_same_export():
    out = run("bench/detect.py", "--peers", "openvino,onnxruntime", "--size", "128x96", "--frames", "2",
              "--rounds", "1", "--threads", "2", "--peer-precision", "f32", timeout=300)
    # Both runtimes compute what ours computes on our export: the same boxes on every oracle picture.
    checks = re.findall(r"max \|raw output difference\| ([\d.e+-]+); same number of boxes on (\d+)/(\d+)", out)
    assert len(checks) == 2 and all(float(d) < 1e-3 and a == b for d, a, b in checks), out
    ratios = re.findall(r"ours/(OpenVINO|ONNX Runtime) [\d.]+ \(f32\) (network|end to end)\s*: [\d.]+", out)
    assert sorted(ratios) == sorted([(p, part) for p in ("OpenVINO", "ONNX Runtime") for part in ("network", "end to end")]), out


def test_detect_peers_writes_random_weights_for_other_families_and_can_give_ours_the_apps_threads():
    out = run("bench/detect.py", "--model", "yolox-nano", "--peers", "onnxruntime", "--size", "128x96",
              "--frames", "2", "--rounds", "1", "--threads", "2", "--ours-threads", "app", "--peer-precision", "f32",
              timeout=300)
    chosen = re.search(r"ours runs (\d+) thread\(s\), as the live app would", out)
    assert chosen is not None, out
    each = "2 threads each" if chosen.group(1) == "2" else f"ours {chosen.group(1)} thread(s), the peers 2"
    assert each in out, out
    assert re.search(r"ONNX Runtime [\d.]+ \(f32\): max \|raw output difference\| [\d.e+-]+; same number of boxes on (\d+)/\1", out), out
    assert re.search(r"ours/ONNX Runtime [\d.]+ \(f32\) end to end : [\d.]+", out), out


def test_peers_times_ours_and_both_runtimes_on_the_export_of_each_live_network():
    out = run("bench/peers.py", "--networks", "mmod,style", "--frame", "160x120", "--style-side", "64",
              "--rounds", "1", "--calls", "2", "--inputs", "2", "--peer-precision", "f32", timeout=300)
    # Both runtimes compute what ours computes on our export of each network (same outputs).
    checks = re.findall(r"^  (OpenVINO|ONNX Runtime) [\d.]+ \(f32\): max \|output difference\| [\d.e+-]+ = ([\d.e+-]+) "
                        r"of the output's scale", out, re.MULTILINE)
    assert sorted(p for p, _ in checks) == ["ONNX Runtime"] * 2 + ["OpenVINO"] * 2, out
    assert all(float(rel) < 1e-4 for _, rel in checks), out
    ratios = re.findall(r"^  ours/(OpenVINO|ONNX Runtime) [\d.]+ \(f32\): ([\d.]+) \(median of per-call ratios", out, re.MULTILINE)
    assert sorted(p for p, _ in ratios) == ["ONNX Runtime"] * 2 + ["OpenVINO"] * 2 and all(float(r) > 0 for _, r in ratios), out
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| dlib MMOD") or line.startswith("| TransformerNet")]
    assert [r[1].strip() for r in rows] == ["1x3x491x182", "1x3x48x64"], out  # the pyramid of 160x120; 64 x 48 style input
    for row in rows:
        assert all(re.fullmatch(r"[\d.]+", cell.strip()) for cell in row[2:]), row
