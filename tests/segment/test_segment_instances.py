"""Mask R-CNN and Keypoint R-CNN: our pipeline (the catalog entry's weights file loaded
weights_only into our build of the architecture, a BGR frame in) gives torchvision's own
model forward on the same photo; another model's file is refused naming the first bad key;
the id map, JSON and drawing follow the instances."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from engine.features.segment.catalog import INSTANCE_ENTRIES
from engine.features.segment.instance_render import draw_instances
from engine.features.segment.instances import InstanceModel, SegmentWeightsError
from engine.models.catalog import catalog
from tests.segment.instance_weights import calibrated_instance_state, reference_network, reference_output
from tests.segment.weights import photo_bgr, save_state

SIDE = 320  # both pipelines resize to this short side (800 is the published one; the code path is the same)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, :2], b[:, :2])
    rb = np.minimum(a[:, 2:], b[:, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def paired(found, ref) -> np.ndarray:
    """For each of our detections, the index of torchvision's with the same box (IoU >= 0.99,
    one to one). Two detections whose scores tie to the last bits may come out in either
    order: the same math summed in another order (another CPU's kernels) swaps them."""
    ours, theirs = found.boxes, ref["boxes"].numpy()
    iou = np.stack([box_iou(np.repeat(box[None], len(theirs), 0), theirs) for box in ours])
    order = iou.argmax(axis=1)
    assert len(set(order.tolist())) == len(order), "two of our boxes claim the same reference box"
    assert (iou[np.arange(len(order)), order] >= 0.99).all()
    return order


@pytest.fixture(scope="module")
def photo():
    return cv2.resize(photo_bgr("astronaut"), (400, 300))


def _ours_and_theirs(architecture: str, photo, tmp_path, detections: int = 100):
    """Both pipelines on the photo; ``detections``: torchvision's per-image cap, the same on both
    (100 is its default; fewer keeps the 8-layer keypoint head quick)."""
    state = calibrated_instance_state(architecture, photo, min_size=SIDE)
    path = save_state(state, tmp_path / f"{architecture}.pth")
    ours = InstanceModel.from_file(catalog().get(architecture), path)
    ours.set_min_size(SIDE)
    ours.network.roi_heads.detections_per_img = detections
    reference = reference_network(architecture, min_size=SIDE)
    reference.roi_heads.detections_per_img = detections
    reference.load_state_dict(state, strict=False)
    return ours.run(photo), reference_output(reference, photo)


def test_mask_rcnn_equals_torchvision(photo, tmp_path):
    found, ref = _ours_and_theirs("maskrcnn_resnet50_fpn", photo, tmp_path)
    assert len(found) >= 10 and len(found) == len(ref["scores"])
    assert len(set(found.labels.tolist())) >= 2  # structure: several classes, differing scores
    assert float(found.scores.max() - found.scores.min()) > 0.1
    order = paired(found, ref)
    assert (found.labels == ref["labels"].numpy()[order]).all()
    np.testing.assert_allclose(found.scores, ref["scores"].numpy()[order], atol=1e-4)
    theirs = ref["masks"][:, 0].numpy()[order] > 0.5
    assert found.masks.shape == theirs.shape == (len(found), 300, 400)
    assert found.masks.any(axis=(1, 2)).sum() >= 10
    assert (found.masks == theirs).mean() >= 0.98
    # the id map: 0 none, i + 1 where instance i is (the higher score wins overlaps)
    ids = found.id_map()
    assert ids.shape == (300, 400) and ids.dtype == np.uint8
    assert (ids[found.masks[0]] == 1).all()
    assert ((ids > 0) == found.masks[:255].any(axis=0)).all()
    kept = found.above(0.3)
    assert 0 < len(kept) < len(found) and (kept.scores >= 0.3).all()
    rows = kept.to_json()
    assert rows[0]["label"] == found.categories[found.labels[0]] and rows[0]["mask_area"] == int(found.masks[0].sum())
    assert len(rows[0]["box"]) == 4 and "keypoints" not in rows[0]
    drawn = draw_instances(photo, kept)
    assert drawn.shape == photo.shape and (drawn != photo).any() and (drawn[~kept.masks.any(axis=0)] == photo[~kept.masks.any(axis=0)]).mean() > 0.5


def test_keypoint_rcnn_equals_torchvision(photo, tmp_path):
    found, ref = _ours_and_theirs("keypointrcnn_resnet50_fpn", photo, tmp_path, detections=20)
    assert len(found) == 20 and found.masks is None
    order = paired(found, ref)
    assert (found.labels == ref["labels"].numpy()[order]).all() and set(found.names()) == {"person"}
    assert found.keypoints.shape == (len(found), 17, 3)
    # A keypoint is its heat map's best cell; where two cells tie to the last bits another
    # CPU's summation order may pick the other one (seen: 1 of 680 on an AVX2 machine).
    offset = np.abs(found.keypoints[..., :2] - ref["keypoints"][..., :2].numpy()[order]).max(axis=-1)
    assert (offset <= 0.5).mean() >= 0.99, f"{(offset > 0.5).sum()} of {offset.size} keypoints moved"
    np.testing.assert_allclose(found.keypoints[..., 2], ref["keypoints_scores"].numpy()[order], rtol=1e-3, atol=1e-3)
    row = found.to_json(catalog().get("keypointrcnn_resnet50_fpn").meta["keypoint_names"])[0]
    assert len(row["keypoints"]) == 17 and "mask_area" not in row
    # the skeleton is drawn: pixels change along the limbs of the first person
    one = found.above(float(found.scores[0]))
    drawn = draw_instances(photo, one, keypoint_min_score=-1e9)
    (x5, y5), (x6, y6) = one.keypoints[0, 5, :2], one.keypoints[0, 6, :2]  # the shoulders' limb
    mid = (int(round((x5 + x6) / 2)), int(round((y5 + y6) / 2)))
    assert (drawn[mid[1], mid[0]] != photo[mid[1], mid[0]]).any()


def test_another_models_file_is_refused(tmp_path):
    # a semantic model's state_dict, given as Mask R-CNN weights
    from engine.features.segment.model import build_network

    path = save_state(build_network("lraspp_mobilenet_v3_large").state_dict(), tmp_path / "wrong.pth")
    with pytest.raises(SegmentWeightsError) as info:
        InstanceModel.from_file(catalog().get("maskrcnn_resnet50_fpn"), path)
    assert "wrong.pth" in str(info.value) and "backbone.body.conv1.weight" in str(info.value)
    assert "maskrcnn_resnet50_fpn" in info.value.todo
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a zip file at all")
    with pytest.raises(SegmentWeightsError, match="broken.pth"):
        InstanceModel.from_file(catalog().get("keypointrcnn_resnet50_fpn"), broken)


def test_the_entries_are_torchvisions():
    from torchvision.models import detection
    from torchvision.models._meta import _COCO_CATEGORIES

    enums = {"maskrcnn_resnet50_fpn": detection.MaskRCNN_ResNet50_FPN_Weights,
             "maskrcnn_resnet50_fpn_v2": detection.MaskRCNN_ResNet50_FPN_V2_Weights,
             "keypointrcnn_resnet50_fpn": detection.KeypointRCNN_ResNet50_FPN_Weights}
    assert {e.name for e in INSTANCE_ENTRIES} == set(enums)
    for entry in INSTANCE_ENTRIES:
        weights = enums[entry.name].COCO_V1
        assert entry.files[0].url == weights.url and entry.meta["num_params"] == weights.meta["num_params"]
        assert list(entry.meta["categories"]) == list(weights.meta["categories"])
        assert entry.meta["kind"] == "instances" and "BSD-3-Clause" in entry.license
    assert list(catalog().get("maskrcnn_resnet50_fpn").meta["categories"]) == list(_COCO_CATEGORIES)
    kp = catalog().get("keypointrcnn_resnet50_fpn").meta["keypoint_names"]
    assert list(kp) == detection.KeypointRCNN_ResNet50_FPN_Weights.COCO_V1.meta["keypoint_names"]


def test_v2_builds_the_published_layout():
    # v2's own builder and ours hold the same keys and shapes (BatchNorm2d in the backbone and heads)
    from torchvision.models.detection import maskrcnn_resnet50_fpn_v2

    from engine.features.segment.instances import build_instance_network

    with torch.device("meta"):
        ours = build_instance_network("maskrcnn_resnet50_fpn_v2").state_dict()
        theirs = maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None).state_dict()
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in theirs.items()}
