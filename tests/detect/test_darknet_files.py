"""Darknet cfg parsing, .weights reading/writing, names files: the bad-input messages and
the layer semantics that OpenCV's oracle does not isolate (maxpool padding, route groups)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.features.detect.backends.darknet.cfg import DarknetCfgError, parse_cfg, parse_cfg_text
from engine.features.detect.backends.darknet.layers import MaxPool, Route
from engine.features.detect.backends.darknet.model import DarknetModel
from engine.features.detect.backends.darknet.random_weights import calibrated_random_model
from engine.features.detect.backends.darknet.weights_file import (
    DarknetWeightsError,
    WeightsHeader,
    expected_floats,
    load_darknet_weights,
    read_header,
    write_darknet_weights,
)
from engine.features.detect.factory import check_weights_file
from engine.features.detect.names import NamesError, bundled_path, coco_names, read_names

TINY = """[net]
width=64
height=64
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
filters=21
size=1
stride=1
activation=linear

[yolo]
mask=0,1,2
anchors=10,14, 23,27, 37,58
classes=2
num=3
"""


def write(tmp_path, text, name="net.cfg"):
    path = tmp_path / name
    path.write_text(text)
    return path


# -- cfg parsing errors ---------------------------------------------------------------------
def test_unknown_layer_type_names_the_line(tmp_path):
    path = write(tmp_path, TINY.replace("[maxpool]", "[reorg3d]"))
    with pytest.raises(DarknetCfgError, match=r"net\.cfg:14: unknown or unsupported layer type \[reorg3d\]"):
        parse_cfg(path)


def test_unknown_key_names_the_line_and_key(tmp_path):
    path = write(tmp_path, TINY.replace("filters=8", "filterz=8"))
    with pytest.raises(DarknetCfgError, match=r"net\.cfg:8: unknown key 'filterz' in \[convolutional\]"):
        parse_cfg(path)


def test_unsupported_value_of_a_known_key(tmp_path):
    with pytest.raises(DarknetCfgError, match=r":12: .*activation='tanh' is not supported"):
        parse_cfg(write(tmp_path, TINY.replace("activation=leaky", "activation=tanh")))
    with pytest.raises(DarknetCfgError, match=r"dilation=2 is not supported"):
        parse_cfg(write(tmp_path, TINY.replace("pad=1\n", "pad=1\ndilation=2\n")))


def test_training_keys_and_comments_are_accepted():
    cfg = parse_cfg_text(TINY.replace("[net]", "[net]\n# comment\nlearning_rate=0.001 ; trailing\nmosaic=1"))
    assert [s.kind for s in cfg.layers] == ["convolutional", "maxpool", "convolutional", "yolo"]
    assert cfg.width == 64 and cfg.num_classes == 2


def test_structural_errors_name_the_line():
    with pytest.raises(DarknetCfgError, match="first section must be"):
        parse_cfg_text("[convolutional]\nfilters=1\n")
    with pytest.raises(DarknetCfgError, match=r"<cfg>:3: expected 'key=value'"):
        parse_cfg_text("[net]\nwidth=64\nnonsense\n")
    with pytest.raises(DarknetCfgError, match=r"filters=x' is not an integer|filters='x' is not an integer"):
        DarknetModel(parse_cfg_text(TINY.replace("filters=8", "filters=x")))


def test_model_level_errors_name_the_line():
    bad_route = TINY.replace("[maxpool]\nsize=2\nstride=2", "[route]\nlayers=-5")
    with pytest.raises(DarknetCfgError, match=r"<cfg>:15: \[route\] layers refers to layer -5"):
        DarknetModel(parse_cfg_text(bad_route))
    with pytest.raises(DarknetCfgError, match=r"3 anchors x \(5 \+ 3 classes\) = 24 are needed"):
        DarknetModel(parse_cfg_text(TINY.replace("classes=2", "classes=3")))
    with pytest.raises(DarknetCfgError, match=r"mask index 5 is outside the 3 anchors"):
        DarknetModel(parse_cfg_text(TINY.replace("mask=0,1,2", "mask=0,1,5")))
    with pytest.raises(DarknetCfgError, match="multiple of 32"):
        DarknetModel(parse_cfg_text(TINY.replace("width=64", "width=70")))


@pytest.mark.parametrize("name", ["yolov3-tiny", "yolov3", "yolov4-tiny", "yolov4", "yolov4-csp", "yolov7-tiny"])
def test_official_cfgs_parse_and_have_the_published_weight_sizes(name):
    published = {"yolov3-tiny": 35_434_956, "yolov3": 248_007_048, "yolov4-tiny": 24_251_276,
                 "yolov4": 257_717_640}
    with torch.device("meta"):
        model = DarknetModel(parse_cfg(bundled_path(f"{name}.cfg")))
    assert model.num_classes == 80 and len(model.heads) in (2, 3)
    if name in published:
        assert 20 + 4 * expected_floats(model) == published[name]
    if name in ("yolov4-csp", "yolov7-tiny"):
        assert all(h.new_coords and h.scale_x_y == 2.0 for h in model.heads)


# -- .weights files -------------------------------------------------------------------------
def test_header_versions():
    new = WeightsHeader(0, 2, 5, 32_013_312_000)
    assert read_header(new.pack() + b"\0" * 8) == new and new.nbytes == 20
    old = WeightsHeader(0, 1, 0, 1234)  # major*10+minor < 2: 32-bit "seen"
    assert read_header(old.pack()) == old and old.nbytes == 16
    with pytest.raises(DarknetWeightsError, match="shorter than the header"):
        read_header(b"\0" * 10)


def test_weights_roundtrip_in_file_order(tmp_path):
    cfg = parse_cfg_text(TINY)
    model = calibrated_random_model(cfg, seed=5)
    path = tmp_path / "tiny.weights"
    size = write_darknet_weights(model, path, WeightsHeader(0, 1, 0, 7))
    assert size == 16 + 4 * expected_floats(model) == path.stat().st_size
    # The first conv has batch norm: beta, gamma, mean, var, then the kernel.
    floats = np.fromfile(path, dtype="<f4", offset=16)
    bn = model.layers[0].bn
    np.testing.assert_array_equal(floats[0:8], bn.bias.detach().numpy())
    np.testing.assert_array_equal(floats[8:16], bn.weight.detach().numpy())
    np.testing.assert_array_equal(floats[16:24], bn.running_mean.numpy())
    np.testing.assert_array_equal(floats[24:32], bn.running_var.numpy())
    np.testing.assert_array_equal(floats[32:32 + 8 * 27], model.layers[0].conv.weight.detach().numpy().ravel())
    loaded = DarknetModel(cfg)
    header = load_darknet_weights(loaded, path)
    assert header.seen == 7
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        expected = model.eval()(x)[0]
        unfused = loaded.eval()(x)[0]
        fused = loaded.fuse()(x)[0]
    torch.testing.assert_close(unfused, expected)
    torch.testing.assert_close(fused, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("delta", [-4, +4, -1000])
def test_wrong_weights_size_reports_expected_and_actual_bytes(tmp_path, delta):
    cfg_path = write(tmp_path, TINY)
    model = DarknetModel(parse_cfg(cfg_path))
    good = tmp_path / "good.weights"
    expected = write_darknet_weights(model, good)
    data = good.read_bytes()
    bad = tmp_path / "bad.weights"
    bad.write_bytes(data[:delta] if delta < 0 else data + b"\0" * delta)
    relation = "too short" if delta < 0 else "too long"
    with pytest.raises(DarknetWeightsError, match=rf"{relation} .*expected {expected:,} bytes .*got {expected + delta:,} bytes"):
        load_darknet_weights(DarknetModel(parse_cfg(cfg_path)), bad)


def test_catalog_validator_rejects_the_weights_of_another_model(darknet_weights):
    _, v3_tiny = darknet_weights("yolov3-tiny")
    check_weights_file("yolov3-tiny.cfg", v3_tiny)  # fits
    with pytest.raises(DarknetWeightsError, match=r"does not fit yolov4-tiny.cfg: expected 24,251,276 bytes, got 35,434,956"):
        check_weights_file("yolov4-tiny.cfg", v3_tiny)


# -- names ----------------------------------------------------------------------------------
def test_names_files(tmp_path):
    assert coco_names()[:3] == ("person", "bicycle", "car") and len(coco_names()) == 80
    path = tmp_path / "two.names"
    path.write_text("cat\ndog\n\n")
    assert read_names(path, expected=2) == ("cat", "dog")
    with pytest.raises(NamesError, match=r"lists 2 classes, but the model predicts 80"):
        read_names(path, expected=80)
    with pytest.raises(NamesError, match="names file not found"):
        read_names(tmp_path / "missing.names")


# -- layer semantics --------------------------------------------------------------------------
def reference_maxpool(x: np.ndarray, size: int, stride: int, padding: int) -> np.ndarray:
    """Darknet's loop: window origin at -padding/2, out-of-image cells ignored."""
    c, h, w = x.shape
    oh, ow = (h + padding - size) // stride + 1, (w + padding - size) // stride + 1
    off = -(padding // 2)
    out = np.full((c, oh, ow), -np.inf, np.float32)
    for i in range(oh):
        for j in range(ow):
            for di in range(size):
                for dj in range(size):
                    y, xx = off + i * stride + di, off + j * stride + dj
                    if 0 <= y < h and 0 <= xx < w:
                        out[:, i, j] = np.maximum(out[:, i, j], x[:, y, xx])
    return out


@pytest.mark.parametrize("size,stride,padding,hw", [
    (2, 2, 1, (6, 6)), (2, 2, 1, (7, 5)),   # tiny models' downsampling, odd sizes too
    (2, 1, 1, (5, 6)),                      # yolov3-tiny's stride-1 pool: pads right/bottom only
    (5, 1, 4, (6, 7)), (9, 1, 8, (4, 4)),   # SPP (size > stride, larger than the map)
    (3, 2, 2, (7, 8)),
])
def test_maxpool_matches_darknet(size, stride, padding, hw):
    x = np.random.default_rng(0).normal(size=(2, *hw)).astype(np.float32) - 5  # all negative: padding must not win
    ours = MaxPool(size, stride, padding)(torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_array_equal(ours, reference_maxpool(x, size, stride, padding))


def test_route_groups_take_the_chosen_slice():
    a = torch.arange(8.0).reshape(1, 4, 1, 2)
    b = torch.arange(100.0, 104.0).reshape(1, 2, 1, 2)
    out = Route([0, 1], groups=2, group_id=1)([a, b])
    assert out[0, :, 0, 0].tolist() == [4.0, 6.0, 102.0]
