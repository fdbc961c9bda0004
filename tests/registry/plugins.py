"""Feature plugins written to a folder for the registry tests: real packages, imported for real.

``write_toy(folder)`` writes ``toyfeat``: a catalog entry, a trivial live Task, a tiny
StudioTab, a CLI command ``toy`` and an inspectable network, declared as
``FEATURE = Feature(key="toy", ...)``. Nothing in the repository names it: the tests
put ``folder`` on the import path and name the package in ``$CNN_STUDIO_FEATURES`` (or
in an entry point), the way a user installs a plugin.
"""

from __future__ import annotations

import importlib
import os
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

TOY_INIT = '''
from engine.features.registry import Feature

FEATURE = Feature(
    key="toy",
    title="Toy",
    order=60,
    summary="a toy feature",
    catalog="toyfeat.catalog",
    task="toyfeat.task:ToyTask",
    tab="toyfeat.tab:ToyTab",
    cli=("toyfeat.cli",),
    inspectables=("toyfeat.nets:tiny_spec",),
)
'''

TOY_FILES = {
    "catalog.py": '''
from engine.models.catalog import CatalogEntry, ModelFile

ENTRIES = [
    CatalogEntry(name="toy-net", task="toy", title="Toy network", license="MIT", source="the registry tests",
                 files=(ModelFile("toy.pt", "https://example.invalid/toy.pt", size=10),)),
]
''',
    "task.py": '''
from dataclasses import dataclass

from engine.runtime.worker import Task


@dataclass(frozen=True)
class ToyResult:
    mean: float


class ToyTask(Task):
    """The mean brightness of the frame, with numpy (no model)."""

    name = "toy"

    def load(self, device):
        pass

    def preprocess(self, frame):
        return frame.image

    def infer(self, inputs):
        return float(inputs.mean())

    def postprocess(self, outputs, frame):
        return ToyResult(outputs)
''',
    "tab.py": '''
from gui.common.tab_base import StudioTab
from toyfeat.task import ToyTask


class ToyTab(StudioTab):
    title = "Toy tab class"  # the feature's title wins

    def __init__(self, context):
        super().__init__(context)
        self.results = []

    def make_task(self):
        return ToyTask()

    def on_result(self, result):
        self.results.append(result)
''',
    "cli.py": '''
import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("toy", help="say hello from the toy feature")
    parser.set_defaults(func=run)


def run(args) -> int:
    print("hello from toy")
    return 0
''',
    "nets.py": '''
from engine.models.catalog import Transforms
from engine.models.inspectable import ModelSpec


def _build():
    from torch import nn

    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())


def tiny_spec():
    return ModelSpec(name="toy_conv", title="Toy conv", build=_build,
                     transforms=Transforms(size=(16, 16)))
''',
}


def write_package(folder: Path, name: str, files: dict[str, str]) -> Path:
    """Write package ``name`` under ``folder`` (``files``: file name -> source)."""
    package = folder / name
    package.mkdir(parents=True, exist_ok=True)
    for filename, source in files.items():
        (package / filename).write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return package


def write_toy(folder: Path) -> Path:
    """The toy feature package ``toyfeat`` under ``folder``."""
    return write_package(folder, "toyfeat", {"__init__.py": TOY_INIT, **TOY_FILES})


def write_broken(folder: Path) -> Path:
    """``brokenfeat``: its package fails to import (a dependency that does not exist)."""
    return write_package(folder, "brokenfeat", {"__init__.py": "import this_module_does_not_exist_anywhere\n"})


def write_feature(folder: Path, name: str, declaration: str) -> Path:
    """A one-file feature package ``name`` whose ``__init__`` holds ``declaration``."""
    source = "from engine.features.registry import Feature\n\n" + textwrap.dedent(declaration).lstrip()
    return write_package(folder, name, {"__init__.py": source})


def write_entry_point(folder: Path, dist: str, name: str, value: str) -> Path:
    """An installed distribution's metadata under ``folder`` declaring the entry point
    ``name = value`` in the group ``cnn_studio.features`` (what ``pip install`` writes)."""
    info = folder / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[cnn_studio.features]\n{name} = {value}\n", encoding="utf-8")
    return info


def child_env(folder: Path, features: str, home: Path) -> dict[str, str]:
    """The environment of a ``main.py`` child that finds plugins in ``folder``."""
    path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p)
    return dict(os.environ, PYTHONPATH=path, CNN_STUDIO_FEATURES=features, CNN_STUDIO_HOME=str(home))


def forget_modules(*names: str) -> None:
    """Drop packages ``names`` (and their submodules) from ``sys.modules``: every test
    writes its own copy under another folder."""
    for module in list(sys.modules):
        if module.split(".")[0] in names:
            del sys.modules[module]


@pytest.fixture
def plugin_folder(tmp_path: Path):
    """A folder on ``sys.path`` for plugin packages; afterwards the folder leaves the path,
    its packages leave ``sys.modules`` and the registry is discovered again without them."""
    from engine.features import registry

    folder = tmp_path / "plugins"
    folder.mkdir()
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    yield folder
    sys.path.remove(str(folder))
    importlib.invalidate_caches()
    forget_modules(*(p.name for p in folder.iterdir() if p.is_dir()))
    registry.reload()
