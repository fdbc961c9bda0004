"""`python main.py stylize` end to end with weights generated in the published layouts."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.features.style.adain import random_decoder_state, random_encoder_state
from engine.features.style.metadata import read_info
from engine.features.style.vgg import random_vgg19_state_dict
from engine.models.cache import default_cache
from engine.models.catalog import catalog
from main import main


@pytest.fixture(scope="module")
def installed_weights(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Import generated vgg19 / AdaIN files into the session's cache, like `models import` does."""
    folder = tmp_path_factory.mktemp("weights")
    files = {"vgg19": (folder / "vgg19.pth", random_vgg19_state_dict(2)),
             "adain-vgg": (folder / "vgg_normalised.pth", random_encoder_state(2)),
             "adain-decoder": (folder / "decoder.pth", random_decoder_state(2))}
    cache = default_cache()
    for name, (path, state) in files.items():
        torch.save(state, path)
        cache.import_file(catalog().get(name), path, force=True)
    yield
    for name in files:
        cache.remove(catalog().get(name))


@pytest.fixture
def inputs(tmp_path: Path, pictures) -> tuple[Path, Path]:
    content, style = tmp_path / "photo.jpg", tmp_path / "painting.png"
    cv2.imwrite(str(content), pictures.content(48, 64))
    cv2.imwrite(str(style), pictures.style(64))
    return content, style


