"""The Segment feature's engine: catalog, weights, the label map against torchvision's own
pipeline, the live task on a real photo, person mode and bad input."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
import torch

from engine.features.segment.catalog import PERSON, VOC_CLASSES
from engine.features.segment.model import SegmentWeightsError, build_network, load_weights
from engine.features.segment.person import Background, BackgroundImageError, PersonCompositor
from engine.features.segment.task import SegmentationTask, SegmentSettings
from engine.models.cache import WeightsCache, WeightsError
from engine.models.catalog import catalog
from engine.runtime.stabilise import flicker
from engine.runtime.worker import running_worker
from tests.segment.conftest import LRASPP
from tests.segment.weights import _weights_enum, calibrated_state, photo_bgr, published_network, reference_labels, save_state

NAMES = ("lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large", "deeplabv3_resnet50", "fcn_resnet50")


def _plain(name: str) -> str:
    return name.lower().replace("_", "").replace(" ", "").replace("/", "")


def test_the_catalog_lists_torchvisions_published_weights():
    entries = {e.name: e for e in catalog().entries("segment") if e.meta.get("kind") != "instances"}
    assert tuple(entries) == NAMES and catalog().default("segment").name == LRASPP
    for name, entry in entries.items():
        published = _weights_enum(name).DEFAULT
        assert entry.files[0].url == published.url
        assert [_plain(c) for c in entry.meta["categories"]] == [_plain(c) for c in published.meta["categories"]]
        assert entry.meta["num_params"] == published.meta["num_params"]
        assert "BSD-3-Clause" in entry.license and entry.meta["short_side"] == 520
    assert len(VOC_CLASSES) == 21 and VOC_CLASSES[PERSON] == "person"


@pytest.mark.parametrize("photo", ["astronaut", "coffee"])
def test_the_label_map_is_torchvisions_own(segment_cache, photo):
    """Ours (catalog entry -> cache -> Segmenter) vs torchvision's weights' transforms,
    bilinear resize of the logits to the photo and argmax, on a real photo."""
    image = photo_bgr(photo)
    segmenter = catalog().get(LRASPP).build(segment_cache, "cpu")
    ours = segmenter.segment(image)
    network = published_network(LRASPP)
    network.load_state_dict(torch.load(segment_cache.path(catalog().get(LRASPP)), weights_only=True))
    theirs = reference_labels(network, image, LRASPP)
    assert ours.labels.shape == image.shape[:2] and ours.labels.dtype == np.uint8
    assert (ours.labels == theirs).mean() >= 0.98
    # the calibration gives structure: several classes, each a real share of the picture
    assert (np.bincount(theirs.ravel(), minlength=21) / theirs.size >= 0.01).sum() >= 4
    assert ours.areas.sum() == image.shape[0] * image.shape[1]
    assert ((ours.probability > 0) & (ours.probability <= 1)).all()
    assert ours.counts() == {VOC_CLASSES[i]: int(n) for i, n in enumerate(np.bincount(ours.labels.ravel(), minlength=21)) if n}


def test_a_published_file_with_its_auxiliary_head_loads_and_is_exact(tmp_path):
    """DeepLabV3's published files carry the training-only auxiliary head; it is skipped."""
    name = "deeplabv3_mobilenet_v3_large"
    image = photo_bgr("chelsea")
    state = calibrated_state(name, image)
    assert any(k.startswith("aux_classifier.") for k in state)
    path = save_state(state, tmp_path / "deeplab.pth")
    cache = WeightsCache(tmp_path / "models")
    cache.import_file(catalog().get(name), path)
    ours = catalog().get(name).build(cache, "cpu").segment(image)
    network = published_network(name)
    network.load_state_dict(state)
    assert (ours.labels == reference_labels(network, image, name)).mean() >= 0.98


def test_weights_of_another_architecture_are_refused(tmp_path, lraspp_file):
    entry = catalog().get("deeplabv3_mobilenet_v3_large")
    cache = WeightsCache(tmp_path / "models")
    with pytest.raises(WeightsError, match="does not fit deeplabv3_mobilenet_v3_large.*key"):
        cache.import_file(entry, lraspp_file)
    assert not cache.is_installed(entry)
    with pytest.raises(SegmentWeightsError, match=r"does not fit deeplabv3_mobilenet_v3_large.*models fetch"):
        load_weights(build_network("deeplabv3_mobilenet_v3_large"), lraspp_file, model_name=entry.name)
    pickled = tmp_path / "pickled.pth"
    torch.save({"model": threading.Lock}, pickled)  # an arbitrary object: never unpickled
    with pytest.raises(SegmentWeightsError):
        load_weights(build_network(LRASPP), pickled, model_name=LRASPP)


