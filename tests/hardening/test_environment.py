"""Environment faults: data folders that are files or read-only give one clear line."""

from __future__ import annotations

import pytest

from engine.core import paths


def test_home_pointing_at_a_file(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("CNN_STUDIO_HOME", str(blocker))
    with pytest.raises(paths.PathsError, match=r"not a folder.*\$CNN_STUDIO_HOME"):
        paths.data_dir()
    assert blocker.read_text().startswith("a file")


def test_models_pointing_at_a_file(tmp_path, monkeypatch):
    blocker = tmp_path / "models.txt"
    blocker.write_text("x")
    monkeypatch.setenv("CNN_STUDIO_MODELS", str(blocker))
    with pytest.raises(paths.PathsError, match=r"models.txt is not a folder.*\$CNN_STUDIO_MODELS"):
        paths.models_dir()


def test_the_cli_says_it_in_one_line(tmp_path, cli, monkeypatch):
    blocker = tmp_path / "home-file"
    blocker.write_text("x")
    monkeypatch.setenv("CNN_STUDIO_HOME", str(blocker))
    cli("faces", "list").assert_one_error(str(blocker), "CNN_STUDIO_HOME")
    monkeypatch.setenv("CNN_STUDIO_HOME", str(tmp_path / "home"))
    models = tmp_path / "models-file"
    models.write_text("x")
    monkeypatch.setenv("CNN_STUDIO_MODELS", str(models))
    cli("models", "fetch", "yolov4-tiny").assert_one_error(str(models), "CNN_STUDIO_MODELS")


def test_a_read_only_home(tmp_path, monkeypatch):
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("needs root to mount a read-only filesystem")
    home = tmp_path / "ro-home"
    home.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(home)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount here")
    try:
        monkeypatch.setenv("CNN_STUDIO_HOME", str(home))
        with pytest.raises(paths.PathsError, match="read-only.*CNN_STUDIO_HOME"):
            paths.config_dir()
    finally:
        subprocess.run(["umount", "-l", str(home)], capture_output=True)
