"""YOLOX is exact to Megvii's own code path: the same seeded random weights, in the
released ``.pth`` layout, loaded by our loader and into Megvii's ``yolox`` package (the
oracle, a test dependency: scripts/setup installs it), run on real photos at square and
non-square input sizes. Megvii's path: ``ValTransform(legacy=False)`` (``preproc``),
the model with ``decode_in_inference``, ``postprocess`` (score = obj x cls, class-wise
batched NMS), boxes divided by the letterbox ratio; ours clips to the frame, so the
oracle's boxes are clipped too before comparing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data
import torch
from yolox.data.data_augment import ValTransform
from yolox.exp import get_exp
from yolox.utils import postprocess

from engine.core.boxes import box_iou
from engine.features.detect.backends.yolox.loading import yolox_from_pth
from engine.features.detect.backends.yolox.random_weights import write_random_pth
from engine.features.detect.options import DetectorOptions

IOU = 0.45
WANTED = 25  # detections per case before NMS thins them: enough to compare, few enough for ties to be rare


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


PHOTOS = {"chelsea": lambda: _bgr(skimage.data.chelsea()),   # 451x300, a cat
          "coffee": lambda: _bgr(skimage.data.coffee())}     # 600x400, a cup


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("yolox")
    made = {}

    def make(arch: str):
        if arch not in made:
            made[arch] = write_random_pth(folder / f"yolox_{arch}.pth", arch, seed=7)
        return made[arch]

    return make


def _oracle(arch: str, path, image: np.ndarray, size_wh: tuple[int, int], conf: float | None):
    """Megvii's path. conf None: pick a threshold between two scores so that about
    WANTED candidates pass (returned with the detections)."""
    exp = get_exp(None, f"yolox-{arch}")
    model = exp.get_model()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["model"])
    model.eval()
    test_size = (size_wh[1], size_wh[0])  # Megvii's sizes are (height, width)
    tensor, _ = ValTransform(legacy=False)(image, None, test_size)
    ratio = min(test_size[0] / image.shape[0], test_size[1] / image.shape[1])
    with torch.no_grad():
        out = model(torch.from_numpy(tensor).unsqueeze(0).float())
    if conf is None:
        scores = torch.sort(out[0, :, 4] * out[0, :, 5:].max(dim=1).values, descending=True).values
        conf = float((scores[WANTED - 1] + scores[WANTED]) / 2)
    dets = postprocess(out, exp.num_classes, conf, IOU, class_agnostic=False)[0]
    assert dets is not None and len(dets) >= 3, "the calibrated random weights should give detections"
    boxes = (dets[:, :4] / ratio).numpy()
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, image.shape[1])
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, image.shape[0])
    return boxes, (dets[:, 4] * dets[:, 5]).numpy(), dets[:, 6].numpy().astype(np.int64), conf


def _assert_same(ours, boxes, scores, classes):
    """One-to-one: same class, IoU >= 0.99 (boxes that clipping left without area, in the
    letterbox's padding below or right of the frame: the same corners within 0.05 px),
    scores within 1e-3."""
    assert len(ours) == len(scores), f"{len(ours)} detections, Megvii's code gives {len(scores)}"
    iou = box_iou(boxes, ours.boxes)
    flat = np.abs(boxes[:, None, :] - ours.boxes[None, :, :]).max(axis=2) <= 0.05
    iou = np.where(flat, np.maximum(iou, 1.0), iou)
    used = set()
    for i in np.argsort(-scores, kind="stable"):
        # Clipping can make two boxes that NMS kept apart (IoU <= 0.45 before clipping)
        # nearly the same box: of the boxes that match, take the one of the closest score.
        candidates = [j for j in range(len(ours)) if j not in used and ours.class_ids[j] == classes[i]
                      and iou[i, j] >= 0.99]
        assert candidates, f"no detection of class {classes[i]} with IoU >= 0.99 to Megvii's box {boxes[i]}"
        j = min(candidates, key=lambda k: abs(float(ours.scores[k]) - float(scores[i])))
        assert abs(float(ours.scores[j]) - float(scores[i])) <= 1e-3, f"{ours.scores[j]} vs Megvii's {scores[i]}"
        used.add(j)


CASES = [("nano", "chelsea", (416, 416)), ("nano", "coffee", (480, 320)),
         ("tiny", "coffee", (416, 416)), ("tiny", "chelsea", (320, 512)),
         ("s", "chelsea", (640, 640)), ("s", "coffee", (448, 288))]


@pytest.mark.parametrize("arch, photo, size", CASES)
def test_detections_match_megvii(weights, arch, photo, size):
    image = PHOTOS[photo]()
    path = weights(arch)
    boxes, scores, classes, conf = _oracle(arch, path, image, size, None)
    detector = yolox_from_pth(path, options=DetectorOptions(input_size=size, conf_threshold=conf, iou_threshold=IOU),
                              device="cpu")
    detector.max_detections = 10_000  # Megvii keeps every box NMS leaves
    ours = detector.detect(image)
    assert ours.frame_size == (image.shape[1], image.shape[0])
    _assert_same(ours, boxes, scores, classes)


def test_default_threshold_gives_megvii_detections_too(weights):
    """At the app's own threshold (0.25) as well, not only at a tuned one."""
    image = PHOTOS["chelsea"]()
    path = weights("nano")
    boxes, scores, classes, _ = _oracle("nano", path, image, (416, 416), 0.25)
    ours = yolox_from_pth(path, device="cpu").detect(image)
    assert len(ours) >= 3
    _assert_same(ours, boxes, scores, classes)


@pytest.mark.parametrize("size", [(416, 416), (480, 320), (320, 512)])
def test_input_is_megvii_preproc_bit_for_bit(weights, size):
    """Letterbox at the top-left of a 114-grey canvas (sides truncated), BGR, 0..255."""
    detector = yolox_from_pth(weights("nano"), options=DetectorOptions(input_size=size), device="cpu")
    for photo in PHOTOS.values():
        image = photo()
        x, mapping, _ = detector.prepare(image)
        expected, _ = ValTransform(legacy=False)(image, None, (size[1], size[0]))
        assert torch.equal(x[0].contiguous(), torch.from_numpy(expected))
        ratio = min(size[1] / image.shape[0], size[0] / image.shape[1])
        assert (mapping.scale_x, mapping.scale_y, mapping.pad_x, mapping.pad_y) == (ratio, ratio, 0.0, 0.0)


def test_raw_output_is_megvii_head_without_decoding(weights):
    """``detector.model`` returns what Megvii's head gives with ``decode_in_inference=False``
    (its ONNX output): (N, A, 5 + C) for any batch, A = the grid points of strides 8/16/32."""
    path = weights("tiny")
    exp = get_exp(None, "yolox-tiny")
    reference = exp.get_model()
    reference.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["model"])
    reference.eval().head.decode_in_inference = False
    detector = yolox_from_pth(path, device="cpu")
    x = torch.rand(2, 3, 192, 256, generator=torch.Generator().manual_seed(0)) * 255
    with torch.no_grad():
        ours, theirs = detector.model(x), reference(x)
    assert ours.shape == (2, (24 * 32 + 12 * 16 + 6 * 8), 85) == theirs.shape
    torch.testing.assert_close(ours, theirs, atol=2e-4, rtol=1e-4)  # ours has batch norm folded in


def test_the_network_compiles_without_graph_breaks(weights):
    detector = yolox_from_pth(weights("nano"), device="cpu")
    explanation = torch._dynamo.explain(detector.model)(torch.zeros(1, 3, 128, 160))
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1
