"""A Teach project whose project.json was edited by someone else cannot reach outside its folder.

Each case is a real project folder in tmp_path with a hostile index, and a victim folder
beside it holding a PNG and a ``.tmp-`` file (what opening a project cleans up). Opening
must refuse the index with one ProjectError that names project.json and the bad value,
and leave the victim and the index byte for byte as they were.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings

from engine.features.teach.controller import TeachController
from engine.features.teach.project import ClassInfo, Project, ProjectError
from gui.common.context import AppContext
from gui.features.teach.tab import KEY_LAST, TeachTab


def _image(value: int) -> np.ndarray:
    return np.full((24, 32, 3), value, np.uint8)


@pytest.fixture
def world(tmp_path):
    """(project, victim folder): a saved two-class project with one sample, and files outside it."""
    project = Project.create(tmp_path / "projects" / "p", classes=("cats", "dogs"))
    project.add_sample("cats", _image(10))
    victim = tmp_path / "victim"
    victim.mkdir()
    cv2.imwrite(str(victim / "s0123456789ab.png"), _image(200))
    cv2.imwrite(str(victim / "victim.png"), _image(201))
    (victim / ".tmp-keep").write_bytes(b"not ours to delete")
    return project, victim


def _victim_intact(victim: Path) -> bool:
    return {p.name for p in victim.iterdir()} == {"s0123456789ab.png", "victim.png", ".tmp-keep"}


def _edit_index(project: Project, change) -> bytes:
    index = project.root / "project.json"
    data = json.loads(index.read_text(encoding="utf-8"))
    change(data)
    raw = json.dumps(data).encode("utf-8")
    index.write_bytes(raw)
    return raw


def _relative(victim: Path, project: Path) -> str:
    """The victim folder as a path relative to ``project/samples``."""
    return os.path.relpath(victim, project / "samples")


def _set(entry: dict, key: str, value):
    entry[key] = value
    return value


def _append(entry: dict, value: str) -> str:
    entry["samples"].append(value)
    return value


# Each case changes the index (d) given the victim folder (v) and its path relative to
# samples/ (rel), and returns the bad value the message must name.
HOSTILE = {
    "class id climbing out": lambda d, v, rel: _set(d["classes"][0], "id", rel),
    "class id ../../x": lambda d, v, rel: _set(d["classes"][0], "id", "../../x"),
    "absolute class id": lambda d, v, rel: _set(d["classes"][0], "id", str(v)),
    "class id ..": lambda d, v, rel: _set(d["classes"][0], "id", ".."),
    "class id with a slash": lambda d, v, rel: _set(d["classes"][0], "id", d["classes"][0]["id"] + "/../../" + rel),
    "empty class id": lambda d, v, rel: _set(d["classes"][0], "id", ""),
    "class id not a text": lambda d, v, rel: _set(d["classes"][0], "id", 7),
    "duplicate class ids": lambda d, v, rel: _set(d["classes"][1], "id", d["classes"][0]["id"]),
    "class name ../../../x": lambda d, v, rel: _set(d["classes"][0], "name", "../../../x"),
    "class name with a slash": lambda d, v, rel: _set(d["classes"][0], "name", "a/b"),
    "class name ..": lambda d, v, rel: _set(d["classes"][0], "name", ".."),
    "absolute class name": lambda d, v, rel: _set(d["classes"][0], "name", str(v)),
    "duplicate class names": lambda d, v, rel: _set(d["classes"][1], "name", "CATS"),
    "sample id ../victim": lambda d, v, rel: _append(d["classes"][0], "../victim"),
    "sample id climbing out": lambda d, v, rel: _append(d["classes"][0], "../" + rel + "/victim"),
    "absolute sample id": lambda d, v, rel: _append(d["classes"][0], str(v / "victim")),
    "sample listed twice": lambda d, v, rel: _append(d["classes"][1], d["classes"][0]["samples"][0]),
    "unknown backbone": lambda d, v, rel: _set(d, "backbone", "../../x"),
    "version not a number": lambda d, v, rel: _set(d, "version", "../x"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_index_is_refused_and_touches_nothing(world, case):
    project, victim = world
    rel = _relative(victim, project.root)
    bad = []
    raw = _edit_index(project, lambda d: bad.append(HOSTILE[case](d, victim, rel)))
    with pytest.raises(ProjectError) as info:
        Project.open(project.root)
    message = str(info.value)
    assert "project.json" in message and str(bad[0])[:40].casefold() in message.casefold(), message
    assert _victim_intact(victim)
    assert (project.root / "project.json").read_bytes() == raw


def test_a_class_folder_linked_outside_is_refused(world):
    project, victim = world
    info = project.get_class("dogs")
    os.symlink(victim, project.root / "samples" / info.id)
    raw = (project.root / "project.json").read_bytes()
    with pytest.raises(ProjectError, match="project.json.*outside the project"):
        Project.open(project.root)
    assert _victim_intact(victim)
    assert (project.root / "project.json").read_bytes() == raw


def test_a_samples_folder_linked_outside_is_refused(tmp_path, world):
    project, victim = world
    (project.root / "samples").rename(tmp_path / "moved-samples")
    os.symlink(victim, project.root / "samples")
    with pytest.raises(ProjectError, match="outside the project"):
        Project.open(project.root)
    assert _victim_intact(victim)


def test_before_the_fix_this_deleted_and_adopted_outside_files(world):
    """The attack end to end: open, delete every sample, export; the victim survives."""
    project, victim = world
    rel = _relative(victim, project.root)
    _edit_index(project, lambda d: d["classes"][0].update(id=rel, name="../../../exported"))
    try:
        opened = Project.open(project.root)
    except ProjectError:
        opened = None
    if opened is not None:  # only reached without the validation: do what the app's buttons do
        for sample in opened.samples():
            opened.delete_sample(sample.id)
        opened.export_folder(project.root.parent / "export")
    assert _victim_intact(victim)
    assert not (project.root.parent.parent / "exported").exists()
    assert opened is None


def test_a_sound_project_still_opens_and_adopts_only_its_own_files(world):
    project, victim = world
    folder = project.root / "samples" / project.get_class("dogs").id
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "s00000000abcd.png"), _image(5))
    cv2.imwrite(str(folder / "holiday photo.png"), _image(6))  # not a name the app writes: left alone
    os.symlink(victim / "victim.png", folder / "s0000000000ff.png")  # a link out: left alone
    reopened = Project.open(project.root)
    assert [s.id for s in reopened.samples("dogs")] == ["s00000000abcd"]
    assert (folder / "holiday photo.png").is_file() and (folder / "s0000000000ff.png").is_symlink()
    assert reopened.counts() == {"cats": 1, "dogs": 1}


def test_write_paths_refuse_ids_and_names_that_would_leave_the_project(world, tmp_path):
    project, victim = world
    with pytest.raises(ProjectError):
        project.sample_path("../../victim", "s0123456789ab")
    with pytest.raises(ProjectError):
        project.sample_path(project.get_class("cats").id, "../victim")
    with pytest.raises(ProjectError):
        project.sample_path(str(victim), "s0123456789ab")
    # A bad class made in memory (no index involved) still cannot escape on export or delete.
    cats = project.get_class("cats")
    project._classes = [ClassInfo(cats.id, "../../../escaped", cats.samples), project.get_class("dogs")]
    target = tmp_path / "export" / "here"
    target.mkdir(parents=True)
    with pytest.raises(ProjectError, match="escaped"):
        project.export_folder(target)
    assert not (tmp_path / "escaped").exists() and not any(target.iterdir())
    project._classes = [ClassInfo("../../victim", "victims", ("s0123456789ab",))]
    with pytest.raises(ProjectError):
        project.delete_sample("s0123456789ab")
    with pytest.raises(ProjectError):
        project.delete_class("victims")
    assert _victim_intact(victim)


def test_export_refuses_a_class_folder_linked_elsewhere(world, tmp_path):
    project, victim = world
    target = tmp_path / "export"
    target.mkdir()
    os.symlink(victim, target / "cats")
    with pytest.raises(ProjectError, match="cats"):
        project.export_folder(target)
    assert _victim_intact(victim)


def test_export_still_writes_the_image_folder(world, tmp_path):
    project, _ = world
    assert project.export_folder(tmp_path / "out") == 1
    assert [p.parent.name for p in (tmp_path / "out").rglob("*.png")] == ["cats"]


def test_the_tab_reopening_a_hostile_last_project_shows_a_message(qtbot, world, tmp_path):
    project, victim = world
    rel = _relative(victim, project.root)
    raw = _edit_index(project, lambda d: d["classes"][0].update(id=rel))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue(KEY_LAST, str(project.root))
    context = AppContext(settings, torch.device("cpu"))
    # The hostile project also sits in the projects folder, where the tab looks next.
    tab = TeachTab(context, controller=TeachController(projects_dir=project.root.parent))
    qtbot.addWidget(tab)
    assert _victim_intact(victim)
    assert context.last_error is not None
    title, message = context.last_error
    assert "project" in title.lower()
    assert "project.json" in message and rel in message and "Opened the project" in message
    assert tab.controller.project is not None and tab.controller.project.root != project.root
    assert _victim_intact(victim)
    assert (project.root / "project.json").read_bytes() == raw
    assert settings.value(KEY_LAST) == str(tab.controller.project.root)


def test_the_tab_export_of_a_bad_name_shows_a_message(qtbot, world, tmp_path):
    project, _ = world
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue(KEY_LAST, str(project.root))
    context = AppContext(settings, torch.device("cpu"))
    tab = TeachTab(context, controller=TeachController(projects_dir=project.root.parent))
    qtbot.addWidget(tab)
    opened = tab.controller.project
    cats = opened.get_class("cats")
    opened._classes = [ClassInfo(cats.id, "../../escaped", cats.samples)]
    target = tmp_path / "export"
    target.mkdir()
    tab.export_folder(str(target))
    assert context.last_error is not None and context.last_error[0] == "Cannot export"
    assert not (tmp_path / "escaped").exists()
