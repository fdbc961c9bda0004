"""Every cfg value is validated where it is parsed, with file:line; grayscale cfgs run."""

from __future__ import annotations

import pytest
import torch

from engine.features.detect.backends.darknet.cfg import DarknetCfgError, parse_cfg, parse_cfg_text
from engine.features.detect.backends.darknet.model import DarknetModel
from tests.hardening.conftest import tiny_cfg_text

_MAXPOOL = """[net]
width=64
height=64

[maxpool]
size={size}
stride={stride}
padding={padding}

[convolutional]
filters=14
size=1
activation=linear

[yolo]
mask=0,1
anchors=10,14, 23,27
classes=2
num=2
"""


@pytest.mark.parametrize("size, stride, padding, line, fragment", [
    (2, 0, 1, 7, "stride=0: must be between 1"),
    (0, 2, 1, 6, "size=0: must be between 1"),
    (-5, 2, 1, 6, "size=-5: must be between 1"),
    (2, 2, -3, 8, "padding=-3: must be between 0"),
    (2, 2, "1.5", 8, "padding='1.5' is not an integer"),
])
def test_maxpool_values(size, stride, padding, line, fragment):
    text = _MAXPOOL.format(size=size, stride=stride, padding=padding)
    with pytest.raises(DarknetCfgError) as info:
        parse_cfg_text(text, source="pool.cfg")
    assert str(info.value).startswith(f"pool.cfg:{line}: [maxpool]")
    assert fragment in str(info.value)


@pytest.mark.parametrize("old, new, line, fragment", [
    ("pad=1\nactivation=leaky", "pad=1\ngroups=0\nactivation=leaky", 12, "groups=0: must be at least 1"),
    ("stride=2\n", "stride=-2\n", 10, "stride=-2"),
    ("pad=1\nactivation=leaky", "padding=-4\nactivation=leaky", 11, "padding=-4"),
    ("channels=3", "channels=4", 4, "1 (grayscale) or 3 (colour)"),
    ("channels=3", "channels=0", 4, "channels=0"),
    ("width=64", "width=70016", 2, "CNN_STUDIO_MAX_NETWORK_SIDE"),
    ("anchors=10,14, 23,27", "anchors=10,nan, 23,27", 23, "not a finite number"),
    ("classes=2", "classes=-1", 24, "at least one class"),
])
def test_convolutional_net_and_yolo_values(old, new, line, fragment):
    text = tiny_cfg_text()
    assert old in text
    with pytest.raises(DarknetCfgError) as info:
        parse_cfg_text(text.replace(old, new, 1), source="mine.cfg")
    assert str(info.value).startswith(f"mine.cfg:{line}:"), str(info.value)
    assert fragment in str(info.value)


def test_a_grayscale_cfg_builds_loads_and_detects(tmp_path):
    from engine.features.detect.backends.darknet.detector import YoloDetector
    from engine.features.detect.backends.darknet.random_weights import synthetic_image, write_random_weights

    cfg = tmp_path / "gray.cfg"
    cfg.write_text(tiny_cfg_text(channels=1))
    weights = tmp_path / "gray.weights"
    write_random_weights(cfg, weights, seed=3)
    model = DarknetModel(parse_cfg(cfg))
    assert model.conv_blocks()[0].conv.in_channels == 1
    # A 3-channel RGB batch goes in like for any other model; the luma reaches the first conv.
    x = torch.rand(1, 3, 64, 64)
    gray = 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    model.eval()
    with torch.no_grad():
        assert torch.allclose(model(x)[0], model(gray)[0], atol=1e-6)
    names = tmp_path / "gray.names"
    names.write_text("a\nb\n")
    detector = YoloDetector.from_files(cfg, weights, names, device="cpu")
    found = detector.detect(synthetic_image(120, 160, seed=2))
    assert found.boxes.shape[1] == 4


def test_the_weights_size_is_checked_before_the_model_is_built(tmp_path, monkeypatch):
    from engine.features.detect.backends.darknet.weights_file import DarknetWeightsError, check_weights_size

    cfg = tmp_path / "wide.cfg"
    # Parameters just under the limit, but a one-kilobyte weights file: refused by size alone.
    cfg.write_text(tiny_cfg_text().replace("filters=8\n", "filters=90000\n", 1))
    weights = tmp_path / "small.weights"
    weights.write_bytes(b"\0" * 1024)
    with pytest.raises(DarknetWeightsError, match=r"too short .* expected [\d,]+ bytes"):
        check_weights_size(parse_cfg(cfg), weights)


def test_many_sections_are_numbered_in_order():
    body = "".join("[maxpool]\nsize=1\nstride=1\n\n" for _ in range(25_000))
    cfg = parse_cfg_text("[net]\nwidth=64\nheight=64\n\n" + body, source="long.cfg")
    assert [s.index for s in cfg.layers[:3]] == [0, 1, 2]
    assert cfg.layers[-1].index == 24_999 and cfg.layers[-1].line == 5 + 4 * 24_999


def test_a_cfg_over_the_size_limit_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_MAX_CFG_BYTES", "2000")
    cfg = tmp_path / "padded.cfg"
    cfg.write_text(tiny_cfg_text() + "#" * 5000)
    with pytest.raises(DarknetCfgError, match="larger than the limit.*CNN_STUDIO_MAX_CFG_BYTES"):
        parse_cfg(cfg)
