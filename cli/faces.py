"""`faces`: enrol, list, remove, rename, identify, verify, embed, export and import.

Every action takes ``--embedder NAME`` (default: the best installed one; "lbp" is the
classical offline method that needs no download) and ``--gallery PATH`` (default: the
gallery in the user data dir, shared with the GUI).
"""

from __future__ import annotations

import argparse
import json
import sys

from cli import fail

ACTIONS = ("enrol", "list", "remove", "rename", "identify", "verify", "embed", "export", "import")


def _common(parser: argparse.ArgumentParser, detector: bool = False) -> None:
    parser.add_argument("--embedder", metavar="NAME",
                        help="facenet-vggface2, facenet-casia, sface or lbp (classical, offline); default: best installed")
    parser.add_argument("--gallery", metavar="PATH", help="gallery database (default: the one in the user data dir)")
    if detector:
        parser.add_argument("--detector", choices=("haar", "yunet"), default="haar", help="face detector (default: haar)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "faces", help="enrol people, identify and verify faces in photos",
        description="Face gallery and recognition without a camera.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("enrol", help="add a person from photos (one face per photo)")
    p.add_argument("name")
    p.add_argument("images", nargs="+", metavar="IMG")
    p.add_argument("--add", action="store_true", help="the name exists: add these photos to that person")
    _common(p, detector=True)
    p = actions.add_parser("list", help="people in the gallery")
    p.add_argument("--json", action="store_true")
    _common(p)
    p = actions.add_parser("remove", help="delete a person and every trace of them")
    p.add_argument("name")
    _common(p)
    p = actions.add_parser("rename", help="rename a person")
    p.add_argument("old")
    p.add_argument("new")
    _common(p)
    p = actions.add_parser("identify", help="name every face in a photo")
    p.add_argument("image", metavar="IMG")
    p.add_argument("--json", action="store_true")
    p.add_argument("--threshold", type=float, help="distance threshold (default: the embedder's)")
    _common(p, detector=True)
    p = actions.add_parser("verify", help="are the faces of two photos the same person?")
    p.add_argument("image1", metavar="IMG1")
    p.add_argument("image2", metavar="IMG2")
    p.add_argument("--threshold", type=float, help="distance threshold (default: the embedder's)")
    _common(p, detector=True)
    p = actions.add_parser("embed", help="print the embedding of the face in a photo")
    p.add_argument("image", metavar="IMG")
    p.add_argument("--aligned", action="store_true", help="the image already is a face crop: skip detection")
    p.add_argument("--json", action="store_true")
    _common(p, detector=True)
    p = actions.add_parser("export", help="write the gallery to a zip (JSON + .npy + PNG thumbnails)")
    p.add_argument("file", metavar="FILE")
    _common(p)
    p = actions.add_parser("import", help="add the people of an exported zip")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--on-conflict", choices=("error", "merge", "skip"), default="error",
                   help="a name that exists: stop (default), add the shots to them, or skip them")
    _common(p)
    parser.set_defaults(func=run)


_NOTICES: dict[str, bool] = {}


def _embedder(args):
    from engine.faces.embedders import make_embedder

    embedder = make_embedder(args.embedder)
    embedder.load(_device())
    if embedder.classical and not _NOTICES.get("classical"):
        _NOTICES["classical"] = True  # one notice per run, however many steps load it
        print(f"embedder: {embedder.name} — {embedder.title}: a classical method, not a neural network; for better "
              "accuracy install one (python main.py models fetch facenet-vggface2)", file=sys.stderr)
    return embedder


def _device():
    from engine.device import choose_device

    return choose_device(None)


def _gallery(args):
    from engine.faces.gallery import Gallery

    gallery = Gallery(args.gallery)
    if gallery.notice:
        print(f"warning: {gallery.notice}", file=sys.stderr)
    return gallery


def _recognizer(args, gallery=None):
    from engine.faces.detectors import make_detector
    from engine.faces.recognizer import FaceRecognizer

    return FaceRecognizer(make_detector(getattr(args, "detector", "haar")), _embedder(args), gallery, _device())


def run(args: argparse.Namespace) -> int:
    from engine.faces.detectors import FaceModelError
    from engine.faces.gallery import GalleryError
    from engine.faces.quality import EnrolmentError
    from engine.sources import SourceError
    from engine.weights.catalog import UnknownModelError

    from engine.faces.embedders import EMBEDDER_NAMES

    if args.embedder is not None and args.embedder not in EMBEDDER_NAMES:
        return fail(f"unknown embedder '{args.embedder}': choose one of {', '.join(EMBEDDER_NAMES)}")
    try:
        return _ACTIONS[args.action](args)
    except (EnrolmentError, GalleryError, FaceModelError, SourceError, UnknownModelError, ValueError, OSError) as exc:
        return fail(str(exc))


