"""Fuzzing the cfg parser and the gallery importer with mutations of real files.

Every outcome must be success or the module's own clean error; any other exception is
a bug. The number of examples is bounded so the run stays short in CI.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import tempfile
from pathlib import Path

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.features.detect.backends.darknet.cfg import DarknetCfgError, parse_cfg_text
from engine.features.detect.backends.darknet.model import DarknetModel
from engine.features.detect.names import bundled_path
from engine.features.faces.gallery import Gallery
from engine.features.faces.gallery_io import import_zip
from engine.features.faces.gallery_records import GalleryError
from tests.hardening.gallery_archives import members, real_export, write_members

REAL_CFGS = {name: bundled_path(f"{name}.cfg").read_text() for name in ("yolov4-tiny", "yolov3-tiny", "yolov7-tiny")}
# Bounded for CI; FUZZ_EXAMPLES=2000 explores more on a developer machine.
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "120")), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])

_VALUES = st.one_of(
    st.integers(-3, 5).map(str),
    st.sampled_from(["0", "-1", "1000000000", "1e9", "nan", "inf", "", "1,2", ",", "leaky", "x", "-0", "0x10"]),
    st.text(alphabet="0123456789-,.e ", max_size=8),
)


@st.composite
def mutated_cfg(draw) -> str:
    lines = REAL_CFGS[draw(st.sampled_from(sorted(REAL_CFGS)))].splitlines()
    for _ in range(draw(st.integers(1, 6))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["value", "delete", "duplicate", "swap", "header", "garbage"]))
        if action == "value" and "=" in lines[i]:
            lines[i] = lines[i].split("=", 1)[0] + "=" + draw(_VALUES)
        elif action == "delete":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "header":
            lines.insert(i, draw(st.sampled_from(["[net]", "[route]", "[yolo]", "[maxpool]", "[upsample]", "[", "[]"])))
        else:
            lines.insert(i, draw(st.text(max_size=20)))
    return "\n".join(lines)


@FUZZ
@given(mutated_cfg())
def test_mutated_cfgs_parse_and_build_or_fail_cleanly(text):
    try:
        cfg = parse_cfg_text(text, source="fuzz.cfg")
        with torch.device("meta"):  # the shapes and parameter counts, without memory
            DarknetModel(cfg)
    except DarknetCfgError as exc:
        assert str(exc).startswith("fuzz.cfg"), str(exc)


@functools.lru_cache(maxsize=1)
def export_members() -> dict[str, bytes]:
    """The members of one real export (made once; not a fixture, so a failing example's
    report does not print megabytes of archive bytes)."""
    with tempfile.TemporaryDirectory() as folder:
        return members(real_export(Path(folder)))


_JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-2, 2**40), st.floats(allow_nan=True),
                         st.text(max_size=6), st.just([]), st.just({}))


def _leaf_paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaf_paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaf_paths(value, prefix + (index,))
    yield prefix


@FUZZ
@given(data=st.data())
def test_mutated_exports_import_or_fail_cleanly(tmp_path_factory, data):
    items = dict(export_members())
    kind = data.draw(st.sampled_from(["json", "bytes", "truncate", "drop"]))
    if kind == "json":
        manifest = json.loads(items["manifest.json"])
        paths = list(_leaf_paths(manifest))
        for _ in range(data.draw(st.integers(1, 4))):
            path = data.draw(st.sampled_from(paths))
            if not path:
                continue
            node = manifest
            try:
                for key in path[:-1]:
                    node = node[key]
                # st.just hands out ONE [] / {} object for every draw: a copy, or a later
                # mutation writes into it (even into itself) and into later examples.
                node[path[-1]] = copy.deepcopy(data.draw(_JSON_LEAVES))
            except (KeyError, IndexError, TypeError):
                continue
        items["manifest.json"] = json.dumps(manifest).encode()
    else:
        name = data.draw(st.sampled_from(sorted(items)))
        blob = bytearray(items[name])
        if kind == "bytes" and blob:
            for _ in range(data.draw(st.integers(1, 8))):
                blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
            items[name] = bytes(blob)
        elif kind == "truncate":
            items[name] = bytes(blob[: data.draw(st.integers(0, len(blob)))])
        else:
            del items[name]
    folder = tmp_path_factory.mktemp("fuzz")
    archive = write_members(folder / "mutated.zip", items)
    if data.draw(st.booleans()):  # damage the zip container itself too
        raw = bytearray(archive.read_bytes())
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= 0xFF
        archive.write_bytes(bytes(raw))
    with Gallery(folder / "g.db") as g:
        try:
            import_zip(g, archive, on_conflict=data.draw(st.sampled_from(["error", "merge", "skip"])))
        except GalleryError:
            assert g.people() == []  # refused: nothing written
