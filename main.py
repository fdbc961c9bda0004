#!/usr/bin/env python3
"""CNN Studio: `python main.py` opens the GUI; `python main.py COMMAND ...` runs headless.

Run `python main.py --help` for the commands.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

# Make `python /path/to/main.py` work from any folder, not only the repository root.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def build_parser() -> argparse.ArgumentParser:
    from cli import add_subcommands

    parser = argparse.ArgumentParser(
        prog="cnn-studio",
        description="See convolutional networks work on a live camera: YOLO detection, faces, style transfer, feature maps.",
        epilog="Without a command the GUI opens. User data lives under $CNN_STUDIO_HOME when it is set.",
    )
    parser.add_argument("--source", metavar="SRC", help="GUI: open on 'demo', a camera index (0) or device path, a video, an image or a folder")
    parser.add_argument("--device", metavar="DEV", help="compute device: auto (default), cpu, cuda, cuda:N, mps")
    parser.add_argument("--threads", metavar="N",
                        help="CPU threads for the models (default: all cores for commands; the GUI leaves a "
                             "share to capture and display; also $CNN_STUDIO_THREADS)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    add_subcommands(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    gui = getattr(args, "func", None) is None
    # The thread policy must be in place before anything imports torch (engine.runtime.threads).
    from cli.common import fail
    from engine.runtime.threads import THREADS_ENV, ThreadBudgetError, prepare_process

    try:
        prepare_process("gui" if gui else "cli", threads=args.threads)
    except ThreadBudgetError as exc:
        return fail(exc)
    if args.threads:
        os.environ[THREADS_ENV] = str(args.threads)  # the GUI re-plans threads later; keep the user's choice
    if args.device:
        from engine.runtime.device import DeviceError, choose_device

        try:
            choose_device(args.device)
        except DeviceError as exc:
            return fail(exc)
        os.environ["CNN_STUDIO_DEVICE"] = args.device
    if gui:
        # Before Qt loads: a machine without the X11 libraries of Qt's xcb plugin gets one
        # line naming the packages and the install command, not Qt's abort (exit 134).
        from gui.shell.platform_check import problem_line

        problem = problem_line()
        if problem is not None:
            print(problem, file=sys.stderr)
            return 1
        try:
            from gui.shell.app import run as run_gui
        except ImportError as exc:
            print(f"error: the GUI cannot start ({exc}); reinstall with `bash scripts/setup`", file=sys.stderr)
            return 1
        return run_gui(source=args.source, device=args.device)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
