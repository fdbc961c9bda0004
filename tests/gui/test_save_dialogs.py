"""Every file dialog of the app goes through one helper, gui.common.file_dialogs (which opens
save dialogs in the last folder used)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_file_dialog_bypasses_the_shared_helper():
    """QFileDialog's static pickers are called in gui/common/file_dialogs.py only."""
    offenders = []
    for path in (ROOT / "gui").rglob("*.py"):
        if path.name == "file_dialogs.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "QFileDialog"
                    and node.attr.startswith("get")):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.attr}")
    assert offenders == []
