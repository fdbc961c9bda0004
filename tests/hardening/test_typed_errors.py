"""Behaviour that depends on the kind of a problem reads it from the error's type or its
attributes, never from the message: a path or a foreign message that happens to contain
the words once looked for ("larger than the limit", "no such file", "full", "timed out",
"weights_only") changes nothing."""

from __future__ import annotations

import os
import pickle
import sqlite3
import urllib.error

import numpy as np
import pytest

from engine.core.errors import NotFound, TooLarge
from engine.core.safe_files import InputTooLargeError, MissingInputError, UnsafeFileError, input_file_problem
from engine.features.faces.gallery import Gallery
from engine.features.faces.gallery_records import GalleryFullError, GalleryLockedError
from engine.features.faces.lbp import DIM as LBP_DIM
from tests.hardening.gallery_archives import fill

# -- engine.core.safe_files: the kind of an input problem is its type --------------------------------

def test_input_problems_are_typed(tmp_path):
    missing = input_file_problem(tmp_path / "absent.png")
    assert isinstance(missing, MissingInputError) and isinstance(missing, NotFound)
    big = tmp_path / "big.png"
    big.write_bytes(b"x" * 300)
    large = input_file_problem(big, max_bytes=100)
    assert isinstance(large, InputTooLargeError) and isinstance(large, TooLarge)
    assert (large.value, large.limit) == (300, 100)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    odd = input_file_problem(fifo)
    assert isinstance(odd, UnsafeFileError) and not isinstance(odd, (NotFound, TooLarge))
    assert "FIFO" in odd.what and odd.todo == "give a regular file"
    assert input_file_problem(big) is None


def test_a_missing_image_in_a_folder_named_like_the_limit_message(tmp_path, monkeypatch):
    from engine.core.errors import SourceError
    from engine.io.images import read_image

    folder = tmp_path / "larger than the limit"
    folder.mkdir()
    with pytest.raises(SourceError) as info:
        read_image(folder / "photo.png")
    assert "no such file" in str(info.value) and "for input files" not in str(info.value)
    monkeypatch.setenv("CNN_STUDIO_MAX_INPUT_BYTES", "100")
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 200)
    with pytest.raises(SourceError) as info:
        read_image(folder / "photo.png")
    assert "larger than the limit of 100 B" in str(info.value) and isinstance(info.value, SourceError)
    assert "CNN_STUDIO_MAX_INPUT_BYTES" in info.value.todo  # the size, not "no such file": typed, not read from text
    assert info.value.todo == "set CNN_STUDIO_MAX_INPUT_BYTES to raise it"


def test_a_large_cfg_in_a_folder_named_like_the_missing_file_message(tmp_path, monkeypatch):
    from engine.features.detect.backends.darknet.cfg import DarknetCfgError, parse_cfg

    folder = tmp_path / "no such file"
    folder.mkdir()
    cfg = folder / "big.cfg"
    cfg.write_text("[net]\n" + "# padding\n" * 100)
    monkeypatch.setenv("CNN_STUDIO_MAX_CFG_BYTES", "64")
    with pytest.raises(DarknetCfgError) as info:
        parse_cfg(cfg)
    assert "larger than the limit" in str(info.value) and "not found" not in str(info.value)
    assert "CNN_STUDIO_MAX_CFG_BYTES" in info.value.todo
    with pytest.raises(DarknetCfgError, match="cfg file not found"):
        parse_cfg(folder / "absent.cfg")


def test_a_large_names_file_named_like_the_missing_file_message(tmp_path, monkeypatch):
    from engine.features.detect.names import NamesError, read_names

    names = tmp_path / "no such file.names"
    names.write_text("person\n" * 40)
    monkeypatch.setenv("CNN_STUDIO_MAX_CFG_BYTES", "64")
    with pytest.raises(NamesError, match="larger than the limit"):
        read_names(names)
    with pytest.raises(NamesError, match="names file not found"):
        read_names(tmp_path / "absent.names")


def test_a_weights_folder_named_like_the_missing_file_message(tmp_path):
    from engine.features.detect.backends.darknet.weights_file import DarknetWeightsError, check_weights_size

    folder = tmp_path / "no such file.weights"
    folder.mkdir()
    with pytest.raises(DarknetWeightsError) as info:
        check_weights_size(None, folder)  # the file is refused before the cfg is looked at
    assert "is a folder" in str(info.value) and "not found" not in str(info.value)
    with pytest.raises(DarknetWeightsError, match="weights file not found"):
        check_weights_size(None, tmp_path / "absent.weights")


