"""Session-wide test setup: headless Qt, an isolated user home, the app's thread policy."""

from __future__ import annotations

import gc
import os
import sys
import tempfile

import pytest

# Set before anything imports Qt, torch or the engine, so every test sees the same world.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["CNN_STUDIO_HOME"] = tempfile.mkdtemp(prefix="cnn-studio-test-home-")
os.environ.setdefault("CNN_STUDIO_DEVICE", "cpu")
# The live app compiles bf16 models in the background; tests that build live tasks for
# other reasons stay eager (tests/detect/test_background_compile.py switches it back on).
os.environ.setdefault("CNN_STUDIO_COMPILE", "off")

from engine.runtime.threads import prepare_process

# The same entry-point policy as main.py, before torch loads: passive OpenMP waiting and
# at most two intra-op threads (test processes share the machine).
prepare_process("test")

# As at the app's start: the feature registry becomes the model catalog's provider.
import engine.features  # noqa: E402,F401


def pytest_collection_finish(session):
    """Move everything the imports made (torch, Qt, numpy: about a million objects) out of
    the collector's sight, so the collection after each test below scans only what tests
    create (a full collection took about 0.2 s a test)."""
    gc.freeze()


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """After pytest-qt has closed a test's widgets: delete them and collect cycles now.

    Windows made without a parent in a test belong to Python; one caught in a reference
    cycle (a lambda connected to its own signal) was freed by whatever garbage collection
    ran next, in a later test and in the middle of Qt's focus handling, and that crashed
    the process (QApplicationPrivate::notifyActiveWindowChange on a freed widget). The app
    itself gives every window a parent. Here they go at a fixed point: deferred deletes
    first, then the cycles, then the deletes those caused.
    """
    result = yield
    if not {"qtbot", "qapp"} & set(item.fixturenames):
        return result  # the test made no widgets (its fixtures included)
    qt_core = sys.modules.get("PySide6.QtCore")
    if qt_core is None or qt_core.QCoreApplication.instance() is None:
        return result
    QCoreApplication, QEvent = qt_core.QCoreApplication, qt_core.QEvent
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return result
