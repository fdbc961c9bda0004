"""Messages that said too little: each names the value or file and what to do."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from tests.hardening.bounded_cli import run_bounded, run_bounded_many
from tests.hardening.conftest import child_env, png_claiming


def test_a_seed_out_of_range_gives_the_range(tmp_path):
    folder = tmp_path / "data"
    runs, _ = run_bounded_many([
        ["teach", "train", folder, "--seed", str(2**70), "-o", tmp_path / "m"],
        ["stylize", "train", "a.png", folder, "-o", tmp_path / "s.pth", "--seed", "-1"],
    ], env=child_env(CNN_STUDIO_HOME=str(tmp_path / "home")))
    for run in runs:
        assert run.rc == 2 and "Traceback" not in run.stderr
        assert "--seed" in run.stderr and "0 to 4294967295" in run.stderr, run.stderr
        assert "Overflow" not in run.stderr


def _image_folder(root, names: list[bytes]) -> None:
    for i, name in enumerate(names):
        folder = os.path.join(os.fsencode(root), name)
        os.makedirs(folder)
        for j in range(4):
            ok, data = cv2.imencode(".png", np.full((32, 32, 3), 40 * i + 10 * j, np.uint8))
            with open(os.path.join(folder, b"img%d.png" % j), "wb") as fh:
                fh.write(data.tobytes())


def test_a_class_folder_that_is_not_utf8_is_named_before_training(tmp_path):
    _image_folder(tmp_path / "data", [b"caf\xe9", b"tea"])
    run = run_bounded("teach", "train", tmp_path / "data", "--untrained", "--epochs", "1",
                      "--backbone", "mobilenet_v3_small", "-o", tmp_path / "model",
                      env=child_env(CNN_STUDIO_HOME=str(tmp_path / "home")))
    line = run.assert_one_error("caf\\xe9", "rename the folder")
    assert str(tmp_path / "data") in line
    assert "validation accuracy" not in run.stdout and not (tmp_path / "model").exists()


def test_an_output_name_that_is_not_utf8_is_printed(tmp_path):
    _image_folder(tmp_path / "data", [b"coffee", b"tea"])
    out = os.path.join(os.fsencode(tmp_path), b"mod\xe8le")
    run = run_bounded("teach", "train", tmp_path / "data", "--untrained", "--epochs", "1",
                      "--backbone", "mobilenet_v3_small", "-o", os.fsdecode(out),
                      env=child_env(CNN_STUDIO_HOME=str(tmp_path / "home")))
    assert run.rc == 0, run.stderr
    assert "model saved to" in run.stdout and "mod\\xe8le" in run.stdout
    assert os.path.isfile(os.path.join(out, b"weights.pt"))


def test_pixel_limits_give_exact_counts(tmp_path, monkeypatch):
    from engine.core.errors import SourceError
    from engine.io.images import read_image

    path = tmp_path / "just-over.png"
    path.write_bytes(png_claiming(4900, 4900))  # 24,010,000 pixels: "24 MP" when rounded
    with pytest.raises(SourceError) as info:
        read_image(path)
    message = str(info.value)
    assert "4900x4900 = 24,010,000 pixels" in message and "limit of 24,000,000 pixels" in message
    assert "24 MP is more than the image limit of 24 MP" not in message


def test_an_aligned_chip_far_from_the_input_is_refused(tmp_path):
    thin = tmp_path / "thin.png"
    cv2.imwrite(str(thin), np.full((1, 10000, 3), 128, np.uint8))
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.full((12, 12, 3), 128, np.uint8))
    fine = tmp_path / "fine.png"
    cv2.imwrite(str(fine), np.random.default_rng(1).integers(0, 256, (170, 160, 3), dtype=np.uint8))
    runs, _ = run_bounded_many([
        ["faces", "embed", thin, "--aligned", "--embedder", "lbp"],
        ["faces", "embed", tiny, "--aligned", "--embedder", "lbp"],
        ["faces", "embed", fine, "--aligned", "--embedder", "lbp"],
    ], env=child_env(CNN_STUDIO_HOME=str(tmp_path / "home")))
    runs[0].assert_one_error(str(thin), "10000x1", "not square enough", "leave out --aligned")
    runs[1].assert_one_error(str(tiny), "12x12", "too small")
    assert runs[2].rc == 0, runs[2].stderr


def test_a_seed_with_leading_zeros_is_the_number_it_reads_as():
    import argparse

    from cli.common import MAX_SEED, seed_value

    assert seed_value("007") == 7 and seed_value(str(MAX_SEED)) == MAX_SEED
    with pytest.raises(argparse.ArgumentTypeError, match="not a whole number"):
        seed_value("0x10")
