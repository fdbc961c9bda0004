"""Hostile inputs on the command line: one `error:` line, exit code 2, bounded memory.

Every case runs `main.py` in a child process and asserts its peak RSS stays under 2 GB
(the inputs below would each cost many GB if a reader allocated before checking).
"""

from __future__ import annotations

import os
import stat

import cv2
import numpy as np
import pytest

from tests.hardening.conftest import TWO_GB_KIB, child_env, png_claiming, run_cli, run_cli_many, tiny_cfg_text


def test_hostile_files_in_one_child_stay_under_2_gb(tmp_path, tiny_detector_files):
    """A PNG header claiming 51234x47777, a cfg asking for 237 million parameters and
    /dev/zero as weights: each would cost gigabytes if read before being checked."""
    cfg, weights, names = tiny_detector_files
    liar = tmp_path / "liar.png"
    liar.write_bytes(png_claiming(51_234, 47_777))
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    greedy = tmp_path / "greedy.cfg"
    greedy.write_text(tiny_cfg_text().replace("filters=8\n", "filters=7654321\n", 1))
    runs, peak = run_cli_many([
        ["detect", liar, "--cfg", cfg, "--weights", weights, "--names", names],
        ["detect", image, "--cfg", greedy, "--weights", weights, "--names", names],
        ["detect", image, "--cfg", cfg, "--weights", "/dev/zero", "--names", names],
    ])
    line = runs[0].assert_one_error(str(liar), "51234x47777", "CNN_STUDIO_MAX_IMAGE_PIXELS")
    assert "limit" in line
    runs[1].assert_one_error(f"{greedy}:8", "237,283,951", "CNN_STUDIO_MAX_CFG_PARAMETERS")
    runs[2].assert_one_error("/dev/zero", "device")
    assert peak < TWO_GB_KIB


def test_a_real_png_over_the_limit_is_refused_before_decoding(tmp_path, tiny_detector_files, cli, monkeypatch):
    cfg, weights, names = tiny_detector_files
    image = np.zeros((1500, 1300, 3), np.uint8)
    image[::9] = 255
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), image)
    monkeypatch.setenv("CNN_STUDIO_MAX_IMAGE_PIXELS", "1000000")
    result = cli("detect", big, "--cfg", cfg, "--weights", weights, "--names", names)
    result.assert_one_error("1300x1500", "1 MP")


def test_a_big_jpeg_photo_is_read_downscaled(tmp_path, tiny_detector_files, capsys, monkeypatch):
    import json

    import main

    cfg, weights, names = tiny_detector_files
    image = np.random.default_rng(2).integers(0, 256, (1700, 2300, 3), dtype=np.uint8)
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), image)
    monkeypatch.setenv("CNN_STUDIO_MAX_IMAGE_PIXELS", "1200000")
    capsys.readouterr()
    assert main.main([str(a) for a in ("detect", photo, "--cfg", cfg, "--weights", weights, "--names", names, "--json")]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    # 2300x1700 = 3.9 MP; halved it is 0.98 MP, within the 1.2 MP limit.
    assert (record["width"], record["height"]) == (1150, 850)


def test_a_huge_network_size(tmp_path, tiny_detector_files, cli):
    cfg, weights, names = tiny_detector_files
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(SystemExit) as stop:  # argparse's own usage error
        cli("detect", tmp_path / "x.png", "--cfg", cfg, "--weights", weights, "--names", names, "--size", "30016x30016")
    assert stop.value.code == 2


def test_a_huge_network_size_message(tmp_path, capsys):
    import argparse

    from cli.detect import _size

    with pytest.raises(argparse.ArgumentTypeError, match="limit is 4096 pixels a side.*CNN_STUDIO_MAX_NETWORK_SIDE"):
        _size("30016x30016")


@pytest.mark.parametrize("role", ["cfg", "weights", "names", "input"])
def test_devices_are_refused(tmp_path, tiny_detector_files, role, cli):
    files = dict(zip(("cfg", "weights", "names"), map(str, tiny_detector_files)))
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    files["input"] = str(image)
    files[role] = "/dev/zero"
    result = cli("detect", files["input"], "--cfg", files["cfg"], "--weights", files["weights"], "--names", files["names"])
    result.assert_one_error("/dev/zero", "device")


@pytest.mark.parametrize("role", ["cfg", "input"])
def test_a_fifo_does_not_block(tmp_path, tiny_detector_files, role, cli):
    cfg, weights, names = tiny_detector_files
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    args = {"cfg": str(cfg), "input": str(image)}
    args[role] = str(fifo)
    result = cli("detect", args["input"], "--cfg", args["cfg"], "--weights", weights, "--names", names)
    result.assert_one_error(str(fifo), "FIFO")


@pytest.mark.parametrize("content", [b"", b"\x00" * 10])
def test_an_empty_or_junk_input_without_suffix(tmp_path, tiny_detector_files, content, cli):
    cfg, weights, names = tiny_detector_files
    blank = tmp_path / "blank"
    blank.write_bytes(content)
    result = cli("detect", blank, "--cfg", cfg, "--weights", weights, "--names", names)
    result.assert_one_error(str(blank))


def test_zero_classes_with_an_empty_names_file(tmp_path, cli):
    cfg = tmp_path / "none.cfg"
    cfg.write_text(tiny_cfg_text(classes=2).replace("classes=2", "classes=0"))
    names = tmp_path / "empty.names"
    names.write_text("")
    weights = tmp_path / "w.weights"
    weights.write_bytes(b"\0" * 100)
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((64, 64, 3), np.uint8))
    result = cli("detect", tmp_path / "x.png", "--cfg", cfg, "--weights", weights, "--names", names)
    result.assert_one_error(f"{cfg}:24", "classes=0", "at least one class")


def test_the_output_cannot_be_the_input(tmp_path, tiny_detector_files, cli):
    cfg, weights, names = tiny_detector_files
    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), np.random.default_rng(4).integers(0, 256, (96, 128, 3), dtype=np.uint8))
    original = image.read_bytes()
    link = tmp_path / "alias.png"
    link.symlink_to(image)
    hard = tmp_path / "hard.png"
    os.link(image, hard)
    for out in (image, link, hard):
        result = cli("detect", image, "--cfg", cfg, "--weights", weights, "--names", names, "-o", out)
        result.assert_one_error("is the input", "destroy")
    assert image.read_bytes() == original
    assert stat.S_ISLNK(os.lstat(link).st_mode)


def test_saliency_of_a_big_photo_stays_bounded(tmp_path):
    photo = tmp_path / "wide.jpg"
    ramp = np.linspace(0, 255, 5600, dtype=np.float32).astype(np.uint8)
    cv2.imwrite(str(photo), np.broadcast_to(ramp[None, :, None], (4800, 5600, 3)).copy())  # 27 MP
    out = tmp_path / "saliency.png"
    result = run_cli("inspect", photo, "--model", "resnet18", "--untrained", "--saliency", "-o", out,
                     env=child_env(CNN_STUDIO_HOME=str(tmp_path / "home")))
    assert result.rc == 0, result.stderr
    assert "read downscaled by 2" in result.stderr
    assert cv2.imread(str(out)).shape[:2] == (2400, 2800)
    assert result.peak_kib < TWO_GB_KIB
