"""Teach's "Export model…": the trained classifier as ONNX or TorchScript, written in a job.

``ModelExport`` owns the job runner and the checks a user's path needs (never into the
project's own model folder, a suffix chosen when none was typed); the tab gives it the
controller and its Export button, which stays disabled while an export runs.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject

from engine.core.errors import UserError
from engine.core.safe_files import check_output
from gui.common import file_dialogs

#: Suffixes that mean TorchScript; anything else is written as ONNX.
TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts")


class ModelExport(QObject):
    """Export ``controller.model`` (``context``: the tab's AppContext; ``button``: the
    Export button, re-enabled when a model exists and no export runs)."""

    def __init__(self, context, controller, button, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.context, self.controller, self.button = context, controller, button
        self.runner = context.job_runner("teach-export", self)
        self.runner.finished.connect(self._exported)
        self.runner.failed.connect(self._failed)

    def ask(self, parent) -> None:
        """The save dialog, then ``export``."""
        path = file_dialogs.save_file(parent, "Export the trained model", f"{self.controller.project.name}.onnx",
                                      "ONNX (*.onnx);;TorchScript (*.pt)")
        if path:
            self.export(path)

    def export(self, path: str | Path) -> bool:
        """Export the trained model to ``path`` in a job: TorchScript for .pt/.pth/.ts, else ONNX
        (".onnx" is added to a name without a suffix); labels.txt is written beside it.
        False (with the reason shown) when there is no model or the path is refused."""
        from engine.features.teach.export import export

        model = self.controller.model
        if model is None:
            self.context.error("Export model", "there is no trained model yet: press Train first")
            return False
        target = Path(path)
        if not target.suffix:
            target = target.with_suffix(".onnx")
        fmt = "torchscript" if target.suffix.lower() in TORCHSCRIPT_SUFFIXES else "onnx"
        try:  # labels.txt goes beside the export: never into the project's own model folder
            check_output(target, option="the export", keep_out_of=[(self.controller.project.root, "the Teach project")],
                         make_parents=True)
        except UserError as exc:
            self.context.error("Export model", exc)
            return False
        self.button.setEnabled(False)
        self.context.status(f"Teach: exporting {fmt} to {target}…")
        self.runner.start(lambda control: (fmt, export(model, fmt, target)))
        return True

    def _exported(self, result) -> None:
        fmt, path = result
        self.button.setEnabled(self.controller.model is not None)
        self.context.status(f"Teach: exported {'ONNX' if fmt == 'onnx' else 'TorchScript'} to {path} "
                            f"(labels in {path.with_name('labels.txt').name})")

    def _failed(self, failure) -> None:
        self.button.setEnabled(self.controller.model is not None)
        self.context.error("Export failed", failure)