def _enrol(args) -> int:
    from engine.faces.gallery import PersonExistsError
    from engine.sources import read_image

    images = [(path, read_image(path)) for path in args.images]
    with _gallery(args) as gallery:
        rec = _recognizer(args, gallery)
        try:
            person = rec.enrol(args.name, images, add_to_existing=args.add)
        except PersonExistsError as exc:
            return fail(f"'{exc.name}' is already in the gallery: add --add to add these photos to them, "
                        "or choose another name")
    print(f"enrolled {person.name}: {person.shots} shot(s) with {rec.embedder.name}")
    return 0


def _list(args) -> int:
    with _gallery(args) as gallery:
        people = gallery.people()
        if args.json:
            print(json.dumps({"gallery": str(gallery.path), "read_only": gallery.read_only,
                              "embedders": gallery.embedders(),
                              "people": [{"name": p.name, "shots": p.shots, "created": p.created} for p in people]},
                             indent=2))
            return 0
        if not people:
            print(f"the gallery is empty ({gallery.path})")
            return 0
        width = max(len(p.name) for p in people)
        for p in people:
            print(f"{p.name:<{width}}  {p.shots} shot(s)")
    return 0


def _remove(args) -> int:
    with _gallery(args) as gallery:
        person = gallery.remove(args.name)
    print(f"removed {person.name} ({person.shots} shot(s))")
    return 0


def _rename(args) -> int:
    with _gallery(args) as gallery:
        person = gallery.rename(args.old, args.new)
    print(f"renamed {args.old} to {person.name}")
    return 0


def _identify(args) -> int:
    from engine.sources import read_image

    image = read_image(args.image)
    with _gallery(args) as gallery:
        rec = _recognizer(args, gallery)
        if not gallery.people():
            print("note: the gallery is empty, so every face is Unknown; enrol people with "
                  "`python main.py faces enrol NAME IMG...`", file=sys.stderr)
        rec.prepare_gallery()
        threshold = rec.embedder.default_threshold if args.threshold is None else args.threshold
        found = rec.identify(image, threshold)
    rows = [
        {"box": [round(float(v), 1) for v in face.box], "name": match.name,
         "distance": None if match.distance != match.distance else round(match.distance, 4),
         "closest": match.candidate}
        for face, match in found
    ]
    if args.json:
        print(json.dumps({"image": args.image, "embedder": rec.embedder.name, "classical": rec.embedder.classical,
                          "metric": rec.embedder.metric, "threshold": threshold, "faces": rows}, indent=2))
        return 0
    if not rows:
        print(f"no face found in {args.image}")
        return 0
    for row in rows:
        box = ",".join(f"{v:g}" for v in row["box"])
        distance = "-" if row["distance"] is None else f"{max(row['distance'], 0.0) + 0.0:.3f}"
        print(f"{row['name']}\t{rec.embedder.metric} distance {distance}\tbox {box}")
    return 0


def _verify(args) -> int:
    from engine.sources import read_image

    a, b = read_image(args.image1), read_image(args.image2)
    rec = _recognizer(args)
    threshold = rec.embedder.default_threshold if args.threshold is None else args.threshold
    same, distance = rec.verify_pair(a, b, args.image1, args.image2, threshold)
    verdict = "match" if same else "no match"
    print(f"{verdict}: {rec.embedder.metric} distance {max(distance, 0.0) + 0.0:.3f} (threshold {threshold:g}, {rec.embedder.name})")
    return 0 if same else 1


def _embed(args) -> int:
    from engine.faces.align import as_chip
    from engine.sources import read_image

    image = read_image(args.image)
    rec = _recognizer(args)
    if args.aligned:
        vector = rec.embedder.embed([as_chip(image)])[0]
    else:
        _, _, vector = rec.embed_single(image, args.image)
    if args.json:
        print(json.dumps({"image": args.image, "embedder": rec.embedder.name, "classical": rec.embedder.classical,
                          "metric": rec.embedder.metric, "dim": int(vector.size),
                          "vector": [float(v) for v in vector]}))
    else:
        print(" ".join(f"{v:.6g}" for v in vector))
    return 0


def _export(args) -> int:
    from engine.faces.gallery_io import export_zip

    with _gallery(args) as gallery:
        summary = export_zip(gallery, args.file)
    print(f"exported {summary['people']} people, {summary['shots']} shots to {args.file}")
    return 0


def _import(args) -> int:
    from engine.faces.gallery import PersonExistsError
    from engine.faces.gallery_io import import_zip

    with _gallery(args) as gallery:
        try:
            summary = import_zip(gallery, args.file, on_conflict=args.on_conflict)
        except PersonExistsError as exc:
            return fail(f"already in the gallery: {exc.name}; use --on-conflict merge (add their shots) or skip")
    extra = "".join(f", {k}: {', '.join(v)}" for k, v in summary.items() if isinstance(v, list) and v)
    print(f"imported {summary['people']} people, {summary['shots']} shots{extra}")
    return 0


_ACTIONS = {
    "enrol": _enrol, "list": _list, "remove": _remove, "rename": _rename, "identify": _identify,
    "verify": _verify, "embed": _embed, "export": _export, "import": _import,
}