# -- engine.models.cache: refused pickles and timeouts by type ---------------------------------

def _toy_entry(validator):
    from engine.models.catalog import CatalogEntry, ModelFile

    return CatalogEntry(name="toy", task="detect", title="Toy", files=(ModelFile("toy.bin", "http://127.0.0.1:9/toy.bin"),),
                        license="MIT", source="https://example.invalid", validator=validator)


def test_a_validator_message_that_mentions_weights_only_is_kept(tmp_path):
    from engine.models.cache import WeightsCache, WeightsError

    def validator(path):
        raise ValueError("expected a file saved with weights_only state_dict keys, found 'conv9'")

    src = tmp_path / "toy.bin"
    src.write_bytes(b"t" * 64)
    with pytest.raises(WeightsError) as info:
        WeightsCache(tmp_path / "models").import_file(_toy_entry(validator), src)
    assert "found 'conv9'" in str(info.value) and "pickled Python objects" not in str(info.value)


def test_a_refused_pickle_is_recognised_through_the_validators_wrapping(tmp_path):
    from engine.models.cache import WeightsCache, WeightsError

    def validator(path):
        try:
            raise pickle.UnpicklingError("Unsupported global: GLOBAL argparse.Namespace")
        except pickle.UnpicklingError as exc:
            raise ValueError(f"{path}: not a state_dict") from exc

    src = tmp_path / "toy.bin"
    src.write_bytes(b"t" * 64)
    with pytest.raises(WeightsError, match="holds pickled Python objects"):
        WeightsCache(tmp_path / "models").import_file(_toy_entry(validator), src)


def test_timeouts_are_known_by_type():
    from engine.models.cache import _timed_out

    assert _timed_out(TimeoutError("The read operation timed out"))
    assert _timed_out(urllib.error.URLError(TimeoutError()))
    assert not _timed_out(ConnectionResetError("the proxy said: timed out"))
    assert not _timed_out(ValueError("read of closed file"))


# -- engine.features.faces.gallery: SQLite result codes, not message words -------------------------------

def _shots(n: int = 2):
    rng = np.random.default_rng(3)
    return [(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), np.ones(LBP_DIM, np.float32)) for _ in range(n)]


def test_a_failed_statement_that_says_full_is_not_a_full_disk(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        with pytest.raises(sqlite3.OperationalError, match="no such table: full_of_nothing"):
            with g._write() as conn:
                conn.execute("INSERT INTO full_of_nothing VALUES (1)")


def test_a_full_disk_is_a_gallery_full_error(tmp_path):
    with Gallery(tmp_path / "g.db") as g:
        fill(g, names=("Hana",))
        pages = g._conn.execute("PRAGMA page_count").fetchone()[0]
        g._conn.execute(f"PRAGMA max_page_count = {pages + 3}")  # SQLite's own SQLITE_FULL
        with pytest.raises(GalleryFullError) as info:
            g.enrol("Viktor", _shots(12), "lbp")
        assert info.value.todo == "free some space and try again" and "disk is full" in info.value.what


def test_a_gallery_locked_by_another_program(tmp_path):
    path = tmp_path / "g.db"
    with Gallery(path, timeout=0.05) as g:
        fill(g, names=("Hana",))
        other = sqlite3.connect(str(path), isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
            with pytest.raises(GalleryLockedError, match="locked by another program"):
                g.enrol("Viktor", _shots(), "lbp")
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert [p.name for p in g.people()] == ["Hana"]


def test_exporting_a_gallery_over_itself_names_both_paths(tmp_path):
    from engine.features.faces.gallery_io import export_zip
    from engine.features.faces.gallery_records import GalleryError

    with Gallery(tmp_path / "g.db") as g:
        fill(g, names=("Hana",))
        with pytest.raises(GalleryError) as info:
            export_zip(g, g.path)
    assert info.value.what == f"{g.path} is the input {g.path} itself"  # no "-o": not a command-line option here
    assert "choose another output name" in info.value.todo
