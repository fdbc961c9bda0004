"""D-FINE files: the catalog entries install and build from the two hub files; other
spellings of the same keys load; bad input (a tensor of the wrong shape, inconsistent or
unsupported settings, a wrong input tensor, a wrong file imported) gets one line naming
what is wrong."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import skimage.data
import torch
import transformers  # noqa: E402, F401  (the oracle, in the test extra: missing, these tests fail rather than skip)
from safetensors.torch import load_file, save_file

from engine.core.errors import BadFormat, Unsupported, UserError
from engine.features.detect.backends.detr import hf_folder
from engine.features.detect.backends.dfine.config import parse_config
from engine.features.detect.backends.dfine.loading import build_dfine
from engine.features.detect.model_dir import open_model_dir
from tests.detect.dfine_reference import save_reference, tiny_config


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("dfine-tiny")
    save_reference(tiny_config("three_levels", num_labels=80), path, seed=3)
    return path


def _copy(folder, tmp_path):
    target = tmp_path / "model"
    shutil.copytree(folder, target)
    return target


def _config(folder) -> dict:
    return json.loads((folder / "config.json").read_text())


def test_a_tensor_of_the_wrong_shape_is_named(folder, tmp_path):
    bad = _copy(folder, tmp_path)
    state = load_file(bad / "model.safetensors")
    key = "model.decoder.layers.0.encoder_attn.sampling_offsets.weight"
    state[key] = state[key][:-2]
    save_file(state, bad / "model.safetensors")
    with pytest.raises(hf_folder.ModelFolderError) as err:
        open_model_dir(bad)
    assert key in str(err.value) and "config.json" in str(err.value)


def test_weights_of_another_size_are_refused_naming_the_key(folder, tmp_path):
    # a config that says 3 decoder layers beside weights with 2 (class_embed.2 missing)
    bad = _copy(folder, tmp_path)
    config = _config(bad)
    config["decoder_layers"] = 4
    (bad / "config.json").write_text(json.dumps(config))
    with pytest.raises(hf_folder.ModelFolderError, match="model.decoder"):
        open_model_dir(bad)


@pytest.mark.parametrize(("change", "kind", "words"), [
    ({"encoder_in_channels": [64, 128]}, BadFormat, "encoder_in_channels has 2 entries for 3 backbone outputs"),
    ({"decoder_n_points": [3, 3]}, BadFormat, "decoder_n_points needs one value per feature level"),
    ({"d_model": "wide"}, BadFormat, "'d_model' is 'wide'"),
    ({"decoder_activation_function": "mish"}, Unsupported, "decoder_activation_function"),
    ({"decoder_method": "discrete"}, Unsupported, "decoder_method 'discrete'"),
    ({"backbone_config": {"model_type": "resnet"}}, Unsupported, "backbone 'resnet'"),
])
def test_bad_settings_get_one_line(folder, change, kind, words):
    config = {**_config(folder), **change}
    with pytest.raises(kind) as err:
        parse_config(config, "x/config.json")
    assert words in str(err.value) and "x/config.json" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_wrong_input_tensor_is_named(folder):
    model = build_dfine(_config(folder), hf_folder.read_state(folder), folder / "model.safetensors")
    with pytest.raises(BadFormat, match=r"\(1, 4, 64, 64\)"):
        model(torch.zeros(1, 4, 64, 64))


def test_transformers_in_memory_key_names_load_too(folder, tmp_path):
    """transformers 5 renames keys on load (aifi, mlp.layers, o_proj) and ties the top-level
    heads to the decoder's; a file written from its state_dict() loads to the same model."""
    from transformers import DFineForObjectDetection

    reference = DFineForObjectDetection.from_pretrained(folder).eval()
    other = tmp_path / "renamed"
    other.mkdir()
    shutil.copy(folder / "config.json", other / "config.json")
    save_file({k: v.clone().contiguous() for k, v in reference.state_dict().items()}, other / "model.safetensors")
    assert any(".aifi." in k for k in load_file(other / "model.safetensors"))
    x = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    a = build_dfine(_config(folder), hf_folder.read_state(folder), folder / "model.safetensors", course=False)
    b = build_dfine(_config(other), hf_folder.read_state(other), other / "model.safetensors", course=False)
    with torch.no_grad():
        for left, right in zip(a(x), b(x), strict=True):
            assert torch.equal(left, right)


def test_catalog_entries_install_both_files_and_build(folder, tmp_path):
    import engine.features  # noqa: F401  (installs the registry as the catalog's provider)
    from engine.models.cache import WeightsCache
    from engine.models.catalog import catalog

    entry = catalog().get("dfine-n")
    assert entry.capabilities.postprocess == "set" and entry.license == "Apache-2.0"
    assert [f.url for f in entry.files] == [
        "https://huggingface.co/ustc-community/dfine-nano-coco/resolve/main/model.safetensors",
        "https://huggingface.co/ustc-community/dfine-nano-coco/resolve/main/config.json"]
    assert len(entry.meta["categories"]) == 80
    cache = WeightsCache(tmp_path / "cache")
    with pytest.raises(UserError, match="not installed"):
        entry.builder(entry, cache)
    cache.import_file(entry, folder / "model.safetensors", "model.safetensors", force=True)
    cache.import_file(entry, folder / "config.json", "config.json", force=True)
    detector = entry.builder(entry, cache)
    found = detector.detect(np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1]))
    assert found.model == "dfine-n" and len(found.class_names) == 80


def test_a_file_of_another_kind_is_refused_on_import(folder, tmp_path):
    import engine.features  # noqa: F401
    from engine.models.cache import WeightsCache
    from engine.models.catalog import catalog

    entry = catalog().get("dfine-s")
    cache = WeightsCache(tmp_path / "cache")
    config = _config(folder)
    config["model_type"] = "rt_detr"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="not 'd_fine'"):
        cache.import_file(entry, tmp_path / "config.json", "config.json", force=True)
    save_file({"weight": torch.zeros(2)}, tmp_path / "model.safetensors")
    with pytest.raises(UserError, match="not D-FINE weights"):
        cache.import_file(entry, tmp_path / "model.safetensors", "model.safetensors", force=True)
