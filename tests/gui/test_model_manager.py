"""The model manager against a real cache on disk and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from engine.models.cache import WeightsCache
from engine.models.catalog import Catalog, CatalogEntry, ModelFile
from engine.models.catalog import catalog as builtin_catalog
from gui.common.model_manager import INSTALLED, MISSING, ModelManagerDialog

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB: several progress reports


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www over HTTP on 127.0.0.1 (a random free port)."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "tiny.pt").write_bytes(PAYLOAD)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):  # keep test output clean
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def make_catalog(base_url: str, sha256: str | None) -> Catalog:
    return Catalog([
        CatalogEntry(name="tiny-net", task="detect", title="Tiny test net",
                     files=(ModelFile("tiny.pt", f"{base_url}/tiny.pt", size=len(PAYLOAD), sha256=sha256),),
                     license="MIT", source="https://example.org/tiny", description="a file made by the test"),
        CatalogEntry(name="other-net", task="style", title="Other net",
                     files=(ModelFile("other.pt", f"{base_url}/missing.pt"),), license="CC-BY-4.0", source="tests"),
    ])


@pytest.fixture
def dialog_factory(qtbot, tmp_path):
    dialogs = []

    def make(catalog: Catalog) -> ModelManagerDialog:
        dialog = ModelManagerDialog(WeightsCache(tmp_path / "models"), catalog)
        qtbot.addWidget(dialog)
        dialog.show()
        dialogs.append(dialog)
        return dialog

    yield make
    for dialog in dialogs:
        dialog.runner.shutdown()


def test_lists_entries_with_task_license_and_state(dialog_factory, server):
    dialog = dialog_factory(make_catalog(server, None))
    assert dialog.table.rowCount() == 2
    assert dialog.table.item(0, 0).text() == "Tiny test net"
    assert dialog.table.item(0, 1).text() == "detect"
    assert dialog.table.item(0, 2).text() == "1.0 MB"
    assert dialog.table.item(1, 3).text() == "CC-BY-4.0"
    assert dialog.state_of("tiny-net") == MISSING
    assert dialog.download_button.isEnabled() and not dialog.remove_button.isEnabled()


def test_builtin_catalog_is_listed(dialog_factory):
    entries = builtin_catalog().entries()
    dialog = dialog_factory(builtin_catalog())
    assert dialog.table.rowCount() == len(entries)


def test_import_from_file_then_remove(qtbot, dialog_factory, server, tmp_path):
    dialog = dialog_factory(make_catalog(server, None))
    local = tmp_path / "my-copy.pt"
    local.write_bytes(PAYLOAD)
    dialog.select("tiny-net")
    with qtbot.waitSignal(dialog.models_changed, timeout=10000):
        dialog.import_from(local)
    assert dialog.state_of("tiny-net") == INSTALLED
    assert (tmp_path / "models" / "tiny-net" / "tiny.pt").read_bytes() == PAYLOAD
    assert dialog.remove_button.isEnabled()
    assert dialog.remove_selected(confirm=False)
    assert dialog.state_of("tiny-net") == MISSING


def test_import_of_wrong_file_shows_the_hash_error(qtbot, dialog_factory, server, tmp_path):
    dialog = dialog_factory(make_catalog(server, hashlib.sha256(PAYLOAD).hexdigest()))
    wrong = tmp_path / "wrong.pt"
    wrong.write_bytes(b"x" * len(PAYLOAD))
    dialog.select("tiny-net")
    with qtbot.waitSignal(dialog.job.failed, timeout=10000):
        dialog.import_from(wrong)
    assert "SHA-256" in dialog.message.text()
    assert dialog.state_of("tiny-net") == MISSING
    assert not dialog.progress.isVisible()
    # Refreshed in the failure handler, while the job thread may still be finishing.
    assert dialog.download_button.isEnabled() and dialog.import_button.isEnabled()


def test_download_shows_progress_and_installs(qtbot, dialog_factory, server):
    dialog = dialog_factory(make_catalog(server, hashlib.sha256(PAYLOAD).hexdigest()))
    values = []
    dialog.runner.progress.connect(lambda report: values.append(dialog.progress.value()))
    dialog.select("tiny-net")
    with qtbot.waitSignal(dialog.models_changed, timeout=15000):
        dialog.download_selected()
    assert dialog.state_of("tiny-net") == INSTALLED
    assert values and values[-1] == 1000  # the bar reached 100 %
    assert "done" in dialog.message.text()


def test_download_error_is_shown(qtbot, dialog_factory, server):
    dialog = dialog_factory(make_catalog(server, None))
    dialog.select("other-net")  # its URL answers 404
    with qtbot.waitSignal(dialog.job.failed, timeout=15000):
        dialog.download_selected()
    assert "404" in dialog.message.text()
    assert dialog.state_of("other-net") == MISSING
    assert not list(Path(dialog.cache.root).rglob("*.part"))
