"""The feature registry: built-in features found in order, plugins found without a shared
edit (``$CNN_STUDIO_FEATURES``, entry points), broken ones left out with a reason, and
what is generated from it (catalog tasks and entries, inspectable models)."""

from __future__ import annotations

import importlib
import inspect
import logging
import subprocess
import sys

import pytest

from engine.features import registry as reg
from engine.features.registry import Feature, FeatureError, UnknownFeatureError
from engine.models.catalog import catalog, known_tasks
from tests.registry.plugins import ROOT, plugin_folder, write_broken, write_entry_point, write_feature, write_toy  # noqa: F401

BUILTIN = ("detect", "faces", "style", "inspect", "teach", "segment")


def test_the_six_builtin_features_are_discovered_in_order():
    found = reg.discover(env={})
    assert found.keys() == BUILTIN
    assert [f.title for f in found] == ["Detect", "Faces", "Style", "Feature maps", "Teach", "Segment"]
    assert [f.origin for f in found] == [f"engine.features.{key}" for key in BUILTIN]
    assert found.problems == ()
    assert found.get("detect").cli == ("cli.detect", "cli.track")
    with pytest.raises(UnknownFeatureError, match="known: detect, faces"):
        found.get("nope")


def test_every_builtin_declaration_resolves():
    from engine.runtime.worker import Task

    for feature in reg.discover(env={}):
        assert inspect.isclass(feature.load("task")) and issubclass(feature.load("task"), Task), feature.key
        for module_name in feature.cli:
            assert callable(importlib.import_module(module_name).register), module_name
        entries = feature.catalog_entries()
        assert entries and {e.task for e in entries} == {feature.key}
        assert feature.tab.startswith(f"gui.features.{feature.key}.")  # resolved by the GUI tests


def test_the_catalog_tasks_and_entries_come_from_the_features():
    assert known_tasks() == BUILTIN
    cat = catalog()
    assert cat.problems == ()
    assert {e.task for e in cat.entries()} == set(BUILTIN)
    assert [e.name for e in cat.entries("teach")] == ["mobilenet_v3_small"]


