"""After a failed download the Detect tab's Download and Import buttons work again, for
every detector in the catalog, and the message is one line without temp file names."""

from __future__ import annotations

import logging

import pytest
import torch
from PySide6.QtCore import QSettings

from engine.models.cache import WeightsCache
from engine.models.catalog import CatalogEntry, ModelFile, catalog
from gui.common.context import AppContext
from gui.features.detect.tab import DetectTab


def _offline_copy(base: CatalogEntry, folder) -> CatalogEntry:
    missing = (folder / "offline" / base.files[0].filename).as_uri()  # fails like a dead network
    return CatalogEntry(name=base.name, task="detect", title=base.title,
                        files=(ModelFile(base.files[0].filename, missing, size=base.size),),
                        license=base.license, source=base.source, extra=dict(base.extra), validator=base.validator)


@pytest.mark.parametrize("name", [e.name for e in catalog().entries("detect")][:4])
def test_buttons_come_back_after_a_failed_download(qtbot, tmp_path, name, caplog):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    context = AppContext(settings, torch.device("cpu"), weights_cache=WeightsCache(tmp_path / "models"))
    errors = []
    context.error = lambda title, message: errors.append((title, message))
    tab = DetectTab(context, entries=[_offline_copy(catalog().get(name), tmp_path)])
    qtbot.addWidget(tab)
    try:
        with caplog.at_level(logging.ERROR), qtbot.waitSignal(tab.download.failed, timeout=20000):
            tab.download_selected()
        assert tab.download_button.isEnabled() and tab.import_button.isEnabled()
        assert tab.progress.isHidden()
        assert len(errors) == 1 and "\n" not in errors[0][1] and ".part" not in errors[0][1]
        assert not [r for r in caplog.records if r.exc_info]  # no traceback for an expected failure
    finally:
        tab.shutdown()
