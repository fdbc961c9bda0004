"""`python main.py inspect ...` end to end, in-process (the same code path as the shell)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

import main as app_main


@pytest.fixture
def image_file(tmp_path, frame_image):
    path = tmp_path / "card.png"
    cv2.imwrite(str(path), frame_image)
    return path


def _run(capsys, *argv):
    code = app_main.main(["inspect", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_json_has_the_documented_shape(capsys, image_file):
    code, out, err = _run(capsys, image_file, "--model", "resnet18", "--untrained", "--summary", "--json", "--topk", "3")
    assert code == 0, err
    data = json.loads(out)
    assert data["model"] == "resnet18" and data["total_params"] == 11_689_512
    rows = {r["name"]: r for r in data["layers"]}
    for row in data["layers"]:
        assert {"name", "type", "output_shape", "params", "mult_adds", "receptive_field"} <= set(row)
    assert rows["layer4"]["type"] == "Sequential" and rows["layer4"]["output_shape"] == [512, 7, 7]
    # padding: 3 + 1*2 + 4*(1*4) + (4 + 3*8) + (8 + 3*16) + (16 + 3*32) = 217
    assert rows["layer4"]["receptive_field"] == {"size": 435, "stride": 32, "padding": 217}
    assert rows["conv1"]["receptive_field"] == {"size": 7, "stride": 2, "padding": 3}
    assert len(data["predictions"]) == 3 and data["trained"] is False


def test_layer_grid_is_written(capsys, image_file, tmp_path):
    out_path = tmp_path / "grid.png"
    code, out, err = _run(capsys, image_file, "--model", "lenet5", "--untrained", "--layer", "features.3", "-o", out_path, "--channels", "4")
    assert code == 0, err
    grid = cv2.imread(str(out_path))
    assert grid is not None and grid.shape[0] > 40
    assert "features.3 (16x10x10)" in out and "untrained" in out


def test_gradcam_and_saliency_overlays_have_the_image_size(capsys, image_file, tmp_path):
    cam = tmp_path / "cam.png"
    code, out, err = _run(capsys, image_file, "--model", "resnet18", "--untrained", "--gradcam", "tabby", "--layer", "layer3", "-o", cam)
    assert code == 0, err
    assert "Grad-CAM at layer3 of class 281 (tabby)" in out
    assert cv2.imread(str(cam)).shape == (120, 160, 3)
    sal = tmp_path / "sal.jpg"
    code, out, err = _run(capsys, image_file, "--model", "lenet5", "--untrained", "--saliency", "--class", "7", "-o", sal, "--json")
    assert code == 0, err
    assert json.loads(out)["explanation"]["class"] == 7 and cv2.imread(str(sal)).shape == (120, 160, 3)


def test_weights_file_is_used(capsys, image_file, random_weights_file):
    path, module = random_weights_file("lenet5", seed=2)
    code, out, err = _run(capsys, image_file, "--model", "lenet5", "--weights", path, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["trained"] is True and data["weights"] == path.name
    image = cv2.imread(str(image_file))
    from engine.features.inspect.preprocess import frame_to_tensor
    from engine.features.inspect.zoo import model_spec

    x, _ = frame_to_tensor(image, model_spec("lenet5").preprocessing)
    with torch.no_grad():
        expected = int(module.eval()(x).argmax())
    assert data["predictions"][0]["index"] == expected


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "lenet5", "--untrained", "--layer", "features.9", "-o", "g.png"], "valid layers: features, features.0"),
        (["--model", "resnet19", "--untrained"], "choose one of lenet5"),
        (["--model", "resnet18"], "models fetch resnet18"),
        (["--model", "lenet5", "--untrained", "--gradcam", "3"], "need -o FILE"),
        (["--model", "lenet5", "--untrained", "--layer", "features.0", "-o", "grid.txt"], "use a .png"),
        (["--model", "lenet5", "--untrained", "--gradcam", "12", "-o", "c.png"], "class index 12 is out of range"),
    ],
)
def test_bad_input_is_one_error_line(capsys, image_file, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, image_file, *argv)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in err


def test_mismatched_weights_name_the_key(capsys, image_file, random_weights_file):
    path, _ = random_weights_file("lenet5")
    code, out, err = _run(capsys, image_file, "--model", "alexnet", "--weights", path)
    # LeNet's features.0 and features.3 exist in AlexNet too; its features.6 does not.
    assert code == 2 and "missing key 'features.6.weight'" in err and "unexpected key 'classifier.3.weight'" in err


def test_missing_image_is_reported(capsys, tmp_path):
    code, out, err = _run(capsys, tmp_path / "none.png", "--model", "lenet5", "--untrained")
    assert code == 2 and "none.png" in err


def test_top_patches_of_a_folder_print_one_json_object_per_channel(capsys, tmp_path):
    rng = np.random.default_rng(3)
    folder = tmp_path / "pictures"
    folder.mkdir()
    sizes = {}
    for i in range(6):
        h, w = int(rng.integers(60, 130)), int(rng.integers(60, 130))
        cv2.imwrite(str(folder / f"p{i}.png"), rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
        sizes[f"p{i}.png"] = (w, h)
    grid = tmp_path / "grid.png"
    code, out, err = _run(capsys, folder, "--model", "lenet5", "--untrained", "--top-patches", "features.3", "--k", "4", "--json", "-o", grid)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["channel"] for r in records] == list(range(16)) and all(r["layer"] == "features.3" for r in records)
    for r in records:
        acts = [p["activation"] for p in r["patches"]]
        assert len(acts) == 4 and acts == sorted(acts, reverse=True)
        for p in r["patches"]:
            w, h = sizes[p["source"]]
            x1, y1, x2, y2 = p["box"]
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h  # pixels of that source image
    picture = cv2.imread(str(grid))
    assert picture is not None and picture.shape[0] > 100


@pytest.mark.parametrize("argv, message", [
    (["--top-patches", "features.99"], "features.99"),
    (["--top-patches", "features.3", "--k", "0"], "--k must be"),
    (["--top-patches", "features.3", "--layer", "features.0"], "goes alone"),
])
def test_top_patches_bad_input_gets_one_error_line(capsys, tmp_path, argv, message):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((40, 40, 3), np.uint8))
    code, out, err = _run(capsys, tmp_path, "--model", "lenet5", "--untrained", *argv)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(lines) == 1 and message in lines[0] and "Traceback" not in err
