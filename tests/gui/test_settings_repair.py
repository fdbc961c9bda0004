"""A settings.ini with malformed values, opened by the real main window offscreen: every
tab is a real tab (never the placeholder of a tab that failed to build), and each bad
value is replaced by its default on disk, with a warning naming the key."""

from __future__ import annotations

import configparser
import logging
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from engine.features.faces.embedders import installed_embedders
from engine.models.cache import default_cache
from gui.common.placeholder_tab import PlaceholderTab
from gui.common.settings import read_setting

TITLES = ["Detect", "Faces", "Style", "Feature maps", "Teach", "Segment"]
INT_5 = r"@Variant(\0\0\0\x2\0\0\0\x5)"  # how Qt writes a QVariant int: a number where a list belongs

# [group] key -> (hostile text in the file, the default text the file must hold afterwards)
FIRST = {
    ("Detect", "conf"): ("abc", "0.25"),
    ("Detect", "heat_minutes"): ("1e400", "5"),
    ("Faces", "shots"): ("abc", "5"),
    ("Faces", "upsample"): ("abc", "0"),
    ("Style", "size"): ("99999999999", "512"),
    ("Style", "recent"): (INT_5, "@Invalid()"),
    ("Style", "live_size"): ("-5", "320"),
    ("Features", "opacity"): ("99999999999999", "50"),
    ("window", "last_tab"): ("abc", "0"),
}
SECOND = {
    ("Detect", "conf"): ("nan", "0.25"),
    ("Detect", "iou"): ("inf", "0.45"),
    ("Faces", "shots"): ("nan", "5"),
    ("Style", "steps"): ("1e12", "300"),
    ("Style", "alpha"): ("abc", "100"),
    ("Style", "recent"): ("@ByteArray(abc)", "@Invalid()"),
    ("Style", "mode"): ("99999999999999999999999", "0"),
    ("Features", "colormap"): ("rainbow", "viridis"),
    ("Teach", "last_project"): (INT_5, ""),
    ("window", "view_mode"): ("sideways", "synced"),
    **{("Faces", f"threshold\\{name}"): ("abc", None) for name in installed_embedders(default_cache())},
}


def write_ini(path: Path, values: dict) -> Path:
    groups: dict[str, list[str]] = {}
    for (group, key), (text, _) in values.items():
        groups.setdefault(group, []).append(f"{key}={text}")
    path.write_text("".join(f"[{g}]\n" + "\n".join(lines) + "\n\n" for g, lines in groups.items()))
    return path


def on_disk(path: Path) -> configparser.ConfigParser:
    """The file as written (read without Qt, whose in-process cache would answer instead)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read(path)
    return parser


@pytest.mark.parametrize("values", [FIRST, SECOND], ids=["first", "second"])
def test_bad_stored_values_never_remove_a_tab_and_are_repaired_on_disk(make_window, tmp_path, caplog, values):
    path = write_ini(tmp_path / "settings.ini", values)
    settings = QSettings(str(path), QSettings.Format.IniFormat)
    with caplog.at_level(logging.WARNING):
        window = make_window("demo", settings_=settings)
    assert [type(tab).__name__ for tab in window.tabs if isinstance(tab, PlaceholderTab)] == []
    assert [window.tab_widget.tabText(i) for i in range(window.tab_widget.count())] == TITLES
    disk = on_disk(path)
    in_use = f"threshold\\{window.tabs[1].ctl.embedder_name}"
    for (group, key), (text, default) in values.items():
        if key.startswith("threshold") and key != in_use:
            continue  # only the embedder in use reads its threshold
        if default is None and not disk.has_option(group, key):
            continue  # a value with no default is repaired by removing it
        stored = disk.get(group, key)
        assert stored != text, f"{group}/{key} still holds {text!r}"
        if default is not None:
            assert stored == default, (group, key, stored)
    warned = caplog.text
    for group, key in values:
        if not key.startswith("threshold") or key == in_use:
            assert f"{group}/{key.replace(chr(92), '/')}=" in warned, key


def test_the_one_reader_checks_types_bounds_and_choices(tmp_path: Path, caplog):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    for key, value in {"a/int": "12", "a/float": "0.5", "a/bool": "true", "a/text": "x", "a/list": "one",
                       "b/int": "1.5", "b/big": "99999999999", "b/bool": "maybe", "b/choice": "z"}.items():
        settings.setValue(key, value)
    assert read_setting(settings, "a/int", 0) == 12 and read_setting(settings, "a/float", 0.0) == 0.5
    assert read_setting(settings, "a/bool", False) is True and read_setting(settings, "a/text", "") == "x"
    assert read_setting(settings, "a/list", []) == ["one"] and read_setting(settings, "missing", 7) == 7
    with caplog.at_level(logging.WARNING):
        assert read_setting(settings, "b/int", 3) == 3
        assert read_setting(settings, "b/big", 3) == 3  # no widget holds it
        assert read_setting(settings, "b/bool", True) is True
        assert read_setting(settings, "b/choice", "a", choices=("a", "b")) == "a"
        assert read_setting(settings, "a/int", 0, minimum=0, maximum=10) == 0
    assert settings.value("b/int") == 3 and settings.value("a/int") == 0  # repaired
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 5
