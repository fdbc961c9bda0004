"""The one preprocessing resolver gives, for every model family, the input its own code
gave before it existed (to 1e-6): each expectation is computed here from explicit numbers
(ImageNet's mean and std, FaceNet's 127.5 and 128, dlib's channel means), never from the
code under test. Plus the geometry that maps boxes back, and the vocabulary's checks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from engine.models.catalog import Transforms, catalog
from engine.models.transforms import InputResolver, letterbox_geometry, to_batch, to_input

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """A 480x640 BGR frame with detail at every scale (not square: x/y mix-ups show)."""
    rng = np.random.default_rng(11)
    coarse = rng.integers(0, 256, (15, 20, 3), dtype=np.uint8)
    smooth = cv2.resize(coarse, (640, 480), interpolation=cv2.INTER_CUBIC)
    return cv2.add(smooth, rng.integers(0, 40, (480, 640, 3), dtype=np.uint8))


def nchw(hwc: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(hwc.transpose(2, 0, 1))[None]


def close(actual: torch.Tensor, expected: np.ndarray) -> None:
    assert tuple(actual.shape) == expected.shape and actual.dtype == torch.float32
    assert np.abs(actual.cpu().numpy() - expected).max() <= 1e-6


def test_darknet_yolo_stretch_and_letterbox(frame):
    from engine.features.detect.backends.darknet.capabilities import DARKNET_TRANSFORMS
    from engine.features.detect.backends.darknet.cfg import parse_cfg
    from engine.features.detect.backends.darknet.detector import YoloDetector
    from engine.features.detect.backends.darknet.model import DarknetModel
    from engine.features.detect.names import bundled_path, coco_names

    t = catalog().get("yolov4-tiny").transforms
    assert t is DARKNET_TRANSFORMS
    # Darknet: bilinear resize to the input, RGB, pixel / 255, no mean or std.
    stretched = cv2.resize(frame, (320, 256), interpolation=cv2.INTER_LINEAR)[:, :, ::-1]
    x, mapping = to_input(frame, t, size=(320, 256))
    close(x, nchw(stretched.astype(np.float32) / 255))
    assert (mapping.scale_x, mapping.scale_y, mapping.pad_x, mapping.pad_y) == (0.5, 256 / 480, 0.0, 0.0)

    # Letterbox: scale min(320/640, 256/480) = 0.5 -> 320x240 centred, 8 rows of grey 127 above and below.
    boxed = np.full((256, 320, 3), 127, np.uint8)
    boxed[8:248] = cv2.resize(frame, (320, 240), interpolation=cv2.INTER_LINEAR)[:, :, ::-1]
    x, mapping = to_input(frame, t, size=(320, 256), resize="letterbox")
    close(x, nchw(boxed.astype(np.float32) / 255))
    assert (mapping.scale_x, mapping.scale_y, mapping.pad_x, mapping.pad_y) == (0.5, 0.5, 0.0, 8.0)
    assert mapping.box_to_frame((0.0, 8.0, 320.0, 248.0)) == (0.0, 0.0, 640.0, 480.0)

    # The detector feeds its network exactly that (its buffers reused from frame to frame).
    with torch.device("cpu"):
        model = DarknetModel(parse_cfg(bundled_path("yolov4-tiny.cfg")))
    detector = YoloDetector(model, coco_names(), input_size=(320, 256), letterbox=True, channels_last=False,
                            transforms=t)
    for _ in range(2):
        close(detector.prepare(frame)[0], nchw(boxed.astype(np.float32) / 255))


def test_torchvision_detectors_take_whole_rgb_frames(frame):
    t = catalog().get("ssdlite320_mobilenet_v3_large").transforms
    x, mapping = to_input(frame, t)
    close(x, nchw(frame[:, :, ::-1].astype(np.float32) / 255))
    assert (mapping.input_width, mapping.input_height, mapping.scale_x) == (640, 480, 1.0)


def _inspect_model(name: str):
    from engine.features.inspect.zoo import InspectModel, model_spec

    return InspectModel(model_spec(name), torch.nn.Identity(), "none", trained=False)


@pytest.mark.parametrize("name, side, interpolation", [("resnet18", 224, cv2.INTER_LINEAR),
                                                        ("efficientnet_b0", 96, cv2.INTER_CUBIC)])
def test_imagenet_classifiers_in_the_feature_maps_tab(frame, name, side, interpolation):
    # Live inspection squashes the whole frame to a square, then ImageNet's normalisation.
    model = _inspect_model(name)
    x, mapping = to_input(frame, model.input_transforms(side if side != 224 else None))
    rgb = cv2.resize(frame, (side, side), interpolation=interpolation)[:, :, ::-1].astype(np.float32) / 255
    close(x, nchw((rgb - IMAGENET_MEAN) / IMAGENET_STD))
    assert mapping.box_to_frame((0, 0, side, side)) == pytest.approx((0, 0, 640, 480))
    assert mapping.to_input(320, 240) == pytest.approx((side / 2, side / 2))


def test_lenet_is_gray(frame):
    x, _ = to_input(frame, _inspect_model("lenet5").input_transforms())
    gray = cv2.cvtColor(cv2.resize(frame, (32, 32), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2GRAY)
    close(x, ((gray.astype(np.float32) / 255 - 0.5) / 0.5)[None, None])


def test_facenet_is_stated_once_and_means_the_same_in_both_tabs(frame):
    from engine.features.faces.embedders import FaceNetEmbedder

    entry = catalog().get("facenet-vggface2")
    # The Feature maps tab used mean 0.5 and std 128/255 on [0, 1]; the Faces tab (x - 127.5) / 128.
    x, _ = to_input(frame, _inspect_model("facenet").input_transforms())
    rgb = cv2.resize(frame, (160, 160), interpolation=cv2.INTER_LINEAR)[:, :, ::-1].astype(np.float32)
    close(x, nchw((rgb / 255 - 0.5) / (128 / 255)))
    chips = [frame[100:260, 200:360].copy(), frame[0:160, 0:160].copy()]
    batch = FaceNetEmbedder(entry, checkpoint=None).preprocess(chips)
    close(batch, np.concatenate([nchw((c[:, :, ::-1].astype(np.float32) - 127.5) / 128) for c in chips]))
    mean, std = entry.transforms.unit_normalisation()  # what feature visualisation optimises against
    assert mean == pytest.approx((0.5,) * 3) and std == pytest.approx((128 / 255,) * 3)


def test_dlib_descriptor_chips(frame):
    chips = [frame[50:200, 100:250].copy(), frame[300:450, 400:550].copy()]
    batch = to_batch(chips, catalog().get("dlib-resnet").transforms)
    mean = np.array([122.782, 117.001, 104.298], np.float32)
    close(batch, np.concatenate([nchw((c[:, :, ::-1].astype(np.float32) - mean) / 256) for c in chips]))


def test_crop_resizes_the_short_side_then_cuts_the_centre(frame):
    t = catalog().get("resnet18").transforms  # the evaluation transform: short side 256, centre 224
    assert (t.resize, t.resize_size, t.size) == ("crop", 256, (224, 224))
    x, mapping = to_input(frame, t)
    # 640x480 * 256/480 -> 341x256; (341 - 224) / 2 = 58.5 rounds to 58, (256 - 224) / 2 = 16.
    cut = cv2.resize(frame, (341, 256), interpolation=cv2.INTER_LINEAR)[16:240, 58:282, ::-1].astype(np.float32) / 255
    close(x, nchw((cut - IMAGENET_MEAN) / IMAGENET_STD))
    assert (mapping.pad_x, mapping.pad_y) == (-58.0, -16.0)
    x1, y1, _, _ = mapping.box_to_frame((0, 0, 224, 224))
    assert (x1, y1) == pytest.approx((58 * 640 / 341, 16 * 480 / 256))


def test_bgr_models_and_views_and_buffers(frame):
    bgr = Transforms(size=(64, 48), colour="BGR", scale=1.0)
    resolve = InputResolver(bgr)
    first, _ = resolve(frame)
    first = first.clone()
    mirrored, _ = resolve(frame[:, ::-1])  # a view with negative strides is fine
    close(first, nchw(cv2.resize(frame, (64, 48), interpolation=cv2.INTER_LINEAR).astype(np.float32)))
    assert not torch.equal(first, mirrored)
    assert to_batch([], bgr).shape == (0, 3, 48, 64)
    with pytest.raises(ValueError, match=r"expected a BGR uint8 image of shape \(H, W, 3\)"):
        resolve(frame[:, :, 0])


@pytest.mark.parametrize("kwargs, message", [
    ({"resize": "fit"}, "resize must be one of stretch, letterbox, crop"),
    ({"colour": "HSV"}, "colour must be one of RGB, BGR, GRAY"),
    ({"colour": "GRAY"}, "need 1 mean and std value"),
    ({"std": (1.0, 0.0, 1.0)}, "std must be positive"),
    ({"resize_size": 256}, "only with resize='crop'"),
    ({"interpolation": "lanczos"}, "interpolation must be one of"),
    ({"size": (224,)}, "must be \\(width, height\\)"),
])
def test_the_vocabulary_is_checked_when_an_entry_is_written(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Transforms(**kwargs)


def test_top_left_letterbox_truncates_and_pads_right_and_below():
    """YOLOX's preproc: sides int()-truncated, the frame at (0, 0), the grey fill after it."""
    assert letterbox_geometry(451, 300, 416, 416, "top-left")[:4] == (416, int(300 * 416 / 451), 0, 0)
    frame = np.full((300, 451, 3), 200, np.uint8)
    x, mapping = to_input(frame, Transforms(size=(416, 416), resize="letterbox", colour="BGR", scale=1.0, fill=114,
                                            align="top-left"))
    rows = int(300 * 416 / 451)
    assert float(x[0, 0, 0, 0]) == 200.0 and float(x[0, 0, rows - 1, 415]) == 200.0
    assert float(x[0, 0, rows, 0]) == 114.0 and (mapping.pad_x, mapping.pad_y) == (0.0, 0.0)
    with pytest.raises(ValueError, match="align must be one of centre, top-left"):
        Transforms(align="middle")
