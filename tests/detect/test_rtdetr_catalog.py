"""The rtdetr catalog entries: two files (config.json + model.safetensors) installed with
``models import`` semantics (``WeightsCache.import_file``, validated), built by the entry's
builder into the same detector a model folder gives; a file of another model is refused."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import transformers  # noqa: E402, F401  (the oracle, in the test extra: missing, these tests fail rather than skip)

from engine.features.detect.factory import load_detector
from engine.features.detect.model_dir import open_model_dir
from engine.features.detect.options import DetectorOptions
from engine.models.cache import WeightsCache, WeightsError
from engine.models.catalog import CapabilityError, catalog
from tests.detect.detr_oracle import save_random  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("rtdetr")
    save_random(path, "rt_detr", seed=3)
    return path


@pytest.mark.parametrize("name", ["rtdetr-r18", "rtdetrv2-s"])
def test_entries_declare_set_prediction(name):
    entry = catalog().get(name)
    assert [f.filename for f in entry.files] == ["config.json", "model.safetensors"]
    assert all(f.url.startswith("https://huggingface.co/PekingU/") for f in entry.files)
    assert entry.capabilities.postprocess == "set" and entry.capabilities.tracks
    assert "Apache-2.0" in entry.license and len(entry.meta["categories"]) == 80
    assert entry.meta["categories"][:3] == ("person", "bicycle", "car")
    with pytest.raises(CapabilityError, match="non-maximum suppression"):
        DetectorOptions(iou_threshold=0.5).check(entry.capabilities, name)


def test_imported_files_build_the_folders_detector(folder, tmp_path):
    cache = WeightsCache(root=tmp_path / "models")
    entry = catalog().get("rtdetr-r18")
    cache.import_file(entry, folder / "model.safetensors")
    cache.import_file(entry, folder / "config.json")
    assert cache.is_installed(entry)
    detector = load_detector("rtdetr-r18", cache=cache, options=DetectorOptions(conf_threshold=0.3))
    same = open_model_dir(folder, options=DetectorOptions(conf_threshold=0.3))
    frame = np.ascontiguousarray(skimage.data.coffee()[:, :, ::-1])
    a, b = detector.detect(frame), same.detect(frame)
    assert detector.name == "rtdetr-r18" and len(a) == len(b) > 0
    assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.class_ids, b.class_ids)


def test_import_refuses_files_of_another_model(tmp_path):
    cache = WeightsCache(root=tmp_path / "models")
    entry = catalog().get("rtdetr-r18")
    config = tmp_path / "config.json"
    config.write_text('{"model_type": "detr", "id2label": {"0": "a"}}')
    with pytest.raises(WeightsError, match="RT-DETR"):
        cache.import_file(entry, config)
    import torch
    from safetensors.torch import save_file

    weights = tmp_path / "model.safetensors"
    save_file({"w": torch.zeros(3)}, str(weights))
    with pytest.raises(WeightsError, match="RT-DETR"):
        cache.import_file(entry, weights)
    assert not cache.is_installed(entry)
