"""The model manager shows a size for models whose catalog lists none, and the Detect picker
marks the installed models."""

from __future__ import annotations

import torch
from PySide6.QtCore import QSettings

from engine.models.cache import WeightsCache
from engine.models.catalog import Catalog, CatalogEntry, ModelFile
from gui.common.model_manager import ModelManagerDialog


def test_sizes_are_never_a_bare_question_mark(qtbot, tmp_path):
    cache = WeightsCache(tmp_path / "models")
    catalog = Catalog([
        CatalogEntry(name="known", task="detect", title="Known", files=(ModelFile("k.pt", "", size=2048),), license="MIT", source="t"),
        CatalogEntry(name="approx", task="inspect", title="Approx", files=(ModelFile("a.pt", ""),), license="MIT", source="t",
                     meta={"approx_size_mb": 44.7}),
        CatalogEntry(name="installed", task="style", title="Installed", files=(ModelFile("i.pt", ""),), license="MIT", source="t"),
        CatalogEntry(name="unknown", task="style", title="Unknown", files=(ModelFile("u.pt", ""),), license="MIT", source="t"),
    ])
    path = cache.path(catalog.get("installed"), "i.pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * 3 * 1024 * 1024)
    dialog = ModelManagerDialog(cache, catalog)
    qtbot.addWidget(dialog)
    sizes = [dialog.table.item(row, 2).text() for row in range(4)]
    assert sizes == ["2.0 KB", "≈ 45 MB", "3.0 MB", "not listed"]


def test_the_builtin_catalog_shows_sizes_for_most_models(qtbot, tmp_path):
    from engine.models.catalog import catalog as builtin_catalog

    dialog = ModelManagerDialog(WeightsCache(tmp_path / "models"), builtin_catalog())
    qtbot.addWidget(dialog)
    sizes = [dialog.table.item(row, 2).text() for row in range(dialog.table.rowCount())]
    assert "?" not in sizes


def test_the_detect_picker_marks_installed_models(qtbot, tmp_path):
    from gui.common.context import AppContext
    from gui.features.detect.model_box import INSTALLED_MARK
    from gui.features.detect.tab import DetectTab

    cache = WeightsCache(tmp_path / "models", bundled=False)
    context = AppContext(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), torch.device("cpu"),
                         weights_cache=cache)
    tab = DetectTab(context)
    qtbot.addWidget(tab)
    combo = tab.model_box.combo
    assert combo.count() > 1 and not any(INSTALLED_MARK in combo.itemText(i) for i in range(combo.count()))
    entry = tab.entries[1]
    for f in entry.files:  # installed by hand, as Import file… would leave it
        cache.path(entry, f.filename).parent.mkdir(parents=True, exist_ok=True)
        cache.path(entry, f.filename).write_bytes(b"\0")
    combo.showPopup()
    combo.hidePopup()
    marked = [combo.itemData(i) for i in range(combo.count()) if INSTALLED_MARK in combo.itemText(i)]
    assert marked == [entry.name]
    tab.shutdown()
