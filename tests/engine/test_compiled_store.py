"""engine.runtime.compiled_store and BackgroundCompiled's disk cache: the key follows what
decides the compiled code; a package that does not load is deleted with one note; the
store keeps its size; a package written by one BackgroundCompiled is loaded, not
compiled, by the next (one real AOTInductor compile of a tiny network, marked slow:
about 30-60 s on a 2-core machine)."""

from __future__ import annotations

import copy
import logging
import os
import time
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from engine.runtime.compiled import COMPILED, BackgroundCompiled
from engine.runtime.compiled_store import TEMP_PREFIX, CompileStore, app_store, weights_digest
from tests.engine.compile_helpers import aot_eager, notes, serve_first, tiny


def test_the_key_follows_weights_input_and_options(tmp_path):
    store, model, x = CompileStore(tmp_path), tiny(), torch.rand(1, 3, 16, 16)
    key = store.key(model, x)
    assert store.key(copy.deepcopy(model), x.clone()) == key  # same network, same input kind: same package
    changed = copy.deepcopy(model)
    with torch.no_grad():
        changed[2].bias[0] += 1e-3
    assert weights_digest(changed) != weights_digest(model) and store.key(changed, x) != key
    assert store.key(model, torch.rand(1, 3, 16, 24)) != key
    assert store.key(model, x.to(torch.bfloat16)) != key
    assert store.key(model, x.contiguous(memory_format=torch.channels_last)) != key
    assert store.key(model.to(memory_format=torch.channels_last), x) != key  # weight strides differ
    assert store.key(tiny(), x, {"freezing": False}) != store.key(tiny(), x, {"freezing": True})
    other = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1)).eval()
    other.load_state_dict(tiny().state_dict())  # same weights, another activation
    assert store.key(other, x) != store.key(tiny(), x)


def test_a_package_that_does_not_load_is_deleted_with_one_note(tmp_path, caplog):
    store, x = CompileStore(tmp_path), torch.rand(1, 3, 16, 16)
    key = store.key(tiny(), x)
    assert store.load(key) is None and not notes(caplog)  # none stored: nothing to say
    store.path(key).write_bytes(b"PK\x03\x04 not really a zip")
    with caplog.at_level(logging.INFO, logger="engine.runtime.compiled_store"):
        assert store.load(key) is None
    assert not store.path(key).exists()
    assert len(notes(caplog)) == 1 and "does not load" in notes(caplog)[0]


def test_the_store_keeps_its_size_dropping_the_least_recently_used(tmp_path):
    store = CompileStore(tmp_path, max_bytes=250)
    for i, name in enumerate(("old", "mid", "new")):
        path = store.path(name)
        path.write_bytes(b"x" * 100)
        os.utime(path, (time.time() - 100 + i, time.time() - 100 + i))
    stale = tmp_path / f"{TEMP_PREFIX}crashed.pt2"
    stale.write_bytes(b"half")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    fresh = tmp_path / f"{TEMP_PREFIX}writing.pt2"
    fresh.write_bytes(b"half")  # a write in progress (another process): kept
    store.prune(keep="old")  # the package just loaded or written stays, whatever its age
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["old.pt2", "new.pt2", fresh.name])


def test_the_app_store_lives_in_the_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_HOME", str(tmp_path))
    assert app_store().root == tmp_path / "cache" / "torch-compile" / "aoti"


@torch.inference_mode()
def test_other_compilers_keep_no_store_unless_given_one(tmp_path):
    model, x = tiny(), torch.rand(1, 3, 16, 16)
    net = BackgroundCompiled(model, x, compiler=aot_eager, store=CompileStore(tmp_path))
    serve_first(net, x)
    assert net.wait(120) and net.state == COMPILED and not net.loaded_from_disk
    assert list(tmp_path.iterdir()) == []  # aot_eager packages nothing; the store was only looked in


@pytest.mark.slow
@torch.inference_mode()
def test_a_compiled_network_is_kept_on_disk_and_loaded_by_the_next_launch(tmp_path, caplog):
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    model, x = tiny(), torch.rand(1, 3, 16, 16)
    first = BackgroundCompiled(model, x, name="tiny", store=CompileStore(tmp_path))
    serve_first(first, x)
    assert first.wait(600) and first.state == COMPILED, first.note
    assert not first.loaded_from_disk
    key = CompileStore(tmp_path).key(model, x)
    assert CompileStore(tmp_path).has(key)
    with zipfile.ZipFile(CompileStore(tmp_path).path(key)) as package:
        library = next(Path(n).name for n in package.namelist() if n.endswith(".so"))
    assert not list(Path(cache_dir()).rglob(library))  # AOTInductor's build copy is not kept beside the package

    def must_not_compile(module):
        raise AssertionError("compiled although a package was stored")

    # The next launch: a fresh store and a fresh copy of the same network load the package.
    again = BackgroundCompiled(copy.deepcopy(model), x, compiler=must_not_compile, store=CompileStore(tmp_path))
    serve_first(again, x)
    assert again.wait(60) and again.state == COMPILED and again.loaded_from_disk, again.note
    assert torch.allclose(again(x), model(x), atol=1e-5)

    # Other weights: the old package is not theirs (they compile, here with aot_eager).
    changed = tiny(seed=1)
    other = BackgroundCompiled(changed, x, compiler=aot_eager, store=CompileStore(tmp_path))
    serve_first(other, x)
    assert other.wait(120) and other.state == COMPILED and not other.loaded_from_disk
    assert torch.allclose(other(x), changed(x), atol=1e-5)

    # A damaged package: deleted with one note, compiled again and written anew.
    CompileStore(tmp_path).path(key).write_bytes(b"damaged")
    with caplog.at_level(logging.INFO):
        fixed = BackgroundCompiled(model, x, name="tiny", store=CompileStore(tmp_path))
        serve_first(fixed, x)
        assert fixed.wait(600) and fixed.state == COMPILED and not fixed.loaded_from_disk, fixed.note
    assert len(notes(caplog)) == 1 and "does not load" in notes(caplog)[0]
    assert CompileStore(tmp_path).load(key) is not None  # a whole package again


class DataDependent(nn.Module):
    """A branch on a tensor's value: export cannot trace it (its tracing input has no values)."""

    def forward(self, x):
        return x * 2 if float(x.sum()) > 0 else x


def test_a_network_that_cannot_be_packaged_leaves_a_note_not_a_file(tmp_path):
    store, x = CompileStore(tmp_path), torch.rand(1, 3, 8, 8)
    key = store.key(DataDependent(), x)
    with pytest.raises(Exception):
        store.package(DataDependent(), x, key)
    assert store.failed(key) and not store.has(key)
    assert [p.name for p in tmp_path.iterdir()] == [f"{key}.failed"]  # no half-written package left
    old = time.time() - 8 * 24 * 3600
    os.utime(tmp_path / f"{key}.failed", (old, old))
    assert store.failed(key) is None  # tried again after a week (a C++ compiler installed since, perhaps)