def test_the_models_layer_has_no_catalog_until_the_features_provide_one():
    code = ("import sys\nfrom engine.models.catalog import CatalogNotReadyError, catalog\n"
            "assert not any(m.startswith('engine.features') for m in sys.modules)\n"
            "try:\n    catalog()\nexcept CatalogNotReadyError as exc:\n    print(exc)\n"
            "import engine.features\nprint(len(catalog()) > 0)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "import engine.features first" in out.stdout and out.stdout.strip().endswith("True")


def test_discovery_imports_neither_torch_nor_qt():
    code = ("import sys\nfrom engine.features.registry import registry\nregistry()\n"
            "print(sorted(m for m in ('torch', 'PySide6', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_plugin_named_in_the_environment_joins_everything(plugin_folder):
    write_toy(plugin_folder)
    found = reg.reload(env={"CNN_STUDIO_FEATURES": " toyfeat , "})
    assert found.keys() == BUILTIN + ("toy",)
    toy = found.get("toy")
    assert toy.origin == "toyfeat" and toy.load("task").__name__ == "ToyTask"
    assert known_tasks() == BUILTIN + ("toy",)
    assert [e.name for e in catalog().entries("toy")] == ["toy-net"]
    from engine.features.inspect.extra_models import extra_specs
    from engine.features.inspect.zoo import load_model, model_names

    toy_spec = next(s for s in extra_specs() if s.name == "toy_conv")
    assert toy_spec.title == "Toy conv (Toy tab)" and toy_spec.family == "toy"
    assert "toy_conv" in model_names()
    assert load_model("toy_conv", untrained=True).module[0].out_channels == 4


def test_a_plugin_found_through_its_entry_point(plugin_folder):
    write_toy(plugin_folder)
    write_entry_point(plugin_folder, "toy_plugin", "toy", "toyfeat")
    found = reg.reload(env={})
    assert found.keys() == BUILTIN + ("toy",) and found.get("toy").origin == "toyfeat"
    # Named twice (installed, and in the variable): found once, not reported as a clash.
    found = reg.reload(env={"CNN_STUDIO_FEATURES": "toyfeat"})
    assert found.keys() == BUILTIN + ("toy",) and found.problems == ()


def test_an_entry_point_may_name_the_feature_object(plugin_folder):
    write_toy(plugin_folder)
    write_entry_point(plugin_folder, "toy_plugin", "toy", "toyfeat:FEATURE")
    assert reg.reload(env={}).get("toy").title == "Toy"


def test_broken_features_are_left_out_with_a_reason(plugin_folder, caplog):
    write_broken(plugin_folder)
    write_feature(plugin_folder, "nofeature", "X = 1\n")
    write_feature(plugin_folder, "clash", 'FEATURE = Feature(key="detect", title="Other detect")\n')
    write_feature(plugin_folder, "badkey", 'FEATURE = Feature(key="Bad Key", title="Bad")\n')
    write_entry_point(plugin_folder, "ghost_plugin", "ghost", "ghost_package_that_is_not_there")
    with caplog.at_level(logging.ERROR, logger="engine.features.registry"):
        found = reg.reload(env={"CNN_STUDIO_FEATURES": "brokenfeat,nofeature,clash,badkey"})
    assert found.keys() == BUILTIN
    reasons = {problem.origin: problem.reason for problem in found.problems}
    assert set(reasons) == {"brokenfeat", "nofeature", "clash", "badkey", "ghost_package_that_is_not_there"}
    assert "this_module_does_not_exist_anywhere" in reasons["brokenfeat"]
    assert reasons["nofeature"] == "nofeature defines no FEATURE"
    assert "already used by engine.features.detect" in reasons["clash"]
    assert "lower-case identifier" in reasons["badkey"]
    assert "ModuleNotFoundError" in reasons["ghost_package_that_is_not_there"]
    assert next(p for p in found.problems if p.origin == "ghost_package_that_is_not_there").title == "ghost"
    assert all(f"feature {origin} left out" in caplog.text for origin in reasons)
    assert len(catalog().entries()) > 0 and catalog().problems == ()


def test_a_plugin_with_a_broken_catalog_loses_only_its_models(plugin_folder):
    write_feature(plugin_folder, "badmodels", '''
        FEATURE = Feature(key="bad", title="Bad", catalog="badmodels.catalog")
    ''')
    (plugin_folder / "badmodels" / "catalog.py").write_text(
        "from engine.models.catalog import CatalogEntry\n"
        "ENTRIES = [CatalogEntry(name='b', task='nosuchtask', title='B', files=(), license='MIT', source='x')]\n")
    write_feature(plugin_folder, "nomodels", 'FEATURE = Feature(key="nom", title="Nom", catalog="nomodels.missing")\n')
    found = reg.reload(env={"CNN_STUDIO_FEATURES": "badmodels,nomodels"})
    assert found.keys() == BUILTIN + ("bad", "nom")
    cat = catalog()
    assert {e.task for e in cat.entries()} == set(BUILTIN)
    assert len(cat.problems) == 2
    assert "task 'nosuchtask', which is no feature's key" in cat.problems[0]
    assert "nomodels.missing" in cat.problems[1] and "ModuleNotFoundError" in cat.problems[1]


@pytest.mark.parametrize("changes, message", [
    ({"key": "Detect"}, "lower-case identifier"),
    ({"title": " "}, "needs a title"),
    ({"order": "1"}, "order must be an int"),
    ({"tab": "gui.features.toy.tab.ToyTab"}, "'package.module:Attribute' string"),
    ({"cli": "cli.toy"}, "tuple of strings"),
    ({"cli": ("cli toy",)}, "is not a module name"),
    ({"inspectables": ("nets",)}, "'package.module:Attribute' string"),
    ({"catalog": 3}, "must be a module name"),
])
def test_a_bad_declaration_says_what_is_wrong(changes, message):
    fields = {"key": "toy", "title": "Toy", **changes}
    with pytest.raises(FeatureError, match=message):
        Feature(**fields)


def test_a_reference_that_does_not_resolve_names_the_feature_and_the_code():
    feature = Feature(key="toy", title="Toy", task="engine.runtime.mailbox:NoSuchTask", tab="no_such_gui_module:ToyTab")
    with pytest.raises(FeatureError, match="feature 'toy': task 'engine.runtime.mailbox:NoSuchTask': "
                                            "engine.runtime.mailbox has no attribute 'NoSuchTask'"):
        feature.load("task")
    with pytest.raises(FeatureError, match="feature 'toy': tab 'no_such_gui_module:ToyTab': module no_such_gui_module "
                                            "failed to import"):
        feature.load("tab")
    with pytest.raises(FeatureError, match="feature 'toy' declares no task"):
        Feature(key="toy", title="Toy").load("task")
