"""One error hierarchy: every exception class of the application is a UserError (what was
wrong + what to do) or is listed here as internal, and the command line prints any
UserError as one `error: <what>: <todo>` line with exit code 2."""

from __future__ import annotations

import ast
import builtins
import importlib
import pickle
from pathlib import Path

import pytest

from engine.core.errors import BadFormat, Cancelled, NotFound, TooLarge, Unsupported, UserError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "cli", "gui")

# Exception classes that are deliberately not UserErrors, with the reason.
INTERNAL = {
    "engine.core.errors.UserError": "the base itself",
    "engine.core.errors.Cancelled": "a control-flow signal: the user asked a job to stop",
    "engine.models.cache.DownloadCancelled": "a Cancelled: the user stopped a download",
    "cli.common.Terminated": "SIGTERM turned into an exception so that finally blocks clean up",
    "cli.detect._VideoUnfinished": "control flow inside detect: the video writer failed, leave -o as it was",
    "engine.io.mjpeg_stream._Skip": "control flow inside the MJPEG reader: a part that is skipped, never raised out of it",
    "engine.core.store.MalformedValue": "caught inside the store, which falls back to the default and repairs the value",
    "engine.models.catalog.CatalogNotReadyError": "a programming error: catalog() before engine.features installed its provider",
    "engine.features.detect.backends.yolox.loading._SkeletonRead": "control flow inside inspect_pth: stops the load once the skeleton is checked, never raised out of it",
}

_BUILTIN_EXCEPTIONS = {name for name, value in vars(builtins).items()
                       if isinstance(value, type) and issubclass(value, BaseException)}


def _base_name(node: ast.expr) -> str:
    """``ValueError`` for ``ValueError``, ``Error`` for ``sqlite3.Error``."""
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _looks_like_exception(name: str) -> bool:
    return name in _BUILTIN_EXCEPTIONS or name.endswith(("Error", "Exception", "Cancelled", "Interrupt"))


def exception_classes() -> dict[str, str]:
    """Every class under engine/, cli/ and gui/ that derives from an exception, found in the
    source with ast (so a new class is found before anyone imports it): {"module.Class": file:line}.

    A class counts when one of its bases is a builtin exception, is named like one
    (FooError, FooException, FooCancelled: third-party bases such as sqlite3.Error), or is
    another class found this way (followed to a fixed point).
    """
    defined: dict[str, tuple[str, list[str], str]] = {}  # qualified name -> (simple name, base names, where)
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            module = ".".join(rel.with_suffix("").parts)
            if module.endswith(".__init__"):
                module = module[: -len(".__init__")]
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(rel))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    defined[f"{module}.{node.name}"] = (node.name, [_base_name(b) for b in node.bases],
                                                        f"{rel}:{node.lineno}")
    found: dict[str, str] = {}
    names: set[str] = set()
    changed = True
    while changed:
        changed = False
        for qualified, (name, bases, where) in defined.items():
            if qualified not in found and any(_looks_like_exception(b) or b in names for b in bases):
                found[qualified] = where
                names.add(name)
                changed = True
    return found


def _resolve(qualified: str) -> type:
    module, _, name = qualified.rpartition(".")
    return getattr(importlib.import_module(module), name)


CLASSES = exception_classes()


def test_the_walk_finds_the_known_classes():
    # A guard on the walk itself: were it to find nothing, every test below would pass.
    for qualified in ("engine.core.errors.SourceError", "engine.features.faces.gallery_records.PersonNotFoundError",
                      "engine.features.faces.gallery_io.ArchiveError", "cli.common.CliError", "cli.common.Terminated",
                      "engine.core.safe_files.InputTooLargeError", "engine.core.errors.Cancelled"):
        assert qualified in CLASSES, qualified
    assert len(CLASSES) >= 50


@pytest.mark.parametrize("qualified", sorted(CLASSES))
def test_every_exception_class_is_a_user_error_or_listed_as_internal(qualified):
    cls = _resolve(qualified)
    assert isinstance(cls, type) and issubclass(cls, BaseException), f"{CLASSES[qualified]}: not an exception"
    if qualified in INTERNAL:
        assert not issubclass(cls, UserError) or cls is UserError
        return
    assert issubclass(cls, UserError), (
        f"{CLASSES[qualified]}: {qualified} is not an engine.core.errors.UserError; give it a UserError base "
        "(keeping a builtin base its callers catch) or list it in INTERNAL with the reason")


def test_the_internal_list_names_existing_classes():
    assert set(INTERNAL) <= set(CLASSES)


def test_cancellations_are_one_signal_and_never_user_errors():
    from engine.features.style.fast_train import TrainingCancelled as StyleCancelled
    from engine.features.teach.training import TrainingCancelled as TeachCancelled
    from engine.models.cache import DownloadCancelled
    from gui.common.jobs import JobCancelled

    assert StyleCancelled is TeachCancelled is JobCancelled is Cancelled
    assert issubclass(DownloadCancelled, Cancelled)
    for cls in (Cancelled, DownloadCancelled):
        assert not issubclass(cls, UserError)


