"""The weights cache against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from engine.models.cache import DownloadCancelled, WeightsCache, WeightsError, WeightsMissingError
from engine.models.catalog import Catalog, CatalogEntry, ModelFile, UnknownModelError

PAYLOAD = bytes(range(256)) * 20_000  # ~5 MB: several 1 MiB chunks


def entry_for(url: str, *, sha256: str | None = None, size: int | None = None, name: str = "toy", validator=None) -> CatalogEntry:
    return CatalogEntry(
        name=name,
        task="detect",
        title="Toy model",
        files=(ModelFile("toy.bin", url, size=size, sha256=sha256),),
        license="MIT",
        source="https://example.invalid/toy",
        validator=validator,
    )


def leftovers(cache: WeightsCache) -> list[Path]:
    return [p for p in cache.root.rglob("*") if p.is_file() and p.name != "manifest.json"]


def test_download_reports_progress_verifies_and_installs(tmp_path: Path, http_server):
    url = http_server.serve("/toy.bin", PAYLOAD)
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    cache = WeightsCache(tmp_path / "models")
    entry = entry_for(url, sha256=digest, size=len(PAYLOAD))
    seen: list[tuple[int, int | None]] = []
    paths = cache.fetch(entry, progress=lambda done, total, name: seen.append((done, total)))
    assert paths == [cache.path(entry)]
    assert cache.path(entry).read_bytes() == PAYLOAD
    assert cache.is_installed(entry) and cache.verify(entry) == []
    assert seen[0] == (0, len(PAYLOAD)) and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert len(seen) >= 5 and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_wrong_hash_is_rejected_and_nothing_is_left(tmp_path: Path, http_server):
    url = http_server.serve("/toy.bin", PAYLOAD)
    cache = WeightsCache(tmp_path / "models")
    entry = entry_for(url, sha256="0" * 64)
    with pytest.raises(WeightsError, match="SHA-256"):
        cache.fetch(entry)
    assert not cache.is_installed(entry)
    assert leftovers(cache) == []


def test_unknown_hash_is_recorded_on_first_download_and_checked_later(tmp_path: Path, http_server):
    url = http_server.serve("/toy.bin", PAYLOAD)
    cache = WeightsCache(tmp_path / "models")
    entry = entry_for(url)
    cache.fetch(entry)
    assert cache.manifest(entry)["toy.bin"]["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()
    cache.path(entry).write_bytes(PAYLOAD[:-1] + b"\x00")  # bit rot
    assert "SHA-256" in cache.verify(entry)[0]


def test_interrupted_download_leaves_no_partial_file(tmp_path: Path, http_server):
    url = http_server.serve("/toy.bin", PAYLOAD, cut_after=len(PAYLOAD) // 3)
    cache = WeightsCache(tmp_path / "models")
    entry = entry_for(url)
    with pytest.raises(WeightsError, match="ended early|broke off"):
        cache.fetch(entry, timeout=5)
    assert not cache.is_installed(entry)
    assert leftovers(cache) == []
    # Restartable: once the server is fixed the same call succeeds.
    http_server.serve("/toy.bin", PAYLOAD)
    cache.fetch(entry)
    assert cache.path(entry).read_bytes() == PAYLOAD


def test_cancel_stops_between_chunks_and_cleans_up(tmp_path: Path, http_server):
    url = http_server.serve("/toy.bin", PAYLOAD)
    cache = WeightsCache(tmp_path / "models")
    entry = entry_for(url)
    cancel = threading.Event()

    def progress(done: int, total: int | None, name: str) -> None:
        if done > 0:
            cancel.set()

    with pytest.raises(DownloadCancelled):
        cache.fetch(entry, progress=progress, cancel=cancel)
    assert leftovers(cache) == []


def test_http_errors_and_unreachable_hosts_say_what_to_do(tmp_path: Path, http_server):
    cache = WeightsCache(tmp_path / "models")
    missing = entry_for(http_server.serve("/other", b"x").replace("/other", "/missing.bin"))
    with pytest.raises(WeightsError, match="HTTP 404"):
        cache.fetch(missing)
    unreachable = entry_for("http://127.0.0.1:9/toy.bin")
    with pytest.raises(WeightsError, match="models import toy"):
        cache.fetch(unreachable, timeout=2)


def test_import_works_offline_and_checks_the_file(tmp_path: Path):
    cache = WeightsCache(tmp_path / "models")
    src = tmp_path / "mine.bin"
    src.write_bytes(PAYLOAD)
    entry = entry_for("http://127.0.0.1:9/unreachable", sha256=hashlib.sha256(PAYLOAD).hexdigest())
    with pytest.raises(WeightsMissingError, match="models fetch toy"):
        cache.require(entry)
    path = cache.import_file(entry, src)
    assert cache.require(entry) == path and path.read_bytes() == PAYLOAD
    assert cache.manifest(entry)["toy.bin"]["origin"].startswith("import:")
    assert cache.remove(entry) and not cache.is_installed(entry)

    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"something else")
    with pytest.raises(WeightsError, match="SHA-256"):
        cache.import_file(entry, wrong)
    assert leftovers(cache) == []
    cache.import_file(entry, wrong, force=True)
    assert cache.path(entry).read_bytes() == b"something else"


def test_validator_rejects_files_that_cannot_be_the_model(tmp_path: Path):
    def must_start_with_magic(path: Path) -> None:
        if path.read_bytes()[:4] != b"MAGC":
            raise ValueError("expected a file starting with MAGC")

    cache = WeightsCache(tmp_path / "models")
    entry = entry_for("http://127.0.0.1:9/x", validator=must_start_with_magic)
    src = tmp_path / "x.bin"
    src.write_bytes(b"NOPE")
    with pytest.raises(WeightsError, match="MAGC"):
        cache.import_file(entry, src)
    assert leftovers(cache) == []


def test_catalog_lookup_names_the_known_models():
    cat = Catalog([entry_for("http://x/a", name="alpha"), entry_for("http://x/b", name="beta")])
    assert cat.get("beta").name == "beta"
    with pytest.raises(UnknownModelError, match="alpha, beta"):
        cat.get("gamma")
    with pytest.raises(ValueError, match="twice"):
        cat.add(entry_for("http://x/a", name="alpha"))
