"""Typed capabilities of the detect entries agree with what their builders do: a declared
option is honoured, an undeclared one is refused with the capability's own message
(never dropped); and the values themselves are validated when an entry is defined."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.features.detect.backends.torchvision import build_model
from engine.features.detect.backends.yolox.random_weights import write_random_pth
from engine.features.detect.factory import load_detector
from engine.features.detect.options import CLI_FLAGS, DetectorOptions
from engine.models.cache import WeightsCache
from engine.models.catalog import Capabilities, CapabilityError, CatalogEntry, InputSize, Transforms, catalog

DETECT = [e.name for e in catalog().entries("detect")]
FULL_SIZE = {"yolov4", "yolov3"}  # 250 MB of random weights each


def _params(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in FULL_SIZE else n for n in names]


@pytest.fixture()
def installed(tmp_path, darknet_weights):
    """``installed(name) -> cache`` with random weights for the entry ``name`` imported."""
    cache = WeightsCache(tmp_path / "models")

    def install(name: str) -> WeightsCache:
        entry = catalog().get(name)
        if entry.meta.get("family") == "rt_detr":
            # The entry's builder reads the installed config: a small one keeps this fast.
            from tests.detect.detr_oracle import save_random

            folder = tmp_path / f"{name}-files"
            save_random(folder, "rt_detr_v2" if "v2" in name else "rt_detr")
            for f in entry.files:
                cache.import_file(entry, folder / f.filename)
            return cache
        if entry.meta.get("family") == "d_fine":
            from tests.detect.dfine_reference import save_reference, tiny_config

            folder = tmp_path / f"{name}-files"
            save_reference(tiny_config("three_levels", num_labels=80), folder)
            for f in entry.files:
                cache.import_file(entry, folder / f.filename, f.filename, force=True)
            return cache
        if "cfg" in entry.meta:
            _, weights = darknet_weights(name)
        elif name.startswith("yolox-"):
            weights = write_random_pth(tmp_path / entry.files[0].filename, entry.meta["architecture"])
            # not the released file (its size and digest are published): forced, as a fine-tune is
            cache.import_file(entry, weights, force=True)
            return cache
        else:
            torch.manual_seed(0)
            weights = tmp_path / entry.files[0].filename
            torch.save(build_model(entry.meta["architecture"]).state_dict(), weights)
        cache.import_file(entry, weights)
        return cache

    return install


@pytest.mark.parametrize("name", _params(DETECT))
def test_each_entry_builds_what_its_capabilities_declare(installed, name, street_image):
    entry = catalog().get(name)
    caps = entry.capabilities
    assert caps.postprocess in ("nms", "set") and caps.tracks and caps.input_size is not None
    cache = installed(name)

    detector = load_detector(name, cache=cache, device="cpu", options=DetectorOptions(conf_threshold=0.05))
    found = detector.detect(street_image)
    assert found.frame_size == (640, 480)
    # The grid view is declared exactly where detections carry their grids and cells.
    assert (bool(found.grids) and found.origins is not None) == caps.grid_view

    size = caps.input_size
    if size.adjustable:
        assert detector.input_size == size.default
        other = (size.default[0] + 2 * size.multiple, size.default[1] - size.multiple)
        resized = load_detector(name, cache=cache, device="cpu", options=DetectorOptions(input_size=other))
        assert resized.input_size == other
        odd = (size.default[0] + size.multiple // 2, size.default[1])
        with pytest.raises(CapabilityError, match=f"multiples of {size.multiple}"):
            load_detector(name, cache=cache, options=DetectorOptions(input_size=odd))
    else:
        # None: the model resizes frames itself; else the one size it runs at.
        assert detector.input_size in (None, size.default)
        with pytest.raises(CapabilityError, match=f"{name} has a fixed input size "
                                                  f"\\({size.default[0]}x{size.default[1]}"):
            load_detector(name, cache=cache, options=DetectorOptions(input_size=size.default))

    if caps.postprocess == "nms":
        tuned = load_detector(name, cache=cache, device="cpu", options=DetectorOptions(iou_threshold=0.3))
        assert tuned.iou_threshold == pytest.approx(0.3)

    for precision in ("bf16", "int8"):
        options = DetectorOptions(precision=precision)
        if precision in caps.precisions:
            built = load_detector(name, cache=cache, device="cpu", options=options)
            # Taken (it falls back to float32, with a warning, on CPUs without the kernels).
            assert built.precision in (("bfloat16", "float32") if precision == "bf16" else ("int8", "float32"))
        else:
            with pytest.raises(CapabilityError, match=f"precision {precision} is not available for {name}"):
                load_detector(name, cache=cache, options=options)

    letterboxed = DetectorOptions(letterbox=True)
    if caps.letterbox:
        assert load_detector(name, cache=cache, device="cpu", options=letterboxed).letterbox is True
    else:
        with pytest.raises(CapabilityError, match="cannot letterbox"):
            load_detector(name, cache=cache, options=letterboxed)
    if not caps.compile:
        with pytest.raises(CapabilityError, match="torch.compile"):
            load_detector(name, cache=cache, options=DetectorOptions(compile=True))
    if not caps.channels_last:
        with pytest.raises(CapabilityError, match="memory layout"):
            load_detector(name, cache=cache, options=DetectorOptions(channels_last=True))


def test_a_refused_option_is_refused_before_the_weights_are_looked_for(tmp_path):
    empty = WeightsCache(tmp_path / "models")
    with pytest.raises(CapabilityError, match="has a fixed input size"):
        load_detector("ssdlite320_mobilenet_v3_large", cache=empty, options=DetectorOptions(input_size=(320, 320)))


def test_set_prediction_models_take_no_iou_threshold():
    caps = Capabilities(input_size=InputSize((640, 640)), postprocess="set", tracks=True)
    DetectorOptions(conf_threshold=0.4).check(caps, "toy-detr")
    refused = r"toy-detr uses no non-maximum suppression \(it predicts a set of boxes\); --iou does not apply"
    with pytest.raises(CapabilityError, match=refused):
        DetectorOptions(iou_threshold=0.5).check(caps, "toy-detr", CLI_FLAGS)


def test_input_size_rules_and_examples():
    darknet = catalog().get("yolov4-tiny").capabilities.input_size
    assert (darknet.default, darknet.adjustable, darknet.multiple) == ((416, 416), True, 32)
    assert darknet.problem((608, 352)) is None
    assert "multiples of 32" in darknet.problem((500, 500)) and darknet.example((500, 500)) == "480x480 or 512x512"
    assert darknet.problem((16, 32)) is not None  # below the smallest side
    bounded = InputSize((64, 64), adjustable=True, multiple=16, min_side=32, max_side=128)
    assert bounded.example((200, 8)) == "128x32" and bounded.problem((144, 64)) is not None
    assert InputSize((320, 320)).problem((320, 320)) is None and InputSize((320, 320)).problem((416, 416))


@pytest.mark.parametrize("bad, message", [
    (lambda: Capabilities(precisions=("bf16",)), "start with fp32"),
    (lambda: Capabilities(precisions=("fp32", "fp8")), "start with fp32"),
    (lambda: Capabilities(postprocess="soft-nms"), "postprocess must be one of nms, set"),
    (lambda: Capabilities(tracks=True), "tracks needs a detector"),
    (lambda: Capabilities(grid_view=True), "need an input_size"),
    (lambda: Capabilities(input_size=(416, 416)), "must be an InputSize"),
    (lambda: InputSize((500, 500), adjustable=True, multiple=32), "breaks its own rule"),
    (lambda: InputSize((0, 320)), "positive pixels"),
    (lambda: DetectorOptions(precision="fp16"), "not one of auto, fp32, bf16, int8"),
    (lambda: DetectorOptions(conf_threshold=1.5), "between 0 and 1"),
    (lambda: CatalogEntry("toy", "detect", "Toy", (), "none", "here", transforms=Transforms(size=(320, 320)),
                          capabilities=Capabilities(input_size=InputSize((416, 416)))), "disagree"),
])
def test_capabilities_are_validated_when_defined(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()


def test_entries_without_capabilities_can_do_nothing_more():
    plain = CatalogEntry("toy", "style", "Toy", (), "none", "here")
    assert plain.capabilities == Capabilities() and not plain.capabilities.adjustable_input
    assert plain.capabilities.precisions == ("fp32",) and plain.capabilities.postprocess is None
    with pytest.raises(CapabilityError, match="toy has a fixed input size; input size is for"):
        DetectorOptions(input_size=(64, 64)).check(plain.capabilities, "toy")
    DetectorOptions().check(plain.capabilities, "toy")  # the defaults are always possible
    assert np.all([e.capabilities.postprocess in ("nms", "set") for e in catalog().entries("detect")])
    # set prediction (DETR family) has no grid of cells and anchors to show
    assert not any(e.capabilities.grid_view for e in catalog().entries("detect") if e.capabilities.postprocess == "set")
