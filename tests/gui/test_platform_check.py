"""The X11 libraries of Qt's xcb plugin are checked before Qt loads.

A real ELF plugin stand-in is built that needs a library (a stub made for the link and
then deleted: hidden from the loader, as on a fresh machine). Its name is one no system
has, mapped to a package name for the test, so the check is the same whatever this
machine has installed; the checker must name the package, and ``main.py`` must print
one line with the install command and exit non-zero instead of letting Qt abort.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gui.shell import platform_check

ROOT = Path(__file__).resolve().parents[2]


HIDDEN = "libxcb-cnnstudio-hidden.so.4"
PACKAGE = "libxcb-cnnstudio-hidden4"


@pytest.fixture()
def plugin_missing_lib(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setitem(platform_check.PACKAGE_OF, HIDDEN, PACKAGE)
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or shutil.which("ldd") is None:
        pytest.skip("needs a C compiler and ldd to build a plugin stand-in")
    stub_dir = tmp_path / "stub"
    stub_dir.mkdir()
    (stub_dir / "icccm.c").write_text("int xcb_icccm_stub(void) { return 1; }\n")
    stub = stub_dir / HIDDEN
    subprocess.run([cc, "-shared", "-fPIC", f"-Wl,-soname,{HIDDEN}", "-o", str(stub), str(stub_dir / "icccm.c")],
                   check=True)
    (tmp_path / "plugin.c").write_text("int xcb_icccm_stub(void);\nint plugin_entry(void) { return xcb_icccm_stub(); }\n")
    plugin = tmp_path / "libqxcb.so"
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(plugin), str(tmp_path / "plugin.c"), str(stub)], check=True)
    shutil.rmtree(stub_dir)  # the library is gone: the loader cannot find it any more
    return plugin


def test_a_hidden_library_is_named_with_its_package(plugin_missing_lib: Path, monkeypatch):
    monkeypatch.setenv(platform_check.PLUGIN_ENV, str(plugin_missing_lib))
    assert platform_check.missing_libraries(plugin_missing_lib) == [HIDDEN]
    assert platform_check.missing_packages(plugin_missing_lib) == [PACKAGE]
    line = platform_check.problem_line({"DISPLAY": ":0"})
    assert line is not None and f"apt-get install -y {PACKAGE}" in line
    assert platform_check.PACKAGE_OF["libxcb-icccm.so.4"] == "libxcb-icccm4"  # the ones a fresh Debian lacks
    assert platform_check.problem_line({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}) is None
    assert platform_check.problem_line({}) is None  # no X display: Qt would not try xcb


def test_the_installed_plugin_resolves_here():
    # What CI installs (libxcb and friends via .ci/run) leaves the real plugin loadable.
    plugin = platform_check.xcb_plugin()
    assert plugin is not None and plugin.name == "libqxcb.so"


def test_main_prints_one_line_and_exits_non_zero(plugin_missing_lib: Path, tmp_path: Path):
    env = {"PATH": "/usr/bin:/bin", "DISPLAY": ":99", "CNN_STUDIO_HOME": str(tmp_path / "home"),
           platform_check.PLUGIN_ENV: str(plugin_missing_lib)}
    proc = subprocess.run([sys.executable, str(ROOT / "main.py")], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: Qt cannot open an X11 window")
    assert f"apt-get install -y {HIDDEN}" in lines[0]  # main.py's own table does not know the test's name
    assert "Aborted" not in proc.stderr and "could not load the Qt platform plugin" not in proc.stderr.lower()
