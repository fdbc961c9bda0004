"""Hostile model files: a Teach model.json with impossible values, weights bombs, FIFOs.

Every case runs ``main.py`` in a capped child process (``bounded_cli``): one ``error:``
line naming the file, exit code 2, no traceback, no hang, peak RSS under 2 GB.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.hardening.bounded_cli import run_bounded_many
from tests.hardening.conftest import TWO_GB_KIB, child_env
from tests.hardening.hostile_weights import BOMBS


@pytest.fixture(scope="module")
def teach_model(tmp_path_factory) -> Path:
    """A small, valid Teach model folder (MobileNetV3-Small cut after two blocks)."""
    from engine.features.teach.model import TrainedModel, build_classifier, save_model_dir

    folder = tmp_path_factory.mktemp("teach") / "model"
    classifier = build_classifier("mobilenet_v3_small", 2, blocks=2)
    save_model_dir(TrainedModel(classifier, ["cat", "dog"], {"backbone": "mobilenet_v3_small", "backbone_blocks": 2}), folder)
    return folder


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "x.png"
    cv2.imwrite(str(path), np.full((48, 64, 3), 120, np.uint8))
    return path


def _copy_model(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in ("weights.pt", "labels.txt", "model.json"):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


HOSTILE_SIZES = {
    "zero": "0",
    "negative": "-5",
    "float": "1e5",
    "infinity": "Infinity",
    "nan": "NaN",
    "list": "[224, 224]",
    "text": '"224"',
    "huge": "30000",
    "bool": "true",
}


def test_a_hostile_model_json_is_one_error_naming_it(tmp_path, teach_model, image):
    cases, files = [], []
    for label, raw in HOSTILE_SIZES.items():
        folder = _copy_model(teach_model, tmp_path / label)
        text = (folder / "model.json").read_text()
        assert '"size": 224' in text
        (folder / "model.json").write_text(text.replace('"size": 224', f'"size": {raw}'))
        cases.append(["teach", "predict", folder, image])
        files.append(folder / "model.json")
    deep = _copy_model(teach_model, tmp_path / "deep")
    (deep / "model.json").write_text("[" * 200_000 + "]" * 200_000)
    cases.append(["teach", "predict", deep, image])
    files.append(deep / "model.json")
    labels = _copy_model(teach_model, tmp_path / "labels")
    info = json.loads((labels / "model.json").read_text())
    info["labels"] = ["x"] * 100_000
    (labels / "model.json").write_text(json.dumps(info))
    cases.append(["teach", "predict", labels, image])
    files.append(labels / "model.json")
    big = _copy_model(teach_model, tmp_path / "big")
    os.truncate(big / "model.json", 3 * 1024**3)  # sparse: 3 GB that cost no disk
    cases.append(["teach", "predict", big, image])
    files.append(big / "model.json")
    runs, peak = run_bounded_many(cases)
    assert peak < TWO_GB_KIB, f"peak RSS {peak // 1024} MB"
    for run, path, label in zip(runs, files, [*HOSTILE_SIZES, "deep", "labels", "big"]):
        line = run.assert_one_error(str(path))
        assert "Traceback" not in run.stderr, label
        if label in ("infinity", "nan"):
            assert HOSTILE_SIZES[label] in line and "not a number JSON allows" in line, (label, line)
        elif label in HOSTILE_SIZES:
            assert "preprocessing.size" in line and "32 to 1024" in line, (label, line)


def test_the_valid_model_still_predicts(teach_model, image):
    runs, _ = run_bounded_many([["teach", "predict", teach_model, image, "--json"]])
    assert runs[0].rc == 0, runs[0].stderr
    assert json.loads(runs[0].stdout)["label"] in ("cat", "dog")


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    return {name: make(folder / f"{name}.pth") for name, make in BOMBS.items()}


def test_weights_bombs_are_refused_by_every_loader(tmp_path, teach_model, image, bombs):
    """bytearray(2.5 GB) through torch.load's allowed globals, a tensor larger than its
    storage, a member declaring 3 GB, the old format declaring 4.8 GB: refused before
    torch reads a tensor, by teach predict, stylize --model, inspect --weights and models
    import."""
    cases, names = [], []
    for name, bomb in bombs.items():
        folder = _copy_model(teach_model, tmp_path / f"teach-{name}")
        (folder / "weights.pt").write_bytes(bomb.read_bytes())
        cases.append(["teach", "predict", folder, image])
        names.append(str(folder / "weights.pt"))
        cases.append(["stylize", image, "-o", tmp_path / f"out-{name}.png", "--method", "fast", "--model", bomb])
        names.append(str(bomb))
        cases.append(["inspect", image, "--model", "resnet18", "--weights", bomb])
        names.append(str(bomb))
        cases.append(["models", "import", "fast-candy", bomb, "--force"])
        names.append(str(bomb))
    runs, peak = run_bounded_many(cases, env=child_env(CNN_STUDIO_HOME=str(tmp_path / "home")))
    assert peak < TWO_GB_KIB, f"peak RSS {peak // 1024} MB"
    for run, name, case in zip(runs, names, cases):
        line = run.assert_one_error(name)
        assert ("loaded safely" in line or "more than" in line or "truncated" in line), (case[:2], line)
    assert not any((tmp_path / "home").rglob("*.pth")), "a refused file was installed"


def test_fifos_as_weights_do_not_block(tmp_path, teach_model, image):
    fifo = tmp_path / "weights.pth"
    os.mkfifo(fifo)
    folder = _copy_model(teach_model, tmp_path / "fifo-model")
    (folder / "weights.pt").unlink()
    os.mkfifo(folder / "weights.pt")
    json_fifo = _copy_model(teach_model, tmp_path / "fifo-json")
    (json_fifo / "model.json").unlink()
    os.mkfifo(json_fifo / "model.json")
    runs, peak = run_bounded_many([
        ["teach", "predict", folder, image],
        ["teach", "predict", json_fifo, image],
        ["stylize", image, "-o", tmp_path / "o.png", "--method", "fast", "--model", fifo],
        ["inspect", image, "--model", "resnet18", "--weights", fifo],
    ], env=child_env(CNN_STUDIO_HOME=str(tmp_path / "home")), timeout=180)
    runs[0].assert_one_error(str(folder / "weights.pt"), "FIFO")
    runs[1].assert_one_error(str(json_fifo / "model.json"), "FIFO")
    runs[2].assert_one_error(str(fifo), "FIFO")
    line = runs[3].assert_one_error(str(fifo), "FIFO")
    assert "does not exist" not in line


def test_checkpoint_sizes_are_checked_against_the_architecture(tmp_path):
    """A real state_dict of a larger model is refused by its declared size, before loading."""
    import torch

    from engine.models import checkpoint

    small = torch.nn.Linear(4, 2)
    big = tmp_path / "big.pth"
    torch.save(torch.nn.Linear(512, 512).state_dict(), big)
    with pytest.raises(checkpoint.CheckpointError, match="more than the .* architecture needs"):
        checkpoint.load(big, budget_bytes=checkpoint.parameter_count(small) * 8)
    seen = {}
    loaded = checkpoint.load(big, budget_bytes=checkpoint.budget_for(torch.nn.Linear(512, 512)),
                             check=lambda s: seen.update({k: (v.device.type, tuple(v.shape)) for k, v in s.items()}))
    assert seen == {"weight": ("meta", (512, 512)), "bias": ("meta", (512,))}
    assert loaded["weight"].device.type == "cpu" and loaded["weight"].shape == (512, 512)
    legacy = tmp_path / "legacy.pth"
    torch.save(small.state_dict(), legacy, _use_new_zipfile_serialization=False)
    assert torch.equal(checkpoint.load(legacy, budget_bytes=checkpoint.budget_for(small))["weight"], small.weight.detach())


def test_a_zip_member_that_inflates_too_well_is_refused(tmp_path):
    import zipfile

    from engine.models import checkpoint

    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("archive/data/0", bytes(8 << 20))
    with pytest.raises(checkpoint.CheckpointError, match="inflates .* times"):
        checkpoint.load(path, budget_bytes=64 << 20)


@pytest.mark.parametrize("odd", [7, "seven", [1.0, 2.0]], ids=["int", "str", "list"])
def test_a_value_that_is_no_tensor_is_refused_naming_the_key(tmp_path, teach_model, odd):
    """torch.load(weights_only=True) accepts ints, strings and lists: a hand-edited file with
    one where a tensor belongs is a ModelDirError naming the key, not an AttributeError."""
    import shutil

    import torch

    from engine.features.teach.model import ModelDirError, load_model_dir

    folder = tmp_path / "edited"
    shutil.copytree(teach_model, folder)
    state = torch.load(folder / "weights.pt", weights_only=True)
    key = next(iter(state))
    state[key] = odd
    torch.save(state, folder / "weights.pt")
    with pytest.raises(ModelDirError, match=f"key '{key}' holds a {type(odd).__name__}, not a tensor"):
        load_model_dir(folder)
