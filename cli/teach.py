"""`teach`: train a classifier on an ImageFolder, predict with it, export it.

    teach train FOLDER [--backbone NAME] [--untrained] [--epochs N] [--finetune K] [--seed S] -o MODEL_DIR
    teach predict MODEL_DIR IMAGE|FOLDER|VIDEO [--json]
    teach export MODEL_DIR|PROJECT --format onnx|torchscript -o FILE
    teach evaluate MODEL DATA [--json]
    teach detect-train DATA -o MODEL [--untrained] [--seed N] [--epochs N | --minutes N] [--arch nano|tiny] [--size N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.common import fail, number, print_json, printable, seed_value


def register(subparsers: argparse._SubParsersAction) -> None:
    from engine.features.teach.backbone_specs import BACKBONES, DEFAULT_BACKBONE

    parser = subparsers.add_parser("teach", help="transfer learning: train your own image classifier",
                                   description="Train a small classifier on top of an ImageNet backbone, predict, export.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("train", help="train on FOLDER/<class>/<images> and save a model folder")
    p.add_argument("folder", metavar="FOLDER")
    p.add_argument("--backbone", default=DEFAULT_BACKBONE, choices=list(BACKBONES), help=f"default: {DEFAULT_BACKBONE}")
    p.add_argument("--untrained", action="store_true", help="random backbone weights (no download; much worse)")
    p.add_argument("--epochs", type=number(1, 1000, integer=True), default=None, help="at most N epochs (early stopping may end sooner)")
    p.add_argument("--finetune", type=number(0, 20, integer=True), default=0, metavar="K", help="also train the backbone's last K blocks")
    p.add_argument("--head", choices=("linear", "mlp"), default="linear")
    p.add_argument("--no-augment", action="store_true", help="train without flips, crops and colour jitter")
    p.add_argument("--seed", type=seed_value, default=0, help="random seed (0 to 2^32-1)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL_DIR")
    p = actions.add_parser("predict", help="classify an image, a folder of images or a video")
    p.add_argument("model", metavar="MODEL_DIR|PROJECT", help="a folder made by `teach train -o`, or a Teach project folder")
    p.add_argument("source", metavar="IMAGE|FOLDER|VIDEO")
    p.add_argument("--json", action="store_true", help="one JSON object per image or frame")
    p = actions.add_parser("export", help="export a model folder or a Teach project's model to ONNX or TorchScript")
    p.add_argument("model", metavar="MODEL_DIR|PROJECT", help="a folder made by `teach train -o` or `teach detect-train "
                   "-o` (detectors: ONNX only), or a Teach project folder")
    p.add_argument("--format", required=True, choices=("onnx", "torchscript"))
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p = actions.add_parser("evaluate", help="score a model on a held-out test set (accuracy and confusion matrix, or mAP)",
                           description="A classifier (model folder or Teach project) on a folder of class folders: accuracy, "
                                       "precision and recall per class, confusion matrix. A detector model folder on a "
                                       "YOLO-layout folder (classes.txt, images/, labels/): mAP@0.5, mAP@0.5:0.95, AP per "
                                       "class, bad labels, the worst pictures.")
    p.add_argument("model", metavar="MODEL", help="a classifier model folder or Teach project, or a detector model folder")
    p.add_argument("data", metavar="DATA", help="FOLDER/<class>/<images> for a classifier; classes.txt, images/, labels/ for a detector")
    p.add_argument("--json", action="store_true", help="one JSON document instead of the tables")
    _register_detect_train(actions)
    parser.set_defaults(func=run)


def _register_detect_train(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser("detect-train", help="train a detector (YOLOX) on DATA in the YOLO txt layout",
                           description="Train a small YOLOX on DATA (classes.txt, images/, labels/*.txt with "
                                       "'class cx cy w h' normalised), fine-tuning the COCO weights when installed; "
                                       "saves a model folder that `detect --model-dir` opens.")
    p.add_argument("data", metavar="DATA")
    p.add_argument("-o", "--output", required=True, metavar="MODEL")
    p.add_argument("--untrained", action="store_true", help="train from scratch (random weights) instead of "
                   "fine-tuning the installed COCO weights")
    p.add_argument("--seed", type=seed_value, default=0, help="random seed (0 to 2^32-1): split, initialisation, augmentation")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=number(1, 10_000, integer=True), default=None, help="train N epochs")
    length.add_argument("--minutes", type=number(0.1, 1440), default=None, help="train for about N minutes")
    p.add_argument("--arch", choices=("nano", "tiny"), default="nano", help="YOLOX size (default: nano)")
    p.add_argument("--size", type=number(64, 1280, integer=True), default=320, metavar="N",
                   help="square input side in pixels, a multiple of 32 (default: 320)")
    p.add_argument("--no-augment", action="store_true", help="train without mosaic, scale, flip and colour changes")


def run(args: argparse.Namespace) -> int:
    from engine.core.errors import UserError

    try:
        if args.action == "detect-train":
            from cli.teach_detect import detect_train

            return detect_train(args)
        return {"train": _train, "predict": _predict, "export": _export, "evaluate": _evaluate}[args.action](args)
    except (UserError, ValueError) as exc:
        return fail(exc)


def _train(args: argparse.Namespace) -> int:
    import torch

    from cli.progress import ProgressBar
    from engine.features.teach.backbones import load_backbone
    from engine.features.teach.model import save_model_dir
    from engine.features.teach.settings import AugmentSettings, TrainSettings
    from engine.features.teach.training import dataset_from_folder, run_to_end, train
    from engine.runtime.device import choose_device

    settings = TrainSettings(seed=args.seed, finetune=args.finetune, head=args.head,
                             augment=AugmentSettings(enabled=not args.no_augment),
                             **({"epochs": args.epochs} if args.epochs is not None else {}))
    _check_model_output(args.output, args.folder)  # before any work: a refused -o must not cost a training
    print(f"scanning {args.folder}", file=sys.stderr, flush=True)
    dataset = dataset_from_folder(args.folder)
    print(f"found {len(dataset.items)} images in {len(dataset.classes)} classes", file=sys.stderr, flush=True)
    for path, reason in dataset.skipped:
        print(f"warning: skipped {reason}", file=sys.stderr)
    backbone = load_backbone(args.backbone, untrained=args.untrained)
    if not backbone.trained:
        print(f"note: {backbone.weights_label}", file=sys.stderr)
    device = choose_device(None)
    torch.manual_seed(args.seed)
    bars: dict[str, ProgressBar] = {}

    def report(progress) -> None:
        # Plain lines when stderr is not a terminal (a log file, a pipe): every stage says how far it is.
        if progress.stage == "epoch":
            for bar in bars.values():
                bar.close()
            bars.clear()
            line = (f"epoch {progress.epoch:3d}/{progress.total}  loss {progress.train_loss:.3f}  "
                    f"val acc {progress.val_accuracy:6.1%}")
            if sys.stderr.isatty():
                print(f"\r{line}", end="", file=sys.stderr, flush=True)
            else:
                print(line, file=sys.stderr, flush=True)
            return
        label = progress.message.split(":")[0] or progress.stage
        if label not in bars:
            for bar in bars.values():
                bar.close()
            bars.clear()
            bars[label] = ProgressBar(label)
        bars[label].update(progress.done, progress.total, f"{progress.done}/{progress.total}")

    result = run_to_end(train(dataset, backbone, settings, device=device), report)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    for warning in result.warnings:
        if not warning.endswith("not an image file"):
            print(f"warning: {warning}", file=sys.stderr)
    save_model_dir(result.model, args.output)
    print(f"validation accuracy: {result.val_accuracy:.1%} ({result.model.info['val_samples']} samples, "
          f"best epoch {result.best_epoch}); model saved to {printable(args.output)}")
    return 0


def _check_model_output(output: str, dataset: str) -> None:
    """UnsafeFileError unless ``output`` can become a model folder: not a file, not inside the
    data set, and either new, empty or a model folder already (a folder of other files would
    get weights.pt, labels.txt and model.json among them, replacing any of that name)."""
    from engine.core.safe_files import UnsafeFileError, check_output

    out = check_output(output, option="-o", kind="folder", keep_out_of=[(dataset, "the data set")], make_parents=True)
    if out.is_dir() and any(out.iterdir()) and not (out / "model.json").is_file():
        raise UnsafeFileError(f"-o {out} is a folder of other files, not a Teach model folder; give a new or empty "
                              "folder (the model's weights.pt, labels.txt and model.json would go among them)")


def _predict(args: argparse.Namespace) -> int:
    import torch

    from engine.features.teach.evaluate import is_class_folder_tree
    from engine.features.teach.imaging import to_batch
    from engine.features.teach.model import load_model_dir
    from engine.io import iter_frames

    model = load_model_dir(args.model)
    if not Path(args.source).exists():
        return fail(f"{args.source}: no such image, folder or video")
    if is_class_folder_tree(args.source):
        return fail(f"{printable(args.source)} is a folder of class folders (a test set): use `teach evaluate "
                    f"{printable(args.model)} {printable(args.source)}` for the accuracy and confusion matrix")
    spec = Path(args.source)
    with torch.inference_mode():
        for frame in iter_frames(args.source):
            probs = model.classifier(to_batch([frame.image], model.input_size))[0].numpy()
            best = int(probs.argmax())
            if spec.is_dir():
                source = str(spec / frame.source)
            elif _is_video(args.source):
                source = f"{spec}#{frame.index}"  # frame index, 0-based
            else:
                source = str(spec)
            if args.json:
                print_json({"source": source, "label": model.labels[best], "score": round(float(probs[best]), 6),
                            "scores": {label: round(float(p), 6) for label, p in zip(model.labels, probs)}})
            else:
                print(f"{printable(source)}\t{model.labels[best]}\t{probs[best]:.3f}")
    return 0


def _is_video(spec: str) -> bool:
    from engine.io.video import VIDEO_SUFFIXES

    return Path(spec).suffix.lower() in VIDEO_SUFFIXES


def _evaluate(args: argparse.Namespace) -> int:
    from cli.teach_evaluate import run as evaluate

    return evaluate(args)


def _export(args: argparse.Namespace) -> int:
    from engine.core.safe_files import check_output
    from engine.features.teach.export import export
    from engine.features.teach.model import load_model_dir

    # Before the work: the export (and the labels.txt beside it) must not land in the model folder.
    check_output(args.output, option="-o", keep_out_of=[(args.model, "the model folder")], make_parents=True)
    if (Path(args.model) / "config.json").is_file():  # a detector folder (teach detect-train)
        from cli.teach_detect import export_detector

        return export_detector(args)
    model = load_model_dir(args.model)
    path = export(model, args.format, args.output)
    print(f"exported {args.format} to {path} (labels in {path.with_name('labels.txt')})")
    return 0
