"""Before Qt starts on X11: are the system libraries of its xcb platform plugin installed?

Qt draws X11 windows through its "xcb" platform plugin, which needs libraries a fresh
Debian or Ubuntu machine lacks (libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, ...).
Without them Qt aborts with "Could not load the Qt platform plugin "xcb"" (exit code
134) and no hint of what to install. This module finds them first — ``ldd`` on the
plugin, plus libxcb-cursor, which Qt 6.5+ opens by itself at run time — and names the
Debian packages, so ``scripts/run`` can install them and ``main.py`` can say in one line
what is missing and how to install it.

Imports no Qt (it must run before Qt is loaded). ``python -m gui.shell.platform_check``
prints the missing packages, space-separated (nothing when all are there).
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

#: Overrides the plugin checked (a packager's own Qt build, and the tests, which check
#: a plugin whose library was made to vanish).
PLUGIN_ENV = "CNN_STUDIO_QT_XCB_PLUGIN"

#: Library file name -> the Debian/Ubuntu package that installs it.
PACKAGE_OF = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}


def xcb_plugin() -> Path | None:
    """The xcb platform plugin of the installed PySide6 (without importing Qt), or None."""
    override = os.environ.get(PLUGIN_ENV, "").strip()
    if override:
        return Path(override)
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        plugin = Path(folder) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return plugin
    return None


def x11_wanted(environ: dict[str, str] | None = None) -> bool:
    """Whether Qt will try the xcb plugin: Linux, an X display, and no other platform asked for."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return False
    platform = env.get("QT_QPA_PLATFORM", "").strip().lower()
    if platform and not platform.startswith("xcb"):
        return False
    return bool(env.get("DISPLAY"))


def missing_libraries(plugin: Path) -> list[str]:
    """File names of the libraries ``plugin`` needs that the dynamic loader cannot find.

    The plugin is opened as Qt would open it (``dlopen``, which costs nothing on a
    machine where it works); only when that fails does ``ldd`` list the whole tree of
    what is missing. libxcb-cursor is opened on its own because Qt loads it at run time,
    so no ``ldd`` shows it.
    """
    missing: list[str] = []
    try:
        ctypes.CDLL(str(plugin))
    except OSError:
        missing = _ldd_not_found(plugin)
    if os.environ.get(PLUGIN_ENV, "").strip() == "":  # an overridden plugin describes all it needs
        try:
            ctypes.CDLL("libxcb-cursor.so.0")
        except OSError:
            missing.append("libxcb-cursor.so.0")
    return missing


def _ldd_not_found(plugin: Path) -> list[str]:
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    found: list[str] = []
    for line in out.splitlines():
        name, _, rest = line.strip().partition(" => ")
        if rest.strip() == "not found" and name not in found:
            found.append(name)
    return found


def missing_packages(plugin: Path | None = None) -> list[str]:
    """Debian packages to install so the xcb plugin loads (a library not in ``PACKAGE_OF``
    is named as it is); empty when nothing is missing or no plugin was found."""
    plugin = plugin if plugin is not None else xcb_plugin()
    if plugin is None or not plugin.is_file():
        return []
    packages: list[str] = []
    for library in missing_libraries(plugin):
        package = PACKAGE_OF.get(library, library)
        if package not in packages:
            packages.append(package)
    return packages


def install_command(packages: list[str]) -> str:
    """The one command that installs ``packages`` (sudo unless this is root)."""
    sudo = "" if hasattr(os, "geteuid") and os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get install -y {' '.join(packages)}"


def problem_line(environ: dict[str, str] | None = None) -> str | None:
    """The one line to print before Qt would abort, or None when the window can open."""
    if not x11_wanted(environ):
        return None
    packages = missing_packages()
    if not packages:
        return None
    return (f"error: Qt cannot open an X11 window: the system libraries of its xcb plugin are missing "
            f"(Debian packages {', '.join(packages)}); install them with: {install_command(packages)}")


if __name__ == "__main__":
    print(" ".join(missing_packages()))
