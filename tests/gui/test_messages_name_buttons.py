"""GUI messages about missing weights name the model manager's buttons, never a command line."""

from __future__ import annotations

import pytest

from engine.features.teach.backbones import load_backbone
from engine.models.cache import WeightsCache, WeightsMissingError
from gui.common.context import what_and_todo
from gui.common.jobs import JobFailure


def test_missing_weights_from_the_real_cache_point_at_the_model_manager(tmp_path):
    from engine.models.catalog import catalog

    cache = WeightsCache(tmp_path / "models", bundled=False)
    entry = catalog().get("resnet18")
    with pytest.raises(WeightsMissingError) as missing:
        cache.require(entry)
    assert "models fetch" in str(missing.value)  # the CLI's own line keeps its command
    for problem in (missing.value, JobFailure(missing.value)):
        what, todo = what_and_todo(problem)
        assert "resnet18" in what
        assert "Model manager" in todo and "Download" in todo and "Import from file" in todo
        assert "main.py" not in todo and "models fetch" not in todo


def test_a_teach_backbone_without_weights_names_the_manager_not_untrained_flag(tmp_path):
    with pytest.raises(WeightsMissingError) as missing:
        load_backbone("mobilenet_v3_small", untrained=False, cache=WeightsCache(tmp_path / "m", bundled=False))
    what, todo = what_and_todo(missing.value)
    assert "--untrained" in missing.value.todo  # the CLI's flag, for the CLI
    assert "--untrained" not in todo and "main.py" not in todo and "Model manager" in todo
