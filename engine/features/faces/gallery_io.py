"""Export and import a gallery as a zip: manifest.json + one .npy per embedder + PNG thumbnails.

Nothing is pickled: vectors are written with ``np.save(allow_pickle=False)`` and read
back with ``allow_pickle=False``. An import is checked completely before anything is
written, then written in one transaction.

Archive layout (format version 1):

    manifest.json          {"format": "cnn-studio-faces", "version": 1,
                            "embedders": {NAME: {"file": "embeddings/NAME.npy", "dim": D}},
                            "people": [{"name", "created",
                                        "shots": [{"file", "created", "embeddings": {NAME: row}}]}]}
    embeddings/NAME.npy    (M, D) float32, little-endian
    thumbnails/000001.png  the stored chip, byte for byte
"""

from __future__ import annotations

import errno
import io
import json
import logging
import math
import os
import re
import time
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from engine.core import limits
from engine.core.errors import BadFormat
from engine.core.safe_files import atomic_path, input_file_problem
from engine.features.faces.gallery import Gallery
from engine.features.faces.gallery_records import GalleryError, PersonExistsError, check_name, decode_chip, name_key

log = logging.getLogger(__name__)

FORMAT = "cnn-studio-faces"
VERSION = 1
_SAFE_EMBEDDER = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ArchiveError(GalleryError, BadFormat):
    """A file that is not a valid gallery export; the message names what is wrong."""


def export_zip(gallery: Gallery, path: str | os.PathLike[str]) -> dict:
    """Write the whole gallery to ``path`` (a .zip). Returns a summary {people, shots, embedders}.

    The archive is written under a temporary name in the target's folder and renamed
    into place when complete; on any failure (a full disk, Ctrl+C) the temporary is
    deleted, so no partial copy of the gallery is left anywhere and an older file of
    that name is kept.
    """
    target = Path(path)
    from engine.core.safe_files import SameFileError, refuse_same_file

    try:  # replacing the gallery (or one of its backups) with its own export would destroy it
        refuse_same_file([gallery.path, *gallery.backups()], target)
    except SameFileError as exc:
        raise GalleryError(f"{exc.output} is the input {exc.source} itself", exc.todo) from None
    people_out = []
    matrices: dict[str, list[np.ndarray]] = {}
    dims: dict[str, int] = {}
    thumbs: list[tuple[str, bytes]] = []
    with gallery._lock:  # one consistent snapshot
        people = gallery._read("SELECT id, name, created FROM people ORDER BY name COLLATE NOCASE, id")
        for person_id, name, created in people:
            shots_out = []
            for shot_id, png, shot_created in gallery._read(
                "SELECT id, thumbnail, created FROM shots WHERE person_id = ? ORDER BY id", (person_id,)
            ):
                filename = f"thumbnails/{len(thumbs) + 1:06d}.png"
                thumbs.append((filename, bytes(png)))
                rows = {}
                for embedder, dim, blob in gallery._read(
                    "SELECT embedder, dim, vector FROM embeddings WHERE shot_id = ? ORDER BY embedder", (shot_id,)
                ):
                    vec = np.frombuffer(blob, dtype="<f4").reshape(int(dim))
                    matrices.setdefault(embedder, []).append(vec)
                    dims[embedder] = int(dim)
                    rows[embedder] = len(matrices[embedder]) - 1
                shots_out.append({"file": filename, "created": shot_created, "embeddings": rows})
            people_out.append({"name": name, "created": created, "shots": shots_out})
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "embedders": {name: {"file": f"embeddings/{name}.npy", "dim": dims[name]} for name in sorted(matrices)},
        "people": people_out,
    }
    try:
        with atomic_path(target) as tmp:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("manifest.json", json.dumps(manifest, indent=1))
                for name, vecs in matrices.items():
                    buf = io.BytesIO()
                    np.save(buf, np.stack(vecs).astype("<f4"), allow_pickle=False)
                    zf.writestr(f"embeddings/{name}.npy", buf.getvalue())
                for filename, data in thumbs:
                    zf.writestr(filename, data, compress_type=zipfile.ZIP_STORED)  # PNG is compressed already
    except OSError as exc:
        reason = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise GalleryError(f"cannot export the face gallery to {target}: {reason}; nothing was written") from exc
    summary = {"people": len(people_out), "shots": len(thumbs), "embedders": sorted(matrices)}
    log.info("exported the face gallery to %s: %s", target, summary)
    return summary


