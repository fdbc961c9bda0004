"""Time from launching ``python main.py`` to its window being mapped on screen.

Runs the real app under Xvfb (started here on a free display unless DISPLAY is set and
--use-display is given), polls ``xdotool search --onlyvisible --name "CNN Studio"`` and
prints the launch-to-map time of each run, then the median. Needs Debian's xvfb and
xdotool. The app runs with an empty CNN_STUDIO_HOME on the demo source.

    python bench/first_window.py --runs 5
    python bench/first_window.py --busy     # with one competing busy process
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_xvfb() -> tuple[subprocess.Popen, str]:
    for number in range(90, 120):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            display = f":{number}"
            server = subprocess.Popen(["Xvfb", display, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while not Path(f"/tmp/.X11-unix/X{number}").exists():
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("error: Xvfb did not start")
                time.sleep(0.05)
            return server, display
    raise SystemExit("error: no free X display number between :90 and :119")


def window_visible(env: dict[str, str]) -> bool:
    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "CNN Studio"],
                           env=env, capture_output=True, text=True)
    return found.returncode == 0 and found.stdout.strip() != ""


def one_run(env: dict[str, str], timeout: float) -> float | None:
    home = tempfile.mkdtemp(prefix="cnn-studio-bench-home-")
    run_env = dict(env, CNN_STUDIO_HOME=home, XDG_CONFIG_HOME=home)
    started = time.monotonic()
    app = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--source", "demo"], env=run_env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - started < timeout:
            if window_visible(run_env):
                return time.monotonic() - started
            if app.poll() is not None:
                return None
            time.sleep(0.02)
        return None
    finally:
        app.terminate()
        try:
            app.wait(10)
        except subprocess.TimeoutExpired:
            app.kill()
        shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--busy", action="store_true", help="one competing busy process for the duration")
    parser.add_argument("--use-display", action="store_true", help="use $DISPLAY instead of a private Xvfb")
    args = parser.parse_args()
    for tool in ("xdotool",) + (() if args.use_display else ("Xvfb",)):
        if shutil.which(tool) is None:
            print(f"error: {tool} is not installed (apt-get install xvfb xdotool)", file=sys.stderr)
            return 2
    server = None
    env = dict(os.environ)
    env.pop("QT_QPA_PLATFORM", None)
    if not args.use_display:
        server, env["DISPLAY"] = start_xvfb()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    times: list[float] = []
    try:
        one_run(env, args.timeout)  # warm the page cache: users launch an installed app, not a cold disk
        for k in range(args.runs):
            elapsed = one_run(env, args.timeout)
            print(f"run {k + 1}: " + ("no window" if elapsed is None else f"window mapped after {elapsed:.2f} s"))
            if elapsed is not None:
                times.append(elapsed)
    finally:
        if busy is not None:
            busy.kill()
        if server is not None:
            server.terminate()
    if not times:
        print("error: the window never appeared", file=sys.stderr)
        return 1
    load = " with a busy process" if args.busy else ""
    print(f"launch to window{load}: median {statistics.median(times):.2f} s, min {min(times):.2f} s, "
          f"max {max(times):.2f} s over {len(times)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
