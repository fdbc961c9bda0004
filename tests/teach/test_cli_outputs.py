"""`teach` outputs: checked before any work, never in the model folder or the data set;
progress in plain lines when stderr is not a terminal; broken weights refused.

The commands run as child processes of `main.py` (stderr is then a pipe, not a terminal)
under a 3 GiB data limit.
"""

from __future__ import annotations

import math

import torch

from engine.features.teach.model import save_model_dir
from tests.hardening.conftest import TWO_GB_KIB
from tests.hardening.limited_cli import run_limited, run_limited_many

TRAIN = ["--backbone", "mobilenet_v3_small", "--untrained", "--epochs", "3", "--no-augment"]


def model_folder(trained, tmp_path):
    folder = tmp_path / "M"
    save_model_dir(trained.model, folder)
    return folder, {p.name: p.read_bytes() for p in folder.iterdir()}


def test_export_never_writes_into_the_model_folder(trained, tmp_path):
    """`-o M/weights.pt` or `-o M/model.json` exited 0 and broke the model, `-o M/labels.txt`
    was overwritten by the labels, `-o M` gave a traceback and left a temporary."""
    folder, before = model_folder(trained, tmp_path)
    outside = tmp_path / "exports"
    outside.mkdir()
    targets = [folder / "weights.pt", folder / "model.json", folder / "labels.txt", folder, folder / "model.onnx"]
    runs = run_limited_many([["teach", "export", folder, "--format", "torchscript", "-o", t] for t in targets]
                            + [["teach", "export", folder, "--format", "torchscript", "-o", outside / "labels.txt"]])
    for target, run in zip(targets, runs):
        run.assert_one_error(f"-o {target}", f"inside the model folder {folder}")
    runs[-1].assert_one_error(f"{outside / 'labels.txt'}", "labels.txt is written beside the exported model")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing changed, nothing left behind
    assert list(outside.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["M", "exports"]
    assert runs[0].peak_kib < TWO_GB_KIB


def test_train_checks_its_output_before_training(small_folder, tmp_path):
    """`-o EXISTING_FILE` trained fully, then crashed (FileExistsError) and lost the result;
    `-o` inside the data set put the model among the images."""
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    crowded = tmp_path / "photos"
    crowded.mkdir()
    (crowded / "labels.txt").write_text("someone else's labels")
    inside = small_folder / "checks" / "model"
    runs = run_limited_many([["teach", "train", small_folder, *TRAIN, "-o", out] for out in (existing, inside, crowded)])
    runs[0].assert_one_error(f"-o {existing} is an existing file")
    runs[1].assert_one_error(f"-o {inside} is inside the data set {small_folder}")
    runs[2].assert_one_error(f"-o {crowded} is a folder of other files")
    for run in runs:
        assert "embedding" not in run.stderr and "epoch" not in run.stderr  # refused before the work
    assert existing.read_text() == "keep me" and not inside.exists()
    assert (crowded / "labels.txt").read_text() == "someone else's labels"


def test_train_reports_progress_in_plain_lines(tmp_path):
    """100,000 images printed nothing for 7 minutes when stderr was not a terminal."""
    from engine.features.teach.synthetic import write_image_folder

    folder = write_image_folder(tmp_path / "data", per_class=40, seed=2)
    out = tmp_path / "model"
    result = run_limited("teach", "train", folder, *TRAIN, "-o", out)
    assert result.rc == 0, result.stderr
    lines = result.stderr.splitlines()
    assert f"scanning {folder}" in lines and "found 120 images in 3 classes" in lines
    embedding = [line for line in lines if line.startswith("embedding samples: ")]
    assert len(embedding) >= 3 and embedding[-1].startswith("embedding samples: 100% 120/120"), lines
    assert sum(line.startswith("epoch ") for line in lines) >= 1
    assert "\r" not in result.stderr  # no terminal redraws in a log
    assert (out / "model.json").is_file()


def test_a_model_with_nan_weights_is_refused_naming_the_file(trained, small_folder, tmp_path):
    """NaN weights printed `"score": NaN`, which is not JSON."""
    folder, _ = model_folder(trained, tmp_path)
    state = torch.load(folder / "weights.pt", weights_only=True)
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name].view(-1)[0] = math.nan
    torch.save(state, folder / "weights.pt")
    result = run_limited("teach", "predict", folder, small_folder / "blobs" / "000.png", "--json")
    result.assert_one_error(str(folder / "weights.pt"), name, "not finite")
    assert result.stdout == ""
