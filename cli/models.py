"""`models`: list, fetch, import, remove and locate model weights."""

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
    parser.set_defaults(func=run)


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
