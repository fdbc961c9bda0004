"""engine.core.store: typed reads with defaults, validation, repair of malformed values, groups."""

from __future__ import annotations

import logging

import pytest

from engine.core.store import MemoryStore, SettingsStore


def test_typed_reads_with_defaults_and_ini_spellings():
    store = MemoryStore({"A/flag": "true", "A/off": "no", "A/n": "12", "A/x": "0.25", "A/name": "resnet18",
                         "A/one": "only.png", "A/none": None, "A/many": ["a.png", "b.png"], "A/native": 3.5})
    assert isinstance(store, SettingsStore)
    assert store.get("A/flag", False) is True and store.get("A/off", True) is False
    assert store.get("A/n", 0) == 12 and store.get("A/x", 1.0) == 0.25 and store.get("A/name", "") == "resnet18"
    assert store.get("A/native", 0.0) == 3.5
    # An INI file gives a one-element list back as a string and an empty list as None.
    assert store.get("A/one", []) == ["only.png"] and store.get("A/none", []) == []
    assert store.get("A/many", ()) == ["a.png", "b.png"]
    assert store.get("A/missing", 7) == 7 and not store.contains("A/missing")
    assert store.get("A/missing", None, kind=float) is None
    with pytest.raises(TypeError, match="kind="):
        store.get("A/x", None)


@pytest.mark.parametrize("raw, default", [
    ("abc", 5), ("3.5", 5), (True, 5),            # not whole numbers (a bool is not an int here)
    ("maybe", False), (7, True),                  # not yes/no
    ("nan", 0.5), ("inf", 0.5), ("x", 0.5),       # not finite numbers
    (["a", "b"], "text"),                         # a list is not a text value
    ({"k": 1}, ["a"]),                            # a dict is not a list of text values
])
def test_a_malformed_value_gives_the_default_and_is_repaired(caplog, raw, default):
    store = MemoryStore({"G/key": raw})
    with caplog.at_level(logging.WARNING, logger="engine.core.store"):
        assert store.get("G/key", default) == default
    assert store.as_dict()["G/key"] == default  # rewritten, so the next start reads it cleanly
    assert any("G/key" in r.getMessage() for r in caplog.records)


def test_the_validator_rejects_and_repairs_and_an_optional_value_is_removed():
    store = MemoryStore({"Detect/conf": "1.5", "Detect/iou": "0.4", "Faces/threshold/lbp": "-1", "Faces/threshold/x": "oops"})
    fraction = lambda v: 0.0 <= v <= 1.0  # noqa: E731
    assert store.get("Detect/conf", 0.25, fraction) == 0.25 and store.as_dict()["Detect/conf"] == 0.25
    assert store.get("Detect/iou", 0.45, fraction) == 0.4 and store.as_dict()["Detect/iou"] == "0.4"  # valid: untouched
    assert store.get("Faces/threshold/lbp", None, lambda t: t >= 0, kind=float) is None
    assert store.get("Faces/threshold/x", None, kind=float) is None
    assert not store.contains("Faces/threshold/lbp") and not store.contains("Faces/threshold/x")


def test_groups_set_remove_and_keys():
    store = MemoryStore()
    detect = store.group("Detect")
    detect.set("conf", 0.3)
    detect.group("regions").set("cam.mp4", "{}")
    store.set("Faces/recent", ("a", "b"))  # a tuple is kept as a list
    assert store.get("Detect/conf", 0.0) == 0.3 and detect.get("regions/cam.mp4", "") == "{}"
    assert detect.keys() == ["conf", "regions/cam.mp4"] and store.as_dict()["Faces/recent"] == ["a", "b"]
    detect.remove("regions")  # a group goes with everything under it
    assert store.keys() == ["Detect/conf", "Faces/recent"]
    detect.remove("never-there")