def test_non_image_style_and_missing_weights(inputs, tmp_path: Path, capsys, monkeypatch) -> None:
    content, _ = inputs
    notes = tmp_path / "style.txt"
    notes.write_text("not a picture")
    assert main(["stylize", str(content), str(notes), "-o", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: style image") and "style.txt" in err and "Traceback" not in err

    good_style = tmp_path / "s.png"
    cv2.imwrite(str(good_style), np.full((32, 32, 3), 100, np.uint8))
    # An empty home of its own, whatever other tests installed: say how to get vgg19.
    monkeypatch.setenv("CNN_STUDIO_HOME", str(tmp_path / "empty-home"))
    assert not default_cache().is_installed(catalog().get("vgg19"))
    assert main(["stylize", str(content), str(good_style), "-o", str(tmp_path / "o.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "models fetch vgg19" in err and "models import vgg19" in err


def test_gatys_image_with_losses_and_metadata(installed_weights, inputs, tmp_path: Path, capsys) -> None:
    content, style = inputs
    out = tmp_path / "out.png"
    code = main(["stylize", str(content), str(style), "-o", str(out), "--size", "64", "--steps", "3",
                 "--optimizer", "adam", "--preserve-color", "--seed", "3", "--style-layers", "conv1_1,conv2_1",
                 "--content-layer", "conv2_2"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "photo.jpg: steps=3" in captured.out and "total=" in captured.out
    assert "stylize photo.jpg" in captured.err  # progress on stderr
    image = cv2.imread(str(out))
    assert image.shape == (48, 64, 3)
    info = read_info(out)
    assert info["method"] == "gatys" and info["settings"]["preserve_color"] == "luminance"
    assert info["settings"]["optimizer"] == "adam" and info["styles"] == [["painting.png", 1.0]]


def test_adain_on_a_folder_and_a_video(installed_weights, inputs, tmp_path: Path, pictures, capsys) -> None:
    content, style = inputs
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"p{i}.png"), np.roll(pictures.content(48, 64), 8 * i, axis=1))
    out_dir = tmp_path / "styled"
    assert main(["stylize", str(folder), str(style), str(style), "--style-weights", "2,1", "-o", str(out_dir),
                 "--method", "adain", "--size", "64", "--alpha", "0.5"]) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["p0.png", "p1.png"]

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(3):
        writer.write(np.roll(pictures.content(48, 64), 4 * i, axis=1))
    writer.release()
    out_video = tmp_path / "styled.avi"
    assert main(["stylize", str(video), str(style), "-o", str(out_video), "--method", "adain", "--size", "64"]) == 0
    cap = cv2.VideoCapture(str(out_video))
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert frames == 3
    assert "wrote 3 frames" in capsys.readouterr().err


@pytest.mark.parametrize("bad, message", [
    (["--size", "4"], "size 4"),
    (["--style-weights", "1,2"], "--style-weights has 2 values for 1 style"),
    (["-o", "OUT.txt"], "OUT must be an image file"),
])
def test_bad_arguments_give_one_error_line(installed_weights, inputs, tmp_path: Path, capsys, bad, message) -> None:
    content, style = inputs
    argv = ["stylize", str(content), str(style), "-o", str(tmp_path / "o.png"), "--steps", "1", *bad]
    if "-o" in bad:
        argv = ["stylize", str(content), str(style), "--steps", "1", "-o", str(tmp_path / bad[1])]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def _fast_file(path: Path, seed: int = 4) -> Path:
    from engine.features.style.transformer_net import random_state

    state = random_state(seed)
    state["in1.running_mean"] = torch.zeros(32)  # as old PyTorch versions saved them
    torch.save(state, path)
    return path


def test_fast_method_with_a_pth_and_a_catalog_model(inputs, tmp_path: Path, capsys) -> None:
    content, _ = inputs
    model = _fast_file(tmp_path / "candy.pth")
    out = tmp_path / "fast.png"
    assert main(["stylize", str(content), "-o", str(out), "--method", "fast", "--model", str(model), "--size", "64"]) == 0
    assert cv2.imread(str(out)).shape == (48, 64, 3)
    assert read_info(out)["method"] == "fast"
    cache = default_cache()
    cache.import_file(catalog().get("fast-candy"), model, force=True)
    try:
        out2 = tmp_path / "fast2.png"
        assert main(["stylize", str(content), "-o", str(out2), "--method", "fast", "--model", "fast-candy", "--size", "64"]) == 0
        assert np.array_equal(cv2.imread(str(out)), cv2.imread(str(out2)))
    finally:
        cache.remove(catalog().get("fast-candy"))
    capsys.readouterr()
    assert main(["stylize", str(content), "-o", str(out2), "--method", "fast", "--model", "fast-udnie"]) == 2
    assert "models fetch fast-udnie" in capsys.readouterr().err


def test_fast_model_of_another_layout_names_the_first_mismatching_key(inputs, tmp_path: Path, capsys) -> None:
    content, _ = inputs
    torch.save(random_decoder_state(0), tmp_path / "decoder.pth")
    assert main(["stylize", str(content), "-o", str(tmp_path / "o.png"), "--method", "fast", "--model", str(tmp_path / "decoder.pth")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing key 'conv1.conv2d.weight'" in err[0] and "decoder.pth" in err[0], err


def test_train_says_how_long_then_writes_the_model(inputs, tmp_path: Path, capsys, pictures) -> None:
    from engine.features.style.vgg16 import random_state

    content, style = inputs
    cache = default_cache()
    # the loss network needs only VGG-16's convs up to relu4_3; a full random VGG-16 (528 MB)
    # would pass `models import`, so the file is put where the cache keeps it instead
    weights = cache.path(catalog().get("vgg16"))
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_state(1), weights)
    try:
        folder = tmp_path / "photos"
        folder.mkdir()
        cv2.imwrite(str(folder / "a.png"), pictures.content(40, 56))
        out = tmp_path / "mine.pth"
        assert main(["stylize", "train", str(style), str(folder), "-o", str(out), "--steps", "2", "--size", "32",
                     "--batch", "1"]) == 0
        captured = capsys.readouterr()
        assert "about" in captured.err and "s a step" in captured.err and out.is_file()
        assert "mine.pth: 2 steps" in captured.out
        empty = tmp_path / "empty"
        empty.mkdir()
        assert main(["stylize", "train", str(style), str(empty), "-o", str(tmp_path / "x.pth"), "--steps", "2"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "holds no images" in err[0]
        assert not (tmp_path / "x.pth").exists()
    finally:
        cache.remove(catalog().get("vgg16"))
