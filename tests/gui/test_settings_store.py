"""The app's one settings store: QSettingsStore on a real settings.ini, read_int/read_bool on it."""

from __future__ import annotations

import configparser
import json
import subprocess
import sys
from pathlib import Path

import torch
from PySide6.QtCore import QSettings

from engine.core.store import SettingsStore
from gui.common.context import AppContext
from gui.common.settings import QSettingsStore, open_settings, read_bool, read_float, read_int, read_str

ROOT = Path(__file__).resolve().parents[2]

BROKEN_INI = """[Detect]
conf=lots
iou=0.5
tracking=perhaps
heat_minutes=-3
model=yolov4-tiny

[Style]
recent=only.png
size=512px
mode=1

[source]
mirror=true
"""


def test_a_malformed_value_falls_back_and_is_repaired_in_the_file(tmp_path):
    path = tmp_path / "settings.ini"
    path.write_text(BROKEN_INI)
    store = QSettingsStore(open_settings(path))
    assert isinstance(store, SettingsStore)
    assert store.get("Detect/conf", 0.25) == 0.25
    assert store.get("Detect/iou", 0.45) == 0.5
    assert store.get("Detect/tracking", False) is False
    assert store.get("Detect/heat_minutes", 5.0, lambda m: m > 0) == 5.0
    assert store.group("Detect").get("model", "") == "yolov4-tiny"
    assert store.get("Style/recent", []) == ["only.png"]
    assert read_int(store.qsettings, "Style/size", 300) == 300 and read_int(store.qsettings, "Style/mode", 0) == 1
    assert read_bool(store.qsettings, "source/mirror", False) is True
    store.sync()

    ini = configparser.ConfigParser(interpolation=None)  # what the next start reads, not Qt's cache
    ini.read(path)
    assert dict(ini["Detect"]) == {"conf": "0.25", "heat_minutes": "5", "iou": "0.5", "model": "yolov4-tiny", "tracking": "false"}
    assert dict(ini["Style"]) == {"mode": "1", "recent": "only.png", "size": "300"}  # good values are left as they were


def test_values_keep_their_types_across_a_restart(tmp_path):
    path = tmp_path / "settings.ini"
    store = QSettingsStore(open_settings(path))
    group = store.group("Probe")
    for key, value in (("flag", True), ("n", 3), ("x", 0.125), ("name", "a, b"), ("files", ["a.png", "b.png"]), ("none", [])):
        group.set(key, value)
    store.sync()
    # A new process: this one's QSettings would answer from its cache, not from the file.
    reader = ("import json, sys; from gui.common.settings import QSettingsStore, open_settings; from pathlib import Path; "
              "g = QSettingsStore(open_settings(Path(sys.argv[1]))).group('Probe'); "
              "print(json.dumps([g.get('flag', False), g.get('n', 0), g.get('x', 0.0), g.get('name', ''), "
              "g.get('files', []), g.get('none', ['x']), g.keys()]))")
    out = subprocess.run([sys.executable, "-c", reader, str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [True, 3, 0.125, "a, b", ["a.png", "b.png"], [], ["files", "flag", "n", "name", "none", "x"]]
    again = QSettingsStore(open_settings(path)).group("Probe")
    again.remove("n")
    assert not again.contains("n") and read_float(again, "x", 1.0) == 0.125 and read_str(again, "name", "") == "a, b"


def test_the_context_store_is_the_settings_file_of_the_tabs(tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    context = AppContext(settings, torch.device("cpu"))
    context.store.set("Faces/shots", 7)
    assert settings.value("Faces/shots") == 7 and context.store.qsettings is settings


def test_a_broken_detect_setting_no_longer_stops_the_controller(tmp_path):
    """Before the typed store, float("lots") raised in DetectController() and the tab became a placeholder."""
    from engine.features.detect.controller import DetectController
    from engine.models.catalog import catalog

    path = tmp_path / "settings.ini"
    path.write_text(BROKEN_INI)
    controller = DetectController(catalog().entries("detect"), QSettingsStore(open_settings(path)))
    assert (controller.conf, controller.iou, controller.tracking, controller.heat_minutes) == (0.25, 0.5, False, 5.0)
