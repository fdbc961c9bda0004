"""Models of the other tabs are inspectable when their packages are installed."""

from __future__ import annotations

import pytest
import torch

from engine.features.inspect.extra_models import ADAPTERS, extra_specs
from engine.features.inspect.layer_table import build_layer_table
from engine.features.inspect.zoo import load_model, model_names


def test_vgg19_of_the_style_tab_is_in_the_zoo():
    import torchvision

    assert "vgg19" in model_names()
    model = load_model("vgg19", untrained=True)
    table = build_layer_table(model.module, (3, 64, 64), "vgg19")
    assert table.total_params == torchvision.models.get_model_weights("vgg19").DEFAULT.meta["num_params"]


def test_a_failing_adapter_is_skipped(monkeypatch, caplog):
    def broken():
        raise RuntimeError("half-written package")

    def absent():
        raise ImportError("no module named engine.nothing")

    monkeypatch.setattr("engine.features.inspect.extra_models.ADAPTERS", [broken, absent, *ADAPTERS])
    names = [s.name for s in extra_specs()]
    assert "broken" not in names and len(names) == len([a for a in ADAPTERS if _builds(a)])


def _builds(adapter) -> bool:
    try:
        return adapter() is not None
    except Exception:
        return False


@pytest.mark.parametrize("name, side, shape", [("yolov3_tiny", 160, None), ("facenet", 160, (512,))])
def test_detect_and_faces_models_build_with_a_layer_table(name, side, shape):
    assert name in model_names()  # the Detect and Faces packages ship with the app
    model = load_model(name, untrained=True)
    table = build_layer_table(model.module, (3, side, side), name)
    assert table.total_params == sum(p.numel() for p in model.module.parameters())
    assert table.spatial_rows() and all(r.receptive_field is not None for r in table.spatial_rows())
    if shape is not None:
        assert table.output_shape == shape
    with torch.no_grad():
        model.module(torch.zeros(1, 3, side, side))
