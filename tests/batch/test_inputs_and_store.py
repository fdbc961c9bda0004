"""The units of work and the output folder, without Ray: expansion of folders and globs,
atomic per-input commits, settings that must match on resume, one run per folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow as pa
import pytest

from engine.batch.inputs import NoInputsError, expand_inputs
from engine.batch.store import BatchFolderError, BatchStore, read_table


def test_folders_globs_and_files_expand_to_one_unit_each_in_order(media):
    units = expand_inputs([str(media), str(media / "a.png"), str(media / "*.avi")])
    paths = [u.path for u in units]
    # recursive, sorted, media suffixes only, no repeats (a.png and the videos come twice)
    assert paths == [str(media / n) for n in ["a.png", "b.jpg", "broken.jpg", "clip1.avi", "clip2.avi", "sub/c.png"]]
    assert len({u.key for u in units}) == len(units)
    assert [u.path for u in expand_inputs([str(media / "**" / "*.png")])] == [str(media / "a.png"), str(media / "sub/c.png")]
    for spec, pattern in [(str(media / "nothing*.mp4"), "matches no files"), (str(media / "missing.mp4"), "no such file")]:
        with pytest.raises(NoInputsError, match=pattern):
            expand_inputs([spec])


def _tables(source: str, n: int) -> dict[str, pa.Table]:
    return {"detections": pa.table({"source": [source] * n, "frame": list(range(n))}),
            "frames": pa.table({"source": [source] * n, "frame": list(range(n))})}


def test_a_commit_is_whole_or_absent_and_never_doubled(tmp_path):
    out = tmp_path / "out"
    with BatchStore(out) as store:
        store.open({"task": "detect", "model": "m"})
        store.commit("k1", "/x/a.avi", _tables("/x/a.avi", 3), 0.1)
        store.commit("k1", "/x/a.avi", _tables("/x/a.avi", 3), 0.1)  # a second result of the same input
        # What a run killed inside commit() leaves: a temporary folder, never a part.
        (store.parts / ".tmp-k2-abc").mkdir()
        (store.parts / ".tmp-k2-abc" / "detections.parquet").write_bytes(b"half")
        assert store.committed() == {"k1"}
    assert read_table(out, "detections").num_rows == 3
    with BatchStore(out) as store:
        store.open({"task": "detect", "model": "m"})  # resuming removes the leftover
        assert not list(store.parts.glob(".tmp-*")) and store.committed() == {"k1"}
        manifest = store.write_manifest()
    assert manifest["inputs"] == {"/x/a.avi": {"key": "k1", "rows": {"detections": 3, "frames": 3}}}
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_resuming_with_other_settings_or_while_another_run_writes_is_refused(tmp_path):
    out = tmp_path / "out"
    with BatchStore(out) as store:
        store.open({"task": "detect", "model": "m", "every": 1})
        with pytest.raises(BatchFolderError, match="another batch run is writing to it"):
            BatchStore(out).open({"task": "detect", "model": "m", "every": 1})
    with pytest.raises(BatchFolderError, match=r"other settings \(every differ\).*same command, or give a new folder"):
        BatchStore(out).open({"task": "detect", "model": "m", "every": 2})
    (tmp_path / "file").write_text("x")
    with pytest.raises(BatchFolderError, match="is a file"):
        BatchStore(tmp_path / "file").open({})


def test_without_ray_batch_says_what_to_install(tmp_path, media):
    """A Python where `ray` cannot be imported: one error line with the pip command."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nclass Block:\n    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ray': raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), os.getcwd()])}
    proc = subprocess.run([sys.executable, "main.py", "batch", "detect", str(media), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: batch needs ray: install them with: pip install 'cnn-studio[scale]' (Ray and pyarrow)"]
