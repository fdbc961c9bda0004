"""Downloads bounded by the catalog size, a read timeout and a minimum rate, against a
real HTTP server on 127.0.0.1 that misbehaves on purpose; stale .part files; torchvision
weights validated on import."""

from __future__ import annotations

import http.server
import os
import threading
import time
from pathlib import Path

import pytest
import torch

from engine.models.cache import WeightsCache, WeightsError
from engine.models.catalog import CatalogEntry, ModelFile

EXPECTED = 5_000


class _Hostile(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        try:
            if self.path == "/announces-too-much":
                self.send_response(200)
                self.send_header("Content-Length", str(EXPECTED * 90_000))
                self.end_headers()
                self.wfile.write(b"x" * 65536)
            elif self.path == "/sends-too-much":
                self.send_response(200)  # no Content-Length: the body ends when the server closes
                self.end_headers()
                for _ in range(400):
                    self.wfile.write(b"y" * 65536)
            elif self.path == "/drips":
                self.send_response(200)
                self.send_header("Content-Length", str(EXPECTED))
                self.end_headers()
                for _ in range(60):
                    self.wfile.write(b"z")
                    self.wfile.flush()
                    time.sleep(0.1)
            elif self.path == "/stalls":
                self.send_response(200)
                self.send_header("Content-Length", str(EXPECTED))
                self.end_headers()
                self.wfile.write(b"w" * 100)
                self.wfile.flush()
                time.sleep(5)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope="module")
def hostile_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _entry(url: str, size: int | None = EXPECTED, name: str = "toy", validator=None) -> CatalogEntry:
    return CatalogEntry(name=name, task="detect", title="Toy", files=(ModelFile("toy.bin", url, size=size),),
                        license="MIT", source="https://example.invalid", validator=validator)


def _files(cache: WeightsCache) -> list[str]:
    return sorted(p.name for p in cache.root.rglob("*") if p.is_file())


def test_a_larger_content_length_is_refused_up_front(tmp_path, hostile_server):
    cache = WeightsCache(tmp_path / "models")
    with pytest.raises(WeightsError, match=r"offers .* but the published file has 5,000 bytes"):
        cache.fetch(_entry(hostile_server + "/announces-too-much"))
    assert _files(cache) == []


def test_a_body_longer_than_the_catalog_size_is_cut_off(tmp_path, hostile_server):
    cache = WeightsCache(tmp_path / "models")
    with pytest.raises(WeightsError, match="sent more than the 5,000 bytes"):
        cache.fetch(_entry(hostile_server + "/sends-too-much"))
    assert _files(cache) == []


def test_without_a_published_size_the_download_limit_applies(tmp_path, hostile_server, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_MAX_DOWNLOAD_BYTES", "300000")
    cache = WeightsCache(tmp_path / "models")
    with pytest.raises(WeightsError, match="sent more than the 300,000 bytes"):
        cache.fetch(_entry(hostile_server + "/sends-too-much", size=None))
    assert _files(cache) == []


def test_a_dripping_server_is_abandoned(tmp_path, hostile_server, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_DOWNLOAD_MIN_RATE", "200")
    monkeypatch.setenv("CNN_STUDIO_DOWNLOAD_RATE_WINDOW", "1")
    cache = WeightsCache(tmp_path / "models")
    with pytest.raises(WeightsError, match=r"too slow \(\d+ B/s .* below 200 B/s\)"):
        cache.fetch(_entry(hostile_server + "/drips"))
    assert _files(cache) == []


def test_a_stalled_server_times_out(tmp_path, hostile_server, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_DOWNLOAD_TIMEOUT", "0.5")
    cache = WeightsCache(tmp_path / "models")
    with pytest.raises(WeightsError, match="broke off after 100 B"):
        cache.fetch(_entry(hostile_server + "/stalls"))
    assert _files(cache) == []


def test_stale_part_files_are_removed(tmp_path):
    cache = WeightsCache(tmp_path / "models")
    entry = _entry("http://127.0.0.1:9/never")
    folder = cache.folder(entry)
    folder.mkdir(parents=True)
    stale = folder / ".toy.bin.k1ll3d.part"
    stale.write_bytes(b"half a download")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    fresh = folder / ".toy.bin.l1ve.part"  # a download running in another process right now
    fresh.write_bytes(b"in progress")
    src = tmp_path / "toy.bin"
    src.write_bytes(b"t" * EXPECTED)
    cache.import_file(entry, src)
    assert not stale.exists() and fresh.exists()
    assert cache.is_installed(entry)


def _torchvision_entry():
    from engine.models.catalog import catalog

    return catalog().get("ssdlite320_mobilenet_v3_large")


def test_a_pickle_is_not_installed_as_torchvision_weights(tmp_path):
    import argparse

    entry = _torchvision_entry()
    bad = tmp_path / "ssdlite.pth"
    torch.save({"model": argparse.Namespace(run="code")}, bad)  # any class outside torch's allow-list
    cache = WeightsCache(tmp_path / "models")
    with pytest.raises(WeightsError) as info:
        cache.import_file(entry, bad)
    message = str(info.value)
    assert "pickled Python objects" in message
    assert "weights_only" not in message and ".part" not in message
    assert not cache.is_installed(entry) and cache.manifest(entry) == {}
    assert _files(cache) == []


def test_a_state_dict_of_another_model_is_refused(tmp_path):
    entry = _torchvision_entry()
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, other)
    cache = WeightsCache(tmp_path / "models")
    with pytest.raises(WeightsError, match="does not fit this architecture"):
        cache.import_file(entry, other)
    assert _files(cache) == []


def test_the_real_torchvision_layout_is_installed(tmp_path):
    from engine.features.detect.backends.torchvision import build_model

    entry = _torchvision_entry()
    good = tmp_path / Path(entry.files[0].filename).name
    torch.manual_seed(0)
    torch.save(build_model(entry.meta["architecture"]).state_dict(), good)
    cache = WeightsCache(tmp_path / "models")
    cache.import_file(entry, good)
    assert cache.is_installed(entry)
