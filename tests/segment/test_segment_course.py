"""What the course teaches, from the engine: the decoder's stages recorded in the live
task's own forward (each preview at its stage's resolution, the label map unchanged) and
seg-CAM (Grad-CAM of a class region) against a plain autograd computation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.core.frame import Frame
from engine.features.segment.cam import cam_layers, seg_cam
from engine.features.segment.catalog import PERSON
from engine.features.segment.model import input_size, resize_like_torchvision
from engine.features.segment.stages import decoder_path, decoder_views
from engine.features.segment.task import SegmentationTask, SegmentSettings
from engine.models.catalog import catalog
from engine.runtime.sync import run_task
from tests.segment.conftest import LRASPP
from tests.segment.weights import photo_bgr


@pytest.fixture()
def segmenter(segment_cache):
    return catalog().get(LRASPP).build(segment_cache, "cpu")


@pytest.fixture(scope="module")
def image():
    return cv2.resize(photo_bgr("astronaut"), (320, 240))


def test_decoder_views_show_each_stage_at_its_resolution(segmenter, image):
    logits, views = decoder_views(segmenter, image, 256)
    assert [v.stage for v in views] == decoder_path(segmenter, image, 256)
    for view in views:
        w, h = view.stage.size
        assert view.preview.shape == (h, w, 3) and view.preview.dtype == np.uint8
    # the logits are the plain forward's, and the last preview is the label map in the class colours
    assert torch.equal(logits, segmenter.logits(image, 256))
    from engine.features.segment.render import palette_bgr
    labels = segmenter.from_logits(logits, (320, 240)).labels
    assert np.array_equal(views[-1].preview, palette_bgr(256)[labels])
    assert views[2].stage.name == "head logits" and views[2].stage.op == "bilinear"


def _reference_cam(segmenter, image, class_id, layer, side):
    """Grad-CAM written out plainly: retain_grad on the layer's output, backward of the region's summed logit."""
    network = segmenter.network
    h, w = image.shape[:2]
    size = input_size(w, h, side)
    saved = {}

    def keep(_m, _i, out):
        out.retain_grad()
        saved["a"] = out

    hook = dict(network.named_modules())[layer].register_forward_hook(keep)
    try:
        with torch.inference_mode():
            x, _ = segmenter._resolver(resize_like_torchvision(image, size))
        with torch.enable_grad():
            logits = network(x.clone().requires_grad_(True))["out"]
            region = (logits[0].argmax(0) == class_id).float()
            (logits[0, class_id] * region).sum().backward()
    finally:
        hook.remove()
    a = saved["a"]
    alpha = a.grad.mean(dim=(2, 3))[0]
    cam = torch.clamp((alpha[:, None, None] * a.detach()[0]).sum(0), min=0)
    heat = F.interpolate(cam[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
    return (heat / heat.max()).numpy(), int(region.sum())


def test_seg_cam_equals_grad_cam_written_out(segmenter, image):
    labels = segmenter.segment(image, 256).labels
    present = [c for c in np.unique(labels).tolist() if c != 0]
    class_id = present[0]
    layers = cam_layers(LRASPP)
    assert layers == ["backbone.16", "backbone.15", "backbone.14"]
    for layer in layers[:2]:
        result = seg_cam(segmenter, image, class_id, layer, 256)
        expected, region = _reference_cam(segmenter, image, class_id, layer, 256)
        assert result.region == region > 0
        assert result.heat.shape == (240, 320) and float(result.heat.max()) == pytest.approx(1.0)
        assert result.heat.min() >= 0
        np.testing.assert_allclose(result.heat, expected, atol=1e-4)
        assert result.layer_size == (22, 16)  # stride 16 on the 341x256 input (sides rounded up)
    # a class that is nowhere has no map (a flat grey picture has few classes)
    flat = np.full((240, 320, 3), 128, np.uint8)
    absent = next(c for c in range(1, 21) if c not in np.unique(segmenter.logits(flat, 256)[0].argmax(0)).tolist())
    none = seg_cam(segmenter, flat, absent, "backbone.16", 256)
    assert none.heat is None and none.region == 0
    with pytest.raises(ValueError, match="no layer 'backbone.99'"):
        seg_cam(segmenter, image, class_id, "backbone.99", 256)


def test_the_live_task_gives_stages_and_cam_and_the_same_labels(segmenter, image):
    frame = Frame(image, 0, 0.0, "photo")
    plain = next(iter(run_task(SegmentationTask(segmenter, SegmentSettings(short_side=256)), [frame]))).result
    task = SegmentationTask(segmenter, SegmentSettings(short_side=256, stages=True, cam_class=PERSON))
    assert task.needs_grad
    taught = next(iter(run_task(task, [frame]))).result
    assert np.array_equal(taught.segmentation.labels, plain.segmentation.labels)
    assert [v.stage.name for v in taught.stages][-1] == "logits at the frame"
    assert taught.cam is not None and taught.cam.class_id == PERSON and taught.cam.layer == "backbone.16"
    assert plain.stages == () and plain.cam is None
    assert not SegmentationTask(segmenter, SegmentSettings()).needs_grad