# -- reading an archive: every member and every manifest value is checked -------------------
_MAX_THUMBNAIL_BYTES = 4 * 1024 * 1024
_MAX_DIM = 65_536


class _Archive:
    """An open export being validated; every read is bounded by the archive limits."""

    def __init__(self, path: Path, zf: zipfile.ZipFile) -> None:
        self.path, self.zf = path, zf
        self.limits = limits.current()
        self.members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in zf.infolist():
            if info.filename in self.members:
                raise self.error(f"the member {info.filename} appears twice")
            if info.flag_bits & 0x1:
                raise self.error(f"{info.filename} is encrypted; export the gallery again without a password")
            total += info.file_size
            self.members[info.filename] = info
        if total > self.limits.max_archive_bytes:
            raise self.error(f"it unpacks to {limits.human_bytes(total)}, more than the limit of "
                             f"{limits.human_bytes(self.limits.max_archive_bytes)} ({self.limits.hint('max_archive_bytes')})")

    def error(self, message: str) -> ArchiveError:
        return ArchiveError(f"{self.path.name}: {message}")

    def open(self, member: str, limit: int) -> io.BufferedIOBase:
        info = self.members.get(member)
        if info is None:
            raise self.error(f"{member} listed in manifest.json is missing from the archive")
        if info.file_size > limit:
            raise self.error(f"{member} unpacks to {limits.human_bytes(info.file_size)}, more than the limit of "
                             f"{limits.human_bytes(limit)}")
        try:
            return self.zf.open(info)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError, zlib.error) as exc:
            raise self.error(f"{member} cannot be unpacked ({exc})") from exc

    def read(self, member: str, limit: int) -> bytes:
        with self.open(member, limit) as fh:
            try:
                # The directory's size can lie; never read more than the limit (+1 to notice).
                data = fh.read(limit + 1)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error, ValueError) as exc:
                raise self.error(f"{member} is damaged ({exc})") from exc
        if len(data) > limit:
            raise self.error(f"{member} unpacks to more than the limit of {limits.human_bytes(limit)}")
        return data


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _read_matrix(archive: _Archive, member: str, dim: int) -> np.ndarray:
    """An (M, dim) float matrix from a .npy member, its header checked before the data is read."""
    info = archive.members.get(member)
    with archive.open(member, archive.limits.max_archive_bytes) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"npy format version {version} is not supported")
        except (ValueError, TypeError, KeyError, OSError, EOFError, zipfile.BadZipFile, zlib.error, SyntaxError,
                tokenize.TokenError) as exc:  # numpy parses the header as a Python literal
            raise archive.error(f"{member} is not a plain .npy array ({type(exc).__name__})") from None
        if dtype.hasobject:
            raise archive.error(f"{member} is not a plain .npy array (it holds pickled objects, which are never loaded)")
        if dtype.kind != "f" or dtype.itemsize not in (4, 8) or len(shape) != 2 or shape[1] != dim:
            raise archive.error(f"{member} has shape {shape} {dtype}, expected (M, {dim}) float")
        nbytes = int(shape[0]) * int(shape[1]) * dtype.itemsize
        if info is not None and nbytes > info.file_size:
            raise archive.error(f"{member} declares {shape[0]} vectors but holds fewer")
        try:
            raw = fh.read(nbytes)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            raise archive.error(f"{member} is damaged ({exc})") from exc
    if len(raw) != nbytes:
        raise archive.error(f"{member} is truncated")
    mat = np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    if not np.isfinite(mat).all():
        bad = int((~np.isfinite(mat)).any(axis=1).sum())
        raise archive.error(f"{member} has {bad} vector(s) with NaN or infinite values")
    return np.ascontiguousarray(mat, dtype="<f4")


