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

import io
import json
import logging
import os
import re
import time
import zipfile
from pathlib import Path

import numpy as np

from engine.faces.gallery import Gallery, GalleryError, PersonExistsError, check_name, decode_chip

log = logging.getLogger(__name__)

FORMAT = "cnn-studio-faces"
VERSION = 1
_SAFE_EMBEDDER = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ArchiveError(GalleryError):
    """A file that is not a valid gallery export; the message names what is wrong."""


def export_zip(gallery: Gallery, path: str | os.PathLike[str]) -> dict:
    """Write the whole gallery to ``path`` (a .zip). Returns a summary {people, shots, embedders}."""
    target = Path(path)
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
    tmp = target.with_name(target.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, indent=1))
        for name, vecs in matrices.items():
            buf = io.BytesIO()
            np.save(buf, np.stack(vecs).astype("<f4"), allow_pickle=False)
            zf.writestr(f"embeddings/{name}.npy", buf.getvalue())
        for filename, data in thumbs:
            zf.writestr(filename, data, compress_type=zipfile.ZIP_STORED)  # PNG is compressed already
    os.replace(tmp, target)
    summary = {"people": len(people_out), "shots": len(thumbs), "embedders": sorted(matrices)}
    log.info("exported the face gallery to %s: %s", target, summary)
    return summary


def _read_archive(path: Path) -> tuple[dict, dict[str, np.ndarray], dict[str, bytes]]:
    if not path.is_file():
        raise ArchiveError(f"{path}: no such file")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"{path.name} is not a zip file ({exc}); expected a gallery exported by CNN Studio") from exc
    with zf:
        names = set(zf.namelist())
        if "manifest.json" not in names:
            raise ArchiveError(f"{path.name} has no manifest.json: it is not a CNN Studio face gallery export")
        try:
            manifest = json.loads(zf.read("manifest.json"))
        except ValueError as exc:
            raise ArchiveError(f"{path.name}: manifest.json is not valid JSON ({exc})") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ArchiveError(f"{path.name}: manifest.json is not a '{FORMAT}' manifest")
        if manifest.get("version") != VERSION:
            raise ArchiveError(f"{path.name}: format version {manifest.get('version')} is not supported (expected {VERSION})")
        matrices: dict[str, np.ndarray] = {}
        for name, info in (manifest.get("embedders") or {}).items():
            if not _SAFE_EMBEDDER.match(str(name)) or not isinstance(info, dict):
                raise ArchiveError(f"{path.name}: bad embedder entry '{name}' in manifest.json")
            member = info.get("file")
            if member not in names:
                raise ArchiveError(f"{path.name}: {member} listed in manifest.json is missing from the archive")
            try:
                mat = np.load(io.BytesIO(zf.read(member)), allow_pickle=False)
            except ValueError as exc:
                raise ArchiveError(f"{path.name}: {member} is not a plain .npy array ({exc})") from exc
            if mat.ndim != 2 or mat.dtype.kind != "f" or mat.shape[1] != int(info.get("dim", -1)):
                raise ArchiveError(f"{path.name}: {member} has shape {mat.shape} {mat.dtype}, expected (M, {info.get('dim')}) float")
            matrices[name] = mat.astype("<f4", copy=False)
        thumbs: dict[str, bytes] = {}
        people = manifest.get("people")
        if not isinstance(people, list):
            raise ArchiveError(f"{path.name}: manifest.json has no list of people")
        for person in people:
            try:
                check_name(person["name"])
                shots = person["shots"]
                for shot in shots:
                    member = shot["file"]
                    if member not in names:
                        raise ArchiveError(f"{path.name}: thumbnail {member} of '{person['name']}' is missing")
                    data = zf.read(member)
                    decode_chip(data)  # raises for a broken image
                    thumbs[member] = data
                    for emb, row in shot.get("embeddings", {}).items():
                        if emb not in matrices or not 0 <= int(row) < len(matrices[emb]):
                            raise ArchiveError(f"{path.name}: shot {member} points at a missing {emb} vector (row {row})")
            except (KeyError, TypeError, ValueError) as exc:
                if isinstance(exc, ArchiveError):
                    raise
                raise ArchiveError(f"{path.name}: malformed person entry in manifest.json ({exc})") from exc
            except GalleryError as exc:
                if isinstance(exc, ArchiveError):
                    raise
                raise ArchiveError(f"{path.name}: {exc}") from exc
    return manifest, matrices, thumbs


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
    existing = {p.name.casefold(): p for p in gallery.people()}
    conflicts = [p["name"] for p in manifest["people"] if check_name(p["name"]).casefold() in existing]
    if conflicts and on_conflict == "error":
        raise PersonExistsError(", ".join(conflicts))  # nothing was written
    summary = {"people": 0, "shots": 0, "skipped": [], "merged": []}
    with gallery._write() as conn:
        for person in manifest["people"]:
            name = check_name(person["name"])
            if name.casefold() in existing:
                if on_conflict == "skip":
                    summary["skipped"].append(name)
                    continue
                person_id = existing[name.casefold()].id
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