def test_the_live_task_labels_a_real_frame_on_the_worker(segment_cache):
    from engine.core.frame import Frame

    image = photo_bgr("coffee")
    results, events, done = [], [], threading.Event()

    def on_result(result):
        results.append(result)
        done.set()

    task = SegmentationTask(catalog().get(LRASPP), SegmentSettings(), cache=segment_cache)
    with running_worker(on_result, task, device="cpu", on_event=events.append) as worker:
        worker.submit(Frame(image, 0, 0.0, "photo"))
        assert done.wait(60), events
    result = results[-1].result
    expected = catalog().get(LRASPP).build(segment_cache, "cpu").segment(image)
    assert result.mode == "classes" and result.model == LRASPP
    assert np.array_equal(result.segmentation.labels, expected.labels)
    assert result.person_fraction == pytest.approx(expected.fractions()[PERSON])


def _frames(n: int) -> list:
    from engine.core.frame import Frame
    image = cv2.resize(photo_bgr("astronaut"), (320, 240))
    return [Frame(image, i, float(i), "cam") for i in range(n)]


def test_person_mode_composes_over_a_colour_and_a_picture(segment_cache, tmp_path):
    from engine.runtime.sync import run_task

    picture = np.zeros((50, 80, 3), np.uint8)
    picture[:, :, 2] = 255  # red
    path = tmp_path / "back.png"
    cv2.imwrite(str(path), picture)
    task = SegmentationTask(catalog().get(LRASPP), SegmentSettings(mode="person", person_side=96,
                            background=Background(kind="image", image=str(path))), cache=segment_cache)
    results = [r.result for r in run_task(task, _frames(3))]
    last = results[-1]
    frame = _frames(1)[0].image
    assert last.mode == "person" and last.image.shape == frame.shape and last.segmentation is None
    alpha = cv2.resize(last.mask, (320, 240)).astype(np.float32)[..., None] / 255
    expected = alpha * frame + (1 - alpha) * np.array([0, 0, 255], np.float32)
    assert np.abs(last.image.astype(np.float32) - expected).max() <= 2
    assert 0.0 < last.person_fraction < 1.0


def test_the_mask_is_smooth_upsampled_and_steadier_with_the_stabiliser():
    rng = np.random.default_rng(0)
    small = cv2.resize(photo_bgr("astronaut"), (128, 96))
    truth = np.zeros((96, 128), np.float32)
    truth[:, :64] = 1.0

    def run(stabilise: bool) -> list:
        compositor = PersonCompositor()
        masks = []
        for _ in range(12):
            noisy = np.clip(truth + rng.normal(0, 0.25, truth.shape).astype(np.float32), 0, 1)
            masks.append(compositor.mask(noisy, small, softness=1.5, stabilise=stabilise))
        return masks

    plain, steady = run(False), run(True)
    assert flicker(steady[2:]) < 0.7 * flicker(plain[2:])
    compositor = PersonCompositor()
    frame = cv2.resize(small, (640, 480))
    out = compositor.compose(frame, steady[-1], Background(kind="colour", colour=(255, 0, 0)))
    assert np.abs(out[:, :200].astype(int) - frame[:, :200]).mean() < 20  # person kept
    assert np.abs(out[:, 440:].astype(int) - [255, 0, 0]).mean() < 20  # background replaced
    edge = out[240, 300:340, 0].astype(int)  # a soft ramp across the edge, not a step
    assert len(np.unique(edge)) > 5


@pytest.mark.parametrize("content", [None, b"not a picture at all"])
def test_a_background_picture_that_cannot_be_read_is_refused_and_the_old_one_kept(segment_cache, tmp_path, content):
    path = tmp_path / "back.png"
    if content is not None:
        path.write_bytes(content)
    bad = SegmentSettings(mode="person", background=Background(kind="image", image=str(path)))
    with pytest.raises(BackgroundImageError, match="back.png"):
        SegmentationTask(catalog().get(LRASPP), bad, cache=segment_cache)
    task = SegmentationTask(catalog().get(LRASPP), SegmentSettings(mode="person"), cache=segment_cache)
    with pytest.raises(BackgroundImageError, match="background picture"):
        task.configure(bad)
    assert task.settings.background.kind == "blur"