def _read_archive(path: Path) -> tuple[dict, dict[str, np.ndarray], dict[str, bytes]]:
    problem = input_file_problem(path, limits.current().max_archive_bytes)
    if problem is not None:
        raise ArchiveError(problem.what, problem.todo)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ArchiveError(f"{path.name} is not a zip file ({exc}); expected a gallery exported by CNN Studio") from exc
    with zf:
        if "manifest.json" not in zf.namelist():
            raise ArchiveError(f"{path.name} has no manifest.json: it is not a CNN Studio face gallery export")
        archive = _Archive(path, zf)
        raw = archive.read("manifest.json", archive.limits.max_manifest_bytes)
        try:
            manifest = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            what = "nested too deeply" if isinstance(exc, RecursionError) else f"not valid JSON ({exc})"
            raise ArchiveError(f"{path.name}: manifest.json is {what}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ArchiveError(f"{path.name}: manifest.json is not a '{FORMAT}' manifest")
        if not _is_int(manifest.get("version")) or manifest.get("version") != VERSION:
            raise ArchiveError(f"{path.name}: format version {manifest.get('version')!r} is not supported (expected {VERSION})")
        embedders = manifest.get("embedders", {})
        if not isinstance(embedders, dict):
            raise archive.error("'embedders' in manifest.json must be an object")
        matrices: dict[str, np.ndarray] = {}
        for name, info in embedders.items():
            if not _SAFE_EMBEDDER.match(str(name)) or not isinstance(info, dict):
                raise ArchiveError(f"{path.name}: bad embedder entry '{str(name)[:80]}' in manifest.json")
            member, dim = info.get("file"), info.get("dim")
            if not isinstance(member, str) or not _is_int(dim) or not 0 < dim <= _MAX_DIM:
                raise archive.error(f"embedder '{name}' needs a 'file' name and a positive integer 'dim'")
            matrices[name] = _read_matrix(archive, member, dim)
        people = manifest.get("people")
        if not isinstance(people, list):
            raise ArchiveError(f"{path.name}: manifest.json has no list of people")
        thumbs: dict[str, bytes] = {}
        seen: dict[str, str] = {}
        for number, person in enumerate(people, start=1):
            _check_person(archive, number, person, matrices, thumbs, seen)
    return manifest, matrices, thumbs


def _check_person(archive: _Archive, number: int, person, matrices: dict[str, np.ndarray],
                  thumbs: dict[str, bytes], seen: dict[str, str]) -> None:
    where = f"person {number} in manifest.json"
    if not isinstance(person, dict):
        raise archive.error(f"malformed {where}: not an object")
    if not isinstance(person.get("name"), str):
        raise archive.error(f"malformed {where}: 'name' must be a string")
    try:
        name = check_name(person["name"])
    except ValueError as exc:
        raise archive.error(f"{where}: {exc}") from None
    key = name_key(name)
    if key in seen:
        raise archive.error(f"'{name}' and '{seen[key]}' are the same name; an export lists each person once")
    seen[key] = name
    if not _is_number(person.get("created")):
        raise archive.error(f"malformed entry of '{name}': 'created' must be a number")
    shots = person.get("shots")
    if not isinstance(shots, list):
        raise archive.error(f"malformed entry of '{name}': 'shots' must be a list")
    for shot in shots:
        if not isinstance(shot, dict) or not isinstance(shot.get("file"), str) or not _is_number(shot.get("created")):
            raise archive.error(f"malformed shot of '{name}': it needs a 'file' name and a 'created' number")
        member = shot["file"]
        if member not in archive.members:
            raise archive.error(f"thumbnail {member} of '{name}' is missing")
        if member not in thumbs:
            data = archive.read(member, _MAX_THUMBNAIL_BYTES)
            try:
                decode_chip(data)  # raises for a broken image
            except GalleryError as exc:
                raise archive.error(f"thumbnail {member} of '{name}': {exc}") from None
            thumbs[member] = data
        rows = shot.get("embeddings", {})
        if not isinstance(rows, dict):
            raise archive.error(f"malformed shot {member} of '{name}': 'embeddings' must be an object")
        for emb, row in rows.items():
            if emb not in matrices or not _is_int(row) or not 0 <= row < len(matrices[emb]):
                raise archive.error(f"shot {member} points at a missing {emb} vector (row {row!r})")


def check_against_embedders(gallery: Gallery, matrices: dict[str, np.ndarray], source: str) -> None:
    """ArchiveError unless every matrix has the dimension of its embedder (the model's,
    for the embedders this app knows, and the gallery's own vectors of that name)."""
    from engine.features.faces.embedders import embedder_info

    for name, mat in matrices.items():
        dim = int(mat.shape[1])
        try:
            expected = int(embedder_info(name)["dim"])
        except ValueError:
            raise ArchiveError(f"{source}: its vectors come from '{name}', an embedder this version does not know; "
                               "nothing was imported") from None
        if expected and dim != expected:
            raise ArchiveError(f"{source}: the {name} vectors have {dim} values, but {name} makes {expected}; "
                               "the archive is damaged or from another model; nothing was imported")
        stored = gallery.stored_dims(name)
        if stored and stored != {dim}:
            raise ArchiveError(f"{source}: the {name} vectors have {dim} values, the gallery's have "
                               f"{', '.join(map(str, sorted(stored)))}; nothing was imported")


def archive_people(path: str | os.PathLike[str]) -> list[str]:
    """Names of the people in an export (the whole archive is checked; ArchiveError if broken)."""
    manifest, _, _ = _read_archive(Path(path))
    return [check_name(p["name"]) for p in manifest["people"]]


def import_zip(gallery: Gallery, path: str | os.PathLike[str], on_conflict: str = "error") -> dict:
    """Add the people of an export to ``gallery`` in one transaction.

    on_conflict for a name that exists: "error" (PersonExistsError, nothing imported),
    "merge" (add the shots to the existing person) or "skip" (leave them out).
    Returns {people, shots, skipped: [names], merged: [names]}.
    """
    if on_conflict not in ("error", "merge", "skip"):
        raise ValueError("on_conflict must be 'error', 'merge' or 'skip'")
    manifest, matrices, thumbs = _read_archive(Path(path))
    check_against_embedders(gallery, matrices, Path(path).name)
    existing = {name_key(p.name): p for p in gallery.people()}
    conflicts = [p["name"] for p in manifest["people"] if name_key(check_name(p["name"])) in existing]
    if conflicts and on_conflict == "error":
        raise PersonExistsError(", ".join(conflicts))  # nothing was written
    summary = {"people": 0, "shots": 0, "skipped": [], "merged": []}
    with gallery._write() as conn:
        for person in manifest["people"]:
            name = check_name(person["name"])
            if name_key(name) in existing:
                if on_conflict == "skip":
                    summary["skipped"].append(name)
                    continue
                person_id = existing[name_key(name)].id
                summary["merged"].append(name)
            else:
                person_id = conn.execute(
                    "INSERT INTO people(name, created) VALUES (?, ?)", (name, float(person["created"]))
                ).lastrowid
                summary["people"] += 1
            for shot in person["shots"]:
                vectors = {emb: matrices[emb][int(row)] for emb, row in shot.get("embeddings", {}).items()}
                gallery._insert_shot(conn, person_id, thumbs[shot["file"]], vectors, float(shot["created"]))
                summary["shots"] += 1
    log.info("imported %s into the face gallery: %s", path, summary)
    return summary
