"""The weights cache: download, verify, import and remove model files.

Layout: ``<models_dir>/<entry name>/<filename>`` plus a ``manifest.json`` per entry that
records each file's size and SHA-256 (published or recorded on first install) and where
it came from. A file appears under its final name only once it is complete and
verified: downloads and imports go to a temporary file in the same folder, are checked,
then renamed atomically (os.replace). Anything that fails on the way removes the
temporary file, so an interrupted download is simply started again; temporaries of a
process that was killed are removed the next time the folder is used.

Downloads are bounded (``engine.core.limits``): a Content-Length larger than the catalog size
is refused before anything is written, reading stops the moment the catalog size would
be exceeded, every read has a timeout, and a download slower than the minimum rate over
the rate window is abandoned. Entries without a published size are capped at
``max_download_bytes``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from engine.core import limits, paths
from engine.core.errors import Cancelled, NotFound, UserError
from engine.core.safe_files import clean_stale_temporaries
from engine.models.catalog import CatalogEntry, ModelFile

log = logging.getLogger(__name__)

Progress = Callable[[int, "int | None", str], None]
CHUNK = 1 << 20
USER_AGENT = "cnn-studio/0.1 (+weights download)"


class WeightsError(UserError, RuntimeError):
    """A download, import or verification failed; the message says what to do."""


class WeightsMissingError(WeightsError, NotFound):
    """A model's files are not installed.

    ``model``: the catalog name of the model ("" when unknown). ``todo`` gives the command-line
    way to install it; the GUI names its own (the model manager) from ``model`` instead.
    """

    def __init__(self, what: str = "", todo: str = "", *, model: str = "") -> None:
        super().__init__(what, todo)
        self.model = model


class DownloadCancelled(Cancelled):
    """The user cancelled a download; nothing was left behind."""


MAX_MANIFEST_BYTES = 1024 * 1024  # a manifest lists a few files' sizes and hashes
STALE_PART_AGE_S = 600.0  # a live download writes its .part every few seconds at most


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or while handling, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _user_message(exc: BaseException, tmp: Path, shown_name: str) -> str:
    """The validator's message with the temporary file's name replaced.

    A file torch's safe loader refused (``pickle.UnpicklingError`` anywhere in the chain:
    the validators wrap it in their own errors) gets a sentence of its own: torch's
    message advises loading the file unsafely, which must never reach users.
    """
    if any(isinstance(link, pickle.UnpicklingError) for link in _chain(exc)):
        return ("it is not a plain weights file: it holds pickled Python objects, which are never loaded "
                "because they could run code")
    text = str(exc).replace(str(tmp), shown_name).replace(tmp.name, shown_name)
    first = text.strip().splitlines()
    return first[0][:400] if first else exc.__class__.__name__


def _timed_out(exc: BaseException) -> bool:
    """Whether a failed read was a timeout (a socket timeout, or a URLError wrapping one)."""
    return isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError)


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
    """Installed model files under ``root`` (default: engine.core.paths.models_dir())."""

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
                f"the weights of '{entry.name}' are not installed",
                f"run `python main.py models fetch {entry.name}`{amount}, "
                f"or `python main.py models import {entry.name} FILE` with a file you already have", model=entry.name)
        return path

    def manifest(self, entry: CatalogEntry) -> dict:
        from engine.core.regular_files import read_regular_text

        try:  # a regular file of at most 1 MB: a FIFO or a huge file here must not hang or fill memory
            return json.loads(read_regular_text(self.folder(entry) / "manifest.json", MAX_MANIFEST_BYTES, what="manifest"))
        except (OSError, ValueError, RecursionError):
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
            from engine.core.safe_files import atomic_write_text

            atomic_write_text(target, json.dumps(manifest, indent=2, sort_keys=True))

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
            except (ValueError, OSError, RuntimeError) as exc:
                message = _user_message(exc, tmp, model_file.filename)
                raise WeightsError(f"{what} is not usable as '{entry.name}': {message}") from None

    def _temp_in(self, folder: Path, filename: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        clean_stale_temporaries(folder, [".*.part", "manifest.json.tmp"], older_than_s=STALE_PART_AGE_S)
        fd, name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=folder)
        os.close(fd)
        return Path(name)

    def fetch(self, entry: CatalogEntry, progress: Progress | None = None, cancel: threading.Event | None = None,
              timeout: float | None = None) -> list[Path]:
        """Download every missing file of ``entry``; returns the installed paths.

        progress(done_bytes, total_bytes_or_None, filename) is called after each chunk.
        ``cancel`` (a threading.Event) stops between chunks with DownloadCancelled.
        Raises WeightsError for network errors, size or hash mismatches, a stalled or too
        slow server; in every failure the partial file is removed and nothing is
        installed. ``timeout``: seconds one read may wait (default: the limit in force).
        """
        timeout = limits.current().download_timeout if timeout is None else timeout
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
                bound = limits.current()
                expected = model_file.size
                cap = expected if expected is not None else bound.max_download_bytes
                header = response.headers.get("Content-Length")
                announced = int(header) if header and header.strip().isdigit() else None
                if announced is not None and announced > cap:
                    raise WeightsError(
                        f"the server offers {human_size(announced)} for {model_file.filename}, "
                        + (f"but the published file has {model_file.size:,} bytes" if expected is not None
                           else f"more than the download limit of {human_size(cap)} ({bound.hint('max_download_bytes')})")
                        + "; nothing was downloaded (wrong URL, or a server error page?)")
                total = announced if announced is not None else expected
                if progress:
                    progress(0, total, model_file.filename)
                read = getattr(response, "read1", response.read)  # read1: whatever arrived, no waiting for a full chunk
                window_start, window_bytes = time.monotonic(), 0
                while True:
                    if cancel is not None and cancel.is_set():
                        raise DownloadCancelled(f"download of '{entry.name}' cancelled")
                    try:
                        chunk = read(CHUNK)
                    except (OSError, ValueError) as exc:
                        what = "the server stopped sending" if _timed_out(exc) else str(exc)
                        raise WeightsError(f"the download of {model_file.filename} broke off after {human_size(done)} "
                                           f"({what}); try again") from None
                    if not chunk:
                        break
                    if done + len(chunk) > cap:
                        raise WeightsError(
                            f"the server sent more than the {cap:,} bytes of {model_file.filename}; the download was "
                            "stopped and nothing was installed (wrong URL?)")
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    window_bytes += len(chunk)
                    if progress:
                        progress(done, total, model_file.filename)
                    elapsed = time.monotonic() - window_start
                    if elapsed >= bound.download_rate_window:
                        if window_bytes / elapsed < bound.download_min_rate:
                            raise WeightsError(
                                f"the download of {model_file.filename} is too slow ({window_bytes / elapsed:.0f} B/s "
                                f"over {elapsed:.0f} s, below {bound.download_min_rate:.0f} B/s); try again later "
                                f"({bound.hint('download_min_rate').replace('raise', 'lower').replace('set', 'or set')})")
                        window_start, window_bytes = time.monotonic(), 0
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
        from engine.core.safe_files import input_file_problem

        source = Path(src).expanduser()
        problem = input_file_problem(source)
        if problem is not None:
            raise WeightsError(problem.what, problem.todo)
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
    """The cache under engine.core.paths.models_dir() (follows $CNN_STUDIO_HOME)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = WeightsCache()
    return _DEFAULT
