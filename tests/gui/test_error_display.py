"""The GUI shows a UserError's what as the message and its todo below it; job failures
name the exception's type only when it is not a UserError."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtWidgets import QMessageBox, QWidget

from engine.core.errors import Cancelled, UserError
from engine.models.cache import WeightsMissingError
from gui.common.context import AppContext, what_and_todo
from gui.common.jobs import JobFailure, JobRunner


class PluginError(UserError):
    """A user error defined outside engine/ and cli/ (a plug-in, a test)."""


def test_job_failure_text_depends_on_the_type_not_the_module():
    assert JobFailure(PluginError("clip.mp4: no frames", "choose another video")) == "clip.mp4: no frames: choose another video"
    assert JobFailure(ValueError("bad value")) == "ValueError: bad value"


@pytest.fixture
def context(qtbot, settings):
    parent = QWidget()
    qtbot.addWidget(parent)
    return AppContext(settings, torch.device("cpu"), dialog_parent=parent), parent


def test_a_user_error_shows_what_and_todo_apart(context):
    ctx, parent = context
    error = WeightsMissingError("the weights of 'yolov4-tiny' are not installed",
                                "run `python main.py models fetch yolov4-tiny`")
    ctx.error("The model could not be loaded", error)
    box = parent.findChild(QMessageBox, "errorDialog")
    assert box.text() == "the weights of 'yolov4-tiny' are not installed"
    assert box.informativeText() == "Run `python main.py models fetch yolov4-tiny`"
    assert ctx.last_error == ("The model could not be loaded", str(error))


def test_a_job_failure_carrying_a_user_error_is_shown_the_same_way(context):
    ctx, parent = context
    ctx.error("Enrolment", JobFailure(PluginError("photo.jpg: no face found", "use a photo with one face")), "Nothing was saved.")
    box = parent.findChild(QMessageBox, "errorDialog")
    assert box.text() == "photo.jpg: no face found"
    assert box.informativeText() == "Use a photo with one face\n\nNothing was saved."
    assert ctx.last_error == ("Enrolment", "photo.jpg: no face found: use a photo with one face\n\nNothing was saved.")


def test_text_and_other_exceptions_stay_one_message():
    assert what_and_todo("x.png: truncated") == ("x.png: truncated", "")
    assert what_and_todo(JobFailure(KeyError("k"))) == ("KeyError: 'k'", "")
    assert what_and_todo(OSError()) == ("OSError", "")


def test_an_engine_cancellation_is_reported_as_cancelled(qtbot):
    from engine.models.cache import DownloadCancelled

    runner = JobRunner(name="test")

    def job(control):
        raise DownloadCancelled("download of 'toy' cancelled")

    try:
        with qtbot.waitSignal(runner.cancelled, timeout=5000):
            runner.start(job)
    finally:
        runner.shutdown()
    assert issubclass(DownloadCancelled, Cancelled)
