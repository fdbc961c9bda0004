"""`models`: list, fetch, import, remove and locate model weights; export a detector's network."""

from __future__ import annotations

import argparse
import sys
import threading

from cli.common import fail, print_json
from cli.progress import ProgressBar
from engine.features.registry import registry


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list, download, import or remove model weights", description="Manage the model catalog's weights cache.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("list", help="every catalog entry with its state")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--task", choices=[f.key for f in registry().with_catalog()], help="only this feature's models")
    p = actions.add_parser("fetch", help="download a model's files (verified, atomic)")
    p.add_argument("name")
    p = actions.add_parser("import", help="install a file you already have (offline machines)")
    p.add_argument("name")
    p.add_argument("file")
    p.add_argument("--as", dest="filename", help="which of the model's files this is, when it has several")
    p.add_argument("--force", action="store_true", help="accept a file whose SHA-256 differs from the published one")
    p = actions.add_parser("remove", help="delete a model's installed files")
    p.add_argument("name")
    p = actions.add_parser("verify", help="check installed files against their SHA-256")
    p.add_argument("name")
    actions.add_parser("path", help="print the folder where models are installed")
    p = actions.add_parser("export", help="write an installed detector's network for other runtimes (ONNX)",
                           description="Write the network of an installed detector as ONNX (float32; input 'image' "
                                       "(N, 3, H, W) preprocessed as the model's transforms say, listed with the "
                                       "decoding parameters in the file's metadata).")
    p.add_argument("name")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="file format (default onnx)")
    p.add_argument("-o", "--output", metavar="FILE", help="where to write it (default NAME.onnx here)")
    p.add_argument("--size", type=_size, metavar="WxH", help="the network input size (default: the model's)")
    parser.set_defaults(func=run)


def _size(text: str) -> tuple[int, int]:
    """"416x416" (or "416") -> (416, 416); positive whole pixels."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        width, height = (int(v) for v in (parts * 2 if len(parts) == 1 else parts))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not WIDTHxHEIGHT (e.g. 416x416)") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"{text}: width and height must be positive (e.g. 416x416)")
    return width, height


def _export(args: argparse.Namespace, entry) -> int:
    """models export: the network of ``entry`` (an installed detector) as an ONNX file."""
    from pathlib import Path

    from engine.api import load_detector

    if entry.task != "detect":
        return fail(f"{entry.name} is a {entry.task} model: export covers detectors (models list --task detect)")
    out = Path(args.output).expanduser() if args.output else Path(f"{entry.name}.onnx")
    if out.is_dir():
        out = out / f"{entry.name}.onnx"
    size = args.size
    adjustable = entry.capabilities.input_size is not None and entry.capabilities.input_size.adjustable
    # A model whose input size can change is built at the asked size, so the size rule
    # (e.g. multiples of 32) is checked with the model's own message.
    detector = load_detector(entry.name, device="cpu", precision="fp32", size=size if adjustable else None)
    path = detector.export_onnx(out, size)
    width, height = size or detector.input_size or (0, 0)
    print(f"wrote {path} ({entry.name}, {width}x{height}, {args.format})")
    return 0


def run(args: argparse.Namespace) -> int:
    from engine.models.cache import DownloadCancelled, default_cache, human_size
    from engine.models.catalog import catalog

    cache = default_cache()
    if args.action == "path":
        print(cache.root)
        return 0
    if args.action == "list":
        for problem in catalog().problems:  # a feature whose models could not be loaded
            print(f"warning: {problem}", file=sys.stderr)
        entries = catalog().entries(args.task)
        rows = [
            {
                "name": e.name,
                "task": e.task,
                "title": e.title,
                "installed": cache.is_installed(e),
                "size": e.size,
                "license": e.license,
                "source": e.source,
                "default": e.default,
                "files": [{"filename": f.filename, "url": f.url, "size": f.size, "sha256": f.sha256} for f in e.files],
            }
            for e in entries
        ]
        if args.json:
            print_json({"models_dir": str(cache.root), "models": rows}, indent=2)
            return 0
        if not rows:
            print("the catalog is empty")
            return 0
        width = max(len(r["name"]) for r in rows)
        for r in rows:
            state = "installed" if r["installed"] else "missing"
            mark = "*" if r["default"] else " "
            print(f"{r['name']:<{width}}{mark} {r['task']:<8} {state:<9} {human_size(r['size']):>9}  {r['license']:<14} {r['title']}")
        print(f"\n* default of its tab. Installed under {cache.root}")
        return 0

    entry = catalog().get(args.name)  # UnknownModelError: one line from cli.common.guarded
    if args.action == "export":
        return _export(args, entry)
    try:
        if args.action == "fetch":
            if cache.is_installed(entry):
                print(f"{entry.name} is already installed in {cache.folder(entry)}")
                return 0
            bar = ProgressBar(f"fetch {entry.name}")
            cancel = threading.Event()
            try:
                paths = cache.fetch(entry, progress=lambda done, total, name: bar.update(done, total, f"{name} {human_size(done)}"), cancel=cancel)
            except KeyboardInterrupt:
                cancel.set()
                bar.close()
                return fail("download interrupted; nothing was installed")
            bar.close()
            for path in paths:
                print(path)
            return 0
        if args.action == "import":
            path = cache.import_file(entry, args.file, args.filename, force=args.force)
            print(f"imported {args.file} as {path}")
            return 0
        if args.action == "remove":
            if cache.remove(entry):
                print(f"removed {entry.name}")
                return 0
            return fail(f"'{entry.name}' is not installed")
        if args.action == "verify":
            problems = cache.verify(entry)
            if problems:
                for problem in problems:
                    print(f"{entry.name}: {problem}", file=sys.stderr)
                return 1
            print(f"{entry.name}: all files check out")
            return 0
    except DownloadCancelled as exc:
        return fail(exc)
    except ValueError as exc:  # WeightsError (a UserError): one line from cli.common.guarded
        return fail(exc)
    return fail(f"unknown action {args.action}")