def test_duplicates_are_aliases():
    from engine.features.inspect.zoo import UnknownInspectModelError
    from engine.models.catalog import UnknownModelError

    assert UnknownInspectModelError is UnknownModelError


# Callers catch these by their builtin base; the rebase must not change what they catch.
BUILTIN_BASES = {
    "engine.core.paths.PathsError": OSError,
    "engine.runtime.threads.ThreadBudgetError": ValueError,
    "engine.runtime.device.DeviceError": ValueError,
    "engine.models.cache.WeightsError": RuntimeError,
    "engine.models.cache.WeightsMissingError": RuntimeError,
    "engine.models.catalog.UnknownModelError": KeyError,
    "engine.core.errors.SourceError": RuntimeError,
    "engine.core.safe_files.UnsafeFileError": ValueError,
    "engine.io.recorder.RecorderError": RuntimeError,
    "engine.io.image_header.HeaderError": ValueError,
    "engine.features.inspect.layer_table.UnknownLayerError": KeyError,
    "engine.models.weights_io.WeightsMismatchError": ValueError,
    "engine.features.faces.gallery_records.GalleryError": RuntimeError,
    "engine.features.faces.types.FaceModelError": RuntimeError,
    "engine.features.teach.project.ProjectError": ValueError,
    "engine.features.teach.export.ExportError": RuntimeError,
    "engine.features.detect.backends.darknet.cfg.DarknetCfgError": ValueError,
    "engine.features.style.imaging.StyleInputError": ValueError,
}


@pytest.mark.parametrize("qualified", sorted(BUILTIN_BASES))
def test_builtin_bases_are_kept(qualified):
    assert issubclass(_resolve(qualified), BUILTIN_BASES[qualified])


def test_kinds():
    from engine.core.safe_files import InputTooLargeError, MissingInputError
    from engine.features.faces.gallery_io import ArchiveError
    from engine.features.faces.gallery_records import PersonNotFoundError
    from engine.models.cache import WeightsMissingError

    assert issubclass(WeightsMissingError, NotFound) and issubclass(PersonNotFoundError, NotFound)
    assert issubclass(MissingInputError, NotFound) and issubclass(InputTooLargeError, TooLarge)
    assert issubclass(ArchiveError, BadFormat)
    assert issubclass(_resolve("engine.runtime.device.DeviceError"), Unsupported)


def test_what_and_todo_make_the_one_line():
    both = UserError("model.cfg: line 3 is not a section", "fix the file or download it again")
    assert (both.what, both.todo) == ("model.cfg: line 3 is not a section", "fix the file or download it again")
    assert str(both) == "model.cfg: line 3 is not a section: fix the file or download it again"
    said = UserError("x.png: no such file; check the name")  # an old one-piece message stays as it is
    assert str(said) == "x.png: no such file; check the name" and said.todo == ""
    big = TooLarge("a.cfg: 9 MB is larger than 8 MB", "set CNN_STUDIO_MAX_CFG_BYTES", limit=8, value=9)
    assert (big.limit, big.value) == (8, 9)
    again = pickle.loads(pickle.dumps(big))
    assert (type(again), again.what, again.todo, again.limit, again.value) == (TooLarge, big.what, big.todo, 8, 9)


def test_key_and_os_errors_read_like_the_others():
    from engine.core.paths import PathsError
    from engine.models.catalog import UnknownModelError

    missing = UnknownModelError("no model called 'x'", "choose one of a, b")
    assert str(missing) == "no model called 'x': choose one of a, b"  # no KeyError quotes
    folder = PathsError("/data is not a folder", "set $CNN_STUDIO_HOME to a writable folder", 20)
    assert folder.errno == 20 and str(folder) == "/data is not a folder: set $CNN_STUDIO_HOME to a writable folder"


# -- the command line -----------------------------------------------------------------------

def _user_error_classes() -> list[str]:
    return [q for q in sorted(CLASSES) if q not in INTERNAL]


@pytest.mark.parametrize("qualified", _user_error_classes())
def test_the_cli_prints_any_user_error_as_one_line(qualified, capsys):
    from cli.common import guarded

    cls = _resolve(qualified)
    error = cls.__new__(cls)  # constructors differ (a name, a path); the parts are what counts
    UserError.__init__(error, "thing.bin: damaged\n(at byte 12)", "download it again")

    def run(args) -> int:
        raise error

    assert guarded(run)(None) == 2
    assert capsys.readouterr().err == "error: thing.bin: damaged (at byte 12): download it again\n"
    again = pickle.loads(pickle.dumps(error))  # whatever its constructor takes
    assert type(again) is cls and (again.what, again.todo, str(again)) == (error.what, error.todo, str(error))


def test_a_user_error_from_deep_inside_a_command_is_one_line(tmp_path, capsys):
    import main

    assert main.main(["models", "fetch", "no-such-model"]) == 2  # UnknownModelError, not caught by the command
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "no-such-model" in err and "Traceback" not in err


def test_a_bug_is_not_swallowed(capsys):
    from cli.common import guarded

    def run(args) -> int:
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        guarded(run)(None)
