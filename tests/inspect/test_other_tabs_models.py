"""Models of the other features are inspectable: each feature declares them in its
``Feature.inspectables`` and the zoo asks the registry."""

from __future__ import annotations

import logging

import pytest
import torch

from engine.features import registry as reg
from engine.features.inspect.extra_models import extra_specs
from engine.features.inspect.layer_table import build_layer_table
from engine.features.inspect.zoo import load_model, model_names
from tests.registry.plugins import plugin_folder, write_feature  # noqa: F401


def test_vgg19_of_the_style_tab_is_in_the_zoo():
    import torchvision

    assert "vgg19" in model_names()
    model = load_model("vgg19", untrained=True)
    assert model.spec.title == "VGG-19 (Style tab)" and model.spec.family == "style" and len(model.spec.categories) == 1000
    table = build_layer_table(model.module, (3, 64, 64), "vgg19")
    assert table.total_params == torchvision.models.get_model_weights("vgg19").DEFAULT.meta["num_params"]


def test_the_other_features_models_come_in_tab_order():
    assert [(s.name, s.family) for s in extra_specs()] == [("yolov3_tiny", "detect"), ("facenet", "faces"), ("vgg19", "style")]


def test_a_failing_inspectable_is_skipped(plugin_folder, caplog):
    write_feature(plugin_folder, "netsfeat", '''
        FEATURE = Feature(key="nets", title="Nets", inspectables=(
            "netsfeat.nets:broken", "netsfeat.absent:spec", "netsfeat.nets:not_a_spec", "netsfeat.nets:unbuildable",
            "netsfeat.nets:good"))
    ''')
    (plugin_folder / "netsfeat" / "nets.py").write_text(
        "from engine.models.catalog import Transforms\nfrom engine.models.inspectable import ModelSpec\n"
        "def broken():\n    raise RuntimeError('half-written package')\n"
        "def not_a_spec():\n    return 'vgg19'\n"
        "def unbuildable():\n    return None\n"
        "def good():\n    return ModelSpec(name='good', title='Good', build=lambda: None,\n"
        "                     transforms=Transforms(size=(8, 8), colour=\"GRAY\", mean=(0.0,), std=(1.0,)))\n")
    reg.reload(env={"CNN_STUDIO_FEATURES": "netsfeat"})
    with caplog.at_level(logging.WARNING, logger="engine.features.inspect.extra_models"):
        specs = extra_specs()
    assert [s.name for s in specs] == ["yolov3_tiny", "facenet", "vgg19", "good"]
    assert specs[-1].title == "Good (Nets tab)"
    assert "half-written package" in caplog.text and "netsfeat.absent failed to import" in caplog.text
    assert "returned a str, not a ModelSpec" in caplog.text and "unbuildable" not in caplog.text


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
