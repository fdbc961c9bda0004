"""One way for a controller to notify its view: every feature controller is an evented Controller
and every feature tab follows its controller's events (no callbacks passed in, no callback
attributes, no duck-typed settings stores of its own)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from engine.core.events import Controller

ROOT = Path(__file__).resolve().parents[1]
FEATURES = ("detect", "faces", "inspect", "style", "teach", "segment")


def controller_classes() -> dict[str, list[str]]:
    """feature -> names of the classes ending in "Controller" defined in engine/features/<feature>/controller.py."""
    found = {}
    for path in sorted((ROOT / "engine" / "features").glob("*/controller.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found[path.parent.name] = [node.name for node in tree.body
                                   if isinstance(node, ast.ClassDef) and node.name.endswith("Controller")]
    return found


def test_every_feature_controller_derives_from_the_evented_base():
    found = controller_classes()
    assert set(FEATURES) <= set(found) and all(found[f] for f in FEATURES), found
    for feature, names in found.items():
        module = importlib.import_module(f"engine.features.{feature}.controller")
        for name in names:
            cls = getattr(module, name)
            assert issubclass(cls, Controller), f"{feature}: {name} does not derive from engine.core.events.Controller"
            assert {"task_changed", "settings_changed", "status"} <= set(cls.event_names())


def test_no_controller_keeps_the_old_ways_to_notify_or_to_store():
    """No ``on_change``/``on_*_changed`` callbacks and no dict stores with QSettings' method names."""
    offenders = []
    for path in sorted((ROOT / "engine" / "features").glob("*/controller.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr.startswith("on_") and node.attr.endswith("change") \
                    or isinstance(node, ast.Attribute) and node.attr in ("on_task_changed", "on_settings_changed", "setValue") \
                    or isinstance(node, ast.ClassDef) and node.name.endswith("Store"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_every_feature_tab_follows_its_controller():
    for feature in FEATURES:
        source = (ROOT / "gui" / "features" / feature / "tab.py").read_text(encoding="utf-8")
        assert "self.follow(" in source, f"gui/features/{feature}/tab.py does not follow its controller's events"
