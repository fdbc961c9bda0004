"""The project store: classes, samples, the ImageFolder layout, atomic saves (kill -9)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.features.teach.project import MAX_CLASSES, Project, ProjectError
from engine.features.teach.settings import TrainSettings

ROOT = Path(__file__).resolve().parents[2]


def _image(value: int, shape=(48, 64)) -> np.ndarray:
    image = np.zeros((*shape, 3), np.uint8)
    image[:] = (value, 255 - value, value // 2)
    return image


def test_classes_can_be_added_renamed_and_deleted(tmp_path):
    project = Project.create(tmp_path / "p", classes=("cats", "dogs"))
    project.add_class("birds")
    with pytest.raises(ProjectError, match="already a class called 'Cats'|already a class called 'cats'"):
        project.add_class("CATS")
    with pytest.raises(ProjectError, match="cannot contain"):
        project.add_class("a/b")
    with pytest.raises(ProjectError, match="cannot be empty"):
        project.rename_class("birds", "   ")
    sample = project.add_sample("dogs", _image(10))
    project.rename_class("dogs", "puppies")
    assert project.class_names() == ["cats", "puppies", "birds"]
    assert sample.path.is_file()  # renaming moves no file
    project.delete_class("cats")
    reopened = Project.open(tmp_path / "p")
    assert reopened.class_names() == ["puppies", "birds"] and reopened.counts() == {"puppies": 1, "birds": 0}
    assert np.array_equal(reopened.load_sample(reopened.samples("puppies")[0]), _image(10))


def test_at_most_twenty_classes(tmp_path):
    project = Project.create(tmp_path / "p", classes=tuple(f"c{i}" for i in range(MAX_CLASSES)))
    with pytest.raises(ProjectError, match="at most 20 classes"):
        project.add_class("one too many")


def test_samples_are_added_from_files_and_deleted(tmp_path):
    project = Project.create(tmp_path / "p", classes=("a", "b"))
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), _image(200))
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    report = project.add_files("a", [good, bad])
    assert report.added == {"a": 1} and report.skipped[0][0] == str(bad) and "notes.png" in report.skipped[0][1]
    sample = project.samples("a")[0]
    project.delete_sample(sample.id)
    assert not sample.path.exists() and project.counts()["a"] == 0
    with pytest.raises(ProjectError, match="no sample"):
        project.delete_sample(sample.id)


def test_image_folder_import_skips_non_images_and_export_round_trips(tmp_path, small_folder):
    source = tmp_path / "src"
    for d in small_folder.iterdir():
        (source / d.name).mkdir(parents=True)
        for f in sorted(d.iterdir())[:3]:
            (source / d.name / f.name).write_bytes(f.read_bytes())
    (source / "blobs" / "README.txt").write_text("hello")
    (source / "checks" / "broken.png").write_bytes(b"\x89PNG garbage")
    project = Project.create(tmp_path / "p", classes=("blobs",))
    report = project.import_folder(source)
    assert report.added == {"blobs": 3, "checks": 3, "stripes": 3}
    assert sorted(Path(p).name for p, _ in report.skipped) == ["README.txt", "broken.png"]
    assert all(reason for _, reason in report.skipped)
    assert project.class_names() == ["blobs", "checks", "stripes"]
    out = tmp_path / "out"
    assert project.export_folder(out) == 9
    again = Project.create(tmp_path / "q", classes=())
    assert again.import_folder(out).added == {"blobs": 3, "checks": 3, "stripes": 3}
    for name in ("blobs", "checks", "stripes"):
        ours = sorted(project.load_sample(s).tobytes() for s in project.samples(name))
        theirs = sorted(again.load_sample(s).tobytes() for s in again.samples(name))
        assert ours == theirs


def test_import_of_something_that_is_not_an_image_folder_says_what_to_do(tmp_path):
    project = Project.create(tmp_path / "p")
    with pytest.raises(ProjectError, match="is not a folder"):
        project.import_folder(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "x.png").write_bytes(b"")
    with pytest.raises(ProjectError, match="no class sub-folders"):
        project.import_folder(tmp_path / "flat")


def test_settings_survive_reopening(tmp_path):
    project = Project.create(tmp_path / "p", backbone="resnet18")
    project.set_train_settings(TrainSettings(head="mlp", finetune=2, seed=7))
    project.set_backbone("efficientnet_b0", untrained=True)
    reopened = Project.open(tmp_path / "p")
    assert reopened.train_settings == TrainSettings(head="mlp", finetune=2, seed=7)
    assert (reopened.backbone, reopened.untrained) == ("efficientnet_b0", True)


def test_opening_repairs_the_index_without_losing_samples(tmp_path):
    project = Project.create(tmp_path / "p", classes=("a", "b"))
    kept = project.add_sample("a", _image(1))
    gone = project.add_sample("a", _image(2))
    gone.path.unlink()
    # a sample file written just before a crash, not yet in the index
    info = project.get_class("b")
    orphan = project.sample_path(info.id, "sorphan000001")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(orphan), _image(3))
    (orphan.parent / ".tmp-half.png").write_bytes(b"half")
    reopened = Project.open(tmp_path / "p")
    assert "1 sample(s) saved just before" in reopened.notice and "whose files are gone" in reopened.notice
    assert [s.id for s in reopened.samples("a")] == [kept.id]
    assert [s.id for s in reopened.samples("b")] == ["sorphan000001"]
    assert not (orphan.parent / ".tmp-half.png").exists()


def test_unreadable_or_newer_projects_give_a_clear_message(tmp_path):
    with pytest.raises(ProjectError, match="not a Teach project"):
        Project.open(tmp_path)
    project = Project.create(tmp_path / "p")
    index = tmp_path / "p" / "project.json"
    data = json.loads(index.read_text())
    index.write_text(json.dumps({**data, "version": 99}))
    with pytest.raises(ProjectError, match="newer CNN Studio"):
        Project.open(project.root)
    index.write_text("{ truncated")
    with pytest.raises(ProjectError, match="cannot be read.*samples.*untouched"):
        Project.open(project.root)


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    from engine.features.teach.project import Project
    project = Project.open(sys.argv[1])
    marker = Path(sys.argv[2])
    rng = np.random.default_rng(0)
    b = project.get_class("b").id
    i = 0
    while True:
        project.add_sample("a" if i % 2 else b, rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
        project.rename_class(b, f"b{i}") if i % 7 == 0 else None
        i += 1
        if i == 20:
            marker.write_text("ready")
    """
)


def test_a_process_killed_mid_save_leaves_the_project_readable(tmp_path):
    root = tmp_path / "p"
    Project.create(root, classes=("a", "b"))
    marker = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(root), str(marker)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the writer died on its own"
            assert time.monotonic() < deadline, "the writer never got going"
            time.sleep(0.02)
        time.sleep(0.15)  # somewhere in the middle of further saves
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    project = Project.open(root)
    samples = project.samples()
    assert len(samples) >= 20
    for sample in samples:
        assert project.load_sample(sample).shape == (120, 160, 3)
    on_disk = [p for p in (root / "samples").rglob("*") if p.is_file()]
    assert len(on_disk) == len(samples)  # no half-written or stray files left
    assert project.class_names()[0] == "a" and project.class_names()[1].startswith("b")
