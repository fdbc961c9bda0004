"""The weights cache: download, verify, import and remove model files.

Layout: ``<models_dir>/<entry name>/<filename>`` plus a ``manifest.json`` per entry that
records each file's size and SHA-256 (published or recorded on first install) and where
it came from. A file appears under its final name only once it is complete and
verified: downloads and imports go to a temporary file in the same folder, are checked,
then renamed atomically (os.replace). Anything that fails on the way removes the
temporary file, so an interrupted download is simply started again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from engine import paths
from engine.weights.catalog import CatalogEntry, ModelFile

log = logging.getLogger(__name__)

Progress = Callable[[int, "int | None", str], None]
CHUNK = 1 << 20
USER_AGENT = "cnn-studio/0.1 (+weights download)"


class WeightsError(RuntimeError):
    """A download, import or verification failed; the message says what to do."""


class WeightsMissingError(WeightsError):
    """A model's files are not installed."""


class DownloadCancelled(WeightsError):
    """The user cancelled a download; nothing was left behind."""


def sha256_of(path: Path, cancel: threading.Event | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            if cancel is not None and cancel.is_set():
                raise DownloadCancelled("cancelled")
            digest.update(chunk)
    return digest.hexdigest()


def human_size(n: int | None) -> str:
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


class WeightsCache:
    """Installed model files under ``root`` (default: engine.paths.models_dir())."""

    def __init__(self, root: str | os.PathLike[str] | None = None, bundled: bool = True) -> None:
        """bundled: count model files shipped inside Python packages as installed (see ``path``)."""
        self._root = Path(root) if root is not None else None
        self.bundled = bundled
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        root = self._root if self._root is not None else paths.models_dir()
        root.mkdir(parents=True, exist_ok=True)
        return root

    # -- queries -----------------------------------------------------------------------
    def folder(self, entry: CatalogEntry) -> Path:
        return self.root / entry.name

    def path(self, entry: CatalogEntry, filename: str | None = None) -> Path:
        """Where ``filename`` (the entry's first file when None) is or would be installed.

        A file imported into the cache wins; otherwise a copy shipped inside a Python
        package (``entry.meta["bundled_in"] = (package, folder)``) counts as installed.
        """
        name = entry.file(filename).filename
        own = self.folder(entry) / name
        if not own.is_file() and self.bundled:
            bundled = bundled_file(entry, name)
            if bundled is not None:
                return bundled
        return own

    def is_installed(self, entry: CatalogEntry) -> bool:
        return all(self.path(entry, f.filename).is_file() for f in entry.files)

    def require(self, entry: CatalogEntry, filename: str | None = None) -> Path:
        """The installed path, or WeightsMissingError telling the user how to install it."""
        path = self.path(entry, filename)
        if not path.is_file():
            amount = f" (downloads {human_size(entry.size)})" if entry.size is not None else ""
            raise WeightsMissingError(
                f"the weights of '{entry.name}' are not installed: run `python main.py models fetch {entry.name}`"
                f"{amount}, or `python main.py models import {entry.name} FILE` with a file you already have"
            )
        return path

    def manifest(self, entry: CatalogEntry) -> dict:
        try:
            return json.loads((self.folder(entry) / "manifest.json").read_text())
        except (OSError, ValueError):
            return {}

    def expected_sha256(self, entry: CatalogEntry, model_file: ModelFile) -> str | None:
        """The published digest, else the one recorded at first install, else None."""
        if model_file.sha256:
            return model_file.sha256.lower()
        recorded = self.manifest(entry).get(model_file.filename, {})
        return recorded.get("sha256")

    def verify(self, entry: CatalogEntry) -> list[str]:
        """Problems with the installed files (empty list when all files check out)."""
        problems = []
        for f in entry.files:
            path = self.path(entry, f.filename)
            if not path.is_file():
                problems.append(f"{f.filename}: missing")
                continue
            expected = self.expected_sha256(entry, f)
            if expected and sha256_of(path) != expected:
                problems.append(f"{f.filename}: SHA-256 differs from {expected[:12]}… (damaged or replaced)")
        return problems

    # -- changes -----------------------------------------------------------------------
    def _record(self, entry: CatalogEntry, model_file: ModelFile, digest: str, size: int, origin: str) -> None:
        with self._lock:
            manifest = self.manifest(entry)
            manifest[model_file.filename] = {"sha256": digest, "size": size, "origin": origin, "installed": time.strftime("%Y-%m-%dT%H:%M:%S")}
            target = self.folder(entry) / "manifest.json"
            tmp = target.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
            os.replace(tmp, target)

    def _check(self, entry: CatalogEntry, model_file: ModelFile, tmp: Path, digest: str, what: str, *, check_hash: bool = True) -> None:
        size = tmp.stat().st_size
        if model_file.size is not None and size != model_file.size and check_hash:
            raise WeightsError(f"{what} for '{entry.name}' has {size:,} bytes, expected {model_file.size:,}: it is not the published {model_file.filename}")
        expected = self.expected_sha256(entry, model_file)
        if check_hash and expected and digest != expected:
            raise WeightsError(
                f"{what} for '{entry.name}' failed its SHA-256 check (expected {expected[:16]}…, got {digest[:16]}…): "
                "the file is damaged or not this model; nothing was installed"
            )
        if entry.validator is not None:
            try:
                entry.validator(tmp)
            except (ValueError, OSError) as exc:
                raise WeightsError(f"{what} is not usable as '{entry.name}': {exc}") from exc

    def _temp_in(self, folder: Path, filename: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=folder)
        os.close(fd)
        return Path(name)

    def fetch(self, entry: CatalogEntry, progress: Progress | None = None, cancel: threading.Event | None = None, timeout: float = 30.0) -> list[Path]:
        """Download every missing file of ``entry``; returns the installed paths.

        progress(done_bytes, total_bytes_or_None, filename) is called after each chunk.
        ``cancel`` (a threading.Event) stops between chunks with DownloadCancelled.
        Raises WeightsError for network errors, size or hash mismatches; in every failure
        the partial file is removed and nothing is installed.
        """
        installed = []
        for model_file in entry.files:
            target = self.folder(entry) / model_file.filename
            if target.is_file():
                installed.append(target)
                continue
            installed.append(self._download(entry, model_file, target, progress, cancel, timeout))
        return installed

    def _download(self, entry: CatalogEntry, model_file: ModelFile, target: Path, progress: Progress | None, cancel: threading.Event | None, timeout: float) -> Path:
        tmp = self._temp_in(target.parent, model_file.filename)
        digest = hashlib.sha256()
        done = 0
        try:
            request = urllib.request.Request(model_file.url, headers={"User-Agent": USER_AGENT})
            try:
                response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - catalog URLs are http(s)
            except urllib.error.HTTPError as exc:
                raise WeightsError(f"downloading {model_file.filename} for '{entry.name}' failed: HTTP {exc.code} {exc.reason} from {model_file.url}") from exc
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise WeightsError(
                    f"cannot reach {model_file.url} ({reason}); check your connection, or download the file elsewhere "
                    f"and run `python main.py models import {entry.name} FILE`"
                ) from exc
            with response, open(tmp, "wb") as out:
                header = response.headers.get("Content-Length")
                total = int(header) if header and header.isdigit() else model_file.size
                if progress:
                    progress(0, total, model_file.filename)
                while True:
                    if cancel is not None and cancel.is_set():
                        raise DownloadCancelled(f"download of '{entry.name}' cancelled")
                    try:
                        chunk = response.read(CHUNK)
                    except OSError as exc:
                        raise WeightsError(f"the download of {model_file.filename} broke off after {human_size(done)} ({exc}); try again") from exc
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total, model_file.filename)
                out.flush()
                os.fsync(out.fileno())
            if total is not None and done != total:
                raise WeightsError(f"the download of {model_file.filename} ended early: {done:,} of {total:,} bytes; try again")
            hexdigest = digest.hexdigest()
            self._check(entry, model_file, tmp, hexdigest, f"the downloaded {model_file.filename}")
            os.replace(tmp, target)
            self._record(entry, model_file, hexdigest, done, model_file.url)
            log.info("installed %s (%s)", target, human_size(done))
            return target
        finally:
            if tmp.exists():
                tmp.unlink()

    def import_file(self, entry: CatalogEntry, src: str | os.PathLike[str], filename: str | None = None, *, force: bool = False) -> Path:
        """Install a file the user already has (offline machines).

        filename picks which of the entry's files it is (by default: the only file, or
        the one whose suffix matches). force: accept a file whose SHA-256 differs from
        the published one (a re-release or a fine-tune); the validator still runs.
        """
        source = Path(src).expanduser()
        if not source.is_file():
            raise WeightsError(f"{source}: no such file")
        model_file = self._match_file(entry, source, filename)
        target = self.folder(entry) / model_file.filename
        tmp = self._temp_in(target.parent, model_file.filename)
        try:
            shutil.copyfile(source, tmp)
            digest = sha256_of(tmp)
            self._check(entry, model_file, tmp, digest, str(source), check_hash=not force)
            os.replace(tmp, target)
            self._record(entry, model_file, digest, target.stat().st_size, f"import:{source}")
        finally:
            if tmp.exists():
                tmp.unlink()
        log.info("imported %s as %s", source, target)
        return target

    def _match_file(self, entry: CatalogEntry, source: Path, filename: str | None) -> ModelFile:
        if filename is not None or len(entry.files) == 1:
            return entry.file(filename)
        matches = [f for f in entry.files if Path(f.filename).suffix.lower() == source.suffix.lower()]
        if len(matches) == 1:
            return matches[0]
        names = ", ".join(f.filename for f in entry.files)
        raise WeightsError(f"'{entry.name}' has several files ({names}); say which one {source.name} is")

    def remove(self, entry: CatalogEntry) -> bool:
        """Delete the entry's files; returns whether anything was there."""
        folder = self.folder(entry)
        if not folder.exists():
            return False
        shutil.rmtree(folder)
        return True

    def installed_names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and any(p.iterdir()))


_DEFAULT: WeightsCache | None = None


def bundled_file(entry: CatalogEntry, filename: str) -> Path | None:
    """``filename`` inside the package named by ``entry.meta["bundled_in"]``, if installed."""
    where = entry.meta.get("bundled_in") if entry.meta else None
    if not where:
        return None
    import importlib.util

    package, folder = where
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / folder / filename
    return path if path.is_file() else None


def default_cache() -> WeightsCache:
    """The cache under engine.paths.models_dir() (follows $CNN_STUDIO_HOME)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = WeightsCache()
    return _DEFAULT
