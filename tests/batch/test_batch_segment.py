"""`batch segment` on embedded Ray gives, per frame, the class pixel counts of the
sequential `segment --json` (seeded, calibrated LR-ASPP weights installed with `models
import`), and --every keeps every N-th frame of a video."""

from __future__ import annotations

import json

import pytest

import main as app_main
from engine.batch.store import read_table
from tests.segment.weights import calibrated_state, photo_bgr, save_state

LRASPP = "lraspp_mobilenet_v3_large"


@pytest.fixture(scope="module")
def segment_home(tmp_path_factory):
    """A CNN_STUDIO_HOME with calibrated random LR-ASPP weights installed as the catalog model."""
    import os

    folder = tmp_path_factory.mktemp("batch-segment")
    weights = save_state(calibrated_state(LRASPP, photo_bgr("astronaut")), folder / "lraspp_mobilenet_v3_large-d234d4ea.pth")
    home = folder / "home"
    previous = os.environ.get("CNN_STUDIO_HOME")
    os.environ["CNN_STUDIO_HOME"] = str(home)
    try:
        assert app_main.main(["models", "import", LRASPP, str(weights)]) == 0
    finally:
        if previous is None:
            del os.environ["CNN_STUDIO_HOME"]
        else:
            os.environ["CNN_STUDIO_HOME"] = previous
    return home


def _sequential(capsys, path) -> dict:
    """(source, frame) -> {label: pixels} from `segment PATH --json`, the reference."""
    code = app_main.main(["segment", str(path), "--model", LRASPP, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return {(str(path), r["frame"]): r["pixels"] for r in map(json.loads, out.strip().splitlines())}


def _batch_rows(out_dir) -> dict:
    frames, pixels = read_table(out_dir, "frames"), read_table(out_dir, "pixels")
    rows = {(r["source"], r["frame"]): {} for r in frames.to_pylist()}
    assert len(rows) == frames.num_rows, "a frame row appears twice"
    for r in pixels.to_pylist():
        rows[(r["source"], r["frame"])][r["label"]] = r["pixels"]
    return rows


def _assert_same_counts(got: dict, expected: dict) -> None:
    """Same frames, same classes present, each class's pixel count within 0.2 % of the
    frame: a worker runs one torch thread and the CLI two, and on AVX-512 CPUs float32 sums
    split by thread count differ in their last bits, which can flip a pixel whose two best
    classes tie."""
    assert sorted(got) == sorted(expected)
    for key, counts in expected.items():
        frame = sum(counts.values())
        assert set(got[key]) <= set(counts) | {k for k, v in got[key].items() if v <= frame * 0.002}, key
        for label in set(counts) | set(got[key]):
            assert abs(got[key].get(label, 0) - counts.get(label, 0)) <= frame * 0.002, (key, label)


@pytest.mark.slow  # starts Ray twice
def test_counts_equal_the_sequential_cli_and_every(capsys, monkeypatch, segment_home, media, tmp_path):
    from engine.features.segment.catalog import VOC_CLASSES

    monkeypatch.setenv("CNN_STUDIO_HOME", str(segment_home))
    capsys.readouterr()
    out_dir = tmp_path / "out"
    code = app_main.main(["batch", "segment", str(media / "a.png"), str(media / "clip2.avi"), str(media / "broken.jpg"),
                          "--model", LRASPP, "--out", str(out_dir), "--workers", "2"])
    out, err = capsys.readouterr()
    assert code == 1 and "2 input(s) done" in out and "1 failed" in out and "broken.jpg" in err, out + err

    expected = {**_sequential(capsys, media / "a.png"), **_sequential(capsys, media / "clip2.avi")}
    got = _batch_rows(out_dir)
    assert len(got) == 5
    _assert_same_counts(got, expected)
    assert max(len(counts) for counts in expected.values()) > 1  # several classes: the comparison means something
    pixels = read_table(out_dir, "pixels")
    assert all(VOC_CLASSES[r["class_id"]] == r["label"] for r in pixels.to_pylist())
    frames = read_table(out_dir, "frames").to_pylist()
    assert all(f["width"] * f["height"] == sum(got[(f["source"], f["frame"])].values()) for f in frames)
    times = sorted(f["time"] for f in frames if f["source"].endswith("clip2.avi"))
    assert times == pytest.approx([0.0, 0.1, 0.2, 0.3])

    every = tmp_path / "every"
    code = app_main.main(["batch", "segment", str(media / "clip2.avi"), "--model", LRASPP, "--out", str(every),
                          "--workers", "1", "--every", "3"])
    out, err = capsys.readouterr()
    assert code == 0, err
    _assert_same_counts(_batch_rows(every), {k: v for k, v in expected.items() if k[0].endswith("clip2.avi") and k[1] % 3 == 0})


def test_a_detection_model_is_refused_before_ray(capsys, tmp_path, media):
    code = app_main.main(["batch", "segment", str(media / "a.png"), "--model", "yolov4-tiny", "--out", str(tmp_path / "o")])
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith("error: ") and "models list --task segment" in err, err
    assert not (tmp_path / "o").exists()
