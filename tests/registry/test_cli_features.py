"""The command line is generated from the registry: `main.py` in a subprocess, as a user runs it,
with plugins found through ``$CNN_STUDIO_FEATURES`` and ``PYTHONPATH`` only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.registry.plugins import ROOT, child_env, write_broken, write_feature, write_toy


def main_py(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True, env=env, timeout=300)


def commands_of(help_text: str) -> list[str]:
    """The command names listed under "commands" in ``--help``, in order."""
    lines = help_text.split("commands (no command opens the GUI):", 1)[1].splitlines()
    return [line.split()[0] for line in lines if line.startswith("    ") and not line.startswith("     ")]


def test_help_lists_models_then_each_features_commands_in_order(tmp_path: Path):
    out = main_py("--help", env=child_env(tmp_path, "", tmp_path / "home"))
    assert out.returncode == 0, out.stderr
    assert commands_of(out.stdout) == ["models", "batch", "detect", "track", "faces", "stylize", "inspect", "teach", "segment"]
    assert out.stderr == ""


def test_a_toy_plugin_gets_a_command_and_its_models_are_listed(tmp_path: Path):
    write_toy(tmp_path)
    env = child_env(tmp_path, "toyfeat", tmp_path / "home")
    out = main_py("--help", env=env)
    assert out.returncode == 0, out.stderr
    assert commands_of(out.stdout)[-1] == "toy" and "say hello from the toy feature" in out.stdout
    run = main_py("toy", env=env)
    assert (run.returncode, run.stdout) == (0, "hello from toy\n")
    listing = main_py("models", "list", "--task", "toy", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    assert [(row["name"], row["task"]) for row in json.loads(listing.stdout)["models"]] == [("toy-net", "toy")]


def test_models_list_takes_every_feature_with_models_as_its_task(tmp_path: Path):
    env = child_env(tmp_path, "", tmp_path / "home")
    out = main_py("models", "list", "--task", "teach", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "mobilenet_v3_small"
    refused = main_py("models", "list", "--task", "toy", env=env)
    assert refused.returncode == 2
    choices = refused.stderr.split("invalid choice: 'toy' (choose from ", 1)[1].split(")")[0]
    assert choices.replace("'", "").split(", ") == ["detect", "faces", "style", "inspect", "teach", "segment"]


def test_a_broken_feature_does_not_break_help_or_the_others(tmp_path: Path):
    write_toy(tmp_path)
    write_broken(tmp_path)
    write_feature(tmp_path, "halfcli", 'FEATURE = Feature(key="half", title="Half", cli=("halfcli.command",))\n')
    (tmp_path / "halfcli" / "command.py").write_text("raise RuntimeError('unfinished command')\n")
    env = child_env(tmp_path, "brokenfeat,toyfeat,halfcli", tmp_path / "home")
    out = main_py("--help", env=env)
    assert out.returncode == 0, out.stderr
    assert commands_of(out.stdout) == ["models", "batch", "detect", "track", "faces", "stylize", "inspect", "teach", "segment", "toy"]
    help_text = " ".join(out.stdout.split())
    assert "Left out (could not be loaded): brokenfeat (brokenfeat failed to import" in help_text
    assert "halfcli.command (RuntimeError: unfinished command)" in help_text
    errors = out.stderr.splitlines()
    assert len(errors) == 2 and "feature brokenfeat left out" in errors[0] and "halfcli.command" in errors[1]
    assert "Traceback" not in out.stderr
    listing = main_py("models", "list", "--task", "toy", env=env)
    assert listing.returncode == 0 and "toy-net" in listing.stdout
