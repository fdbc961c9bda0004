"""`teach detect-train` and `teach export` of a detector folder (parsers in cli/teach.py).

    teach detect-train DATA -o MODEL [--untrained] [--seed N] [--epochs N | --minutes N] [--arch nano|tiny] [--size N]

Prints what was read (pictures, boxes, every kind of bad label counted), where training
starts from (COCO weights or from scratch), the time estimate, a progress bar with the
loss and the held-out mAP, and at the end mAP@0.5 and mAP@0.5:0.95 on the held-out split.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.common import printable

SHOWN_PROBLEMS = 5


def _check_output(output: str, data: str) -> Path:
    """The -o folder: new, empty, or a detector folder already (it is replaced); never
    inside the data set. Checked before any work."""
    from engine.core.safe_files import UnsafeFileError, check_output

    out = check_output(output, option="-o", kind="folder", keep_out_of=[(data, "the data set")], make_parents=True)
    if out.is_dir() and any(out.iterdir()) and not (out / "config.json").is_file():
        raise UnsafeFileError(f"-o {out} is a folder of other files, not a model folder; give a new or empty folder "
                              "(config.json, model.safetensors and classes.txt would go among them)")
    return out


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def detect_train(args: argparse.Namespace) -> int:
    from cli.progress import ProgressBar
    from engine.features.teach.detection.labels import read_yolo_dataset
    from engine.features.teach.detection.training import (
        DetectorTrainingError,
        DetectorTrainSettings,
        estimate_training_seconds,
        installed_coco_weights,
        train_detector,
    )

    settings = DetectorTrainSettings(arch=args.arch, input_size=args.size, epochs=args.epochs, minutes=args.minutes,
                                     untrained=args.untrained, augment=not args.no_augment, seed=args.seed)
    out = _check_output(args.output, args.data)
    dataset = read_yolo_dataset(args.data)
    counts = ", ".join(f"{n} {name}" for name, n in zip(dataset.classes, dataset.boxes_per_class()))
    print(f"read {len(dataset.images)} pictures, {dataset.box_count} boxes ({counts})", file=sys.stderr)
    print(f"labels: {dataset.report.summary()}", file=sys.stderr)
    for problem in dataset.report.problems[:SHOWN_PROBLEMS]:
        print(f"  {printable(problem)}", file=sys.stderr)
    if len(dataset.report.problems) > SHOWN_PROBLEMS:
        print(f"  ... and {len(dataset.report.problems) - SHOWN_PROBLEMS} more", file=sys.stderr)
    pretrained = None
    if not args.untrained:
        pretrained = installed_coco_weights(args.arch)
        if pretrained is None:
            raise DetectorTrainingError(f"the COCO weights of YOLOX-{args.arch} are not installed",
                                        f"run `python main.py models fetch yolox-{args.arch}` (or `models import "
                                        f"yolox-{args.arch} FILE`), or train from scratch with --untrained")
    start = f"fine-tuning COCO YOLOX-{args.arch} ({printable(pretrained)})" if pretrained else \
        f"from scratch (random YOLOX-{args.arch} weights)"
    print(f"training {start} at {args.size}x{args.size}", file=sys.stderr)
    estimate = estimate_training_seconds(dataset, settings)
    print(f"estimated time: {_minutes(estimate)}", file=sys.stderr, flush=True)
    bar = ProgressBar("training")

    def report(p) -> None:
        score = f"  held-out mAP@0.5 {p.map50:.3f}" if p.map50 is not None else ""
        eta = f"  {_minutes(p.eta_s)} left" if p.eta_s is not None else ""
        bar.update(p.step, p.steps, f"epoch {p.epoch}/{p.epochs} loss {p.loss:.3f}{score}{eta}")
        if p.map50 is not None and not bar.tty:
            print(f"epoch {p.epoch}: held-out mAP@0.5 {p.map50:.3f}, mAP@0.5:0.95 {p.map50_95:.3f}", file=sys.stderr)

    trained = train_detector(dataset, settings, progress=report, pretrained=pretrained)
    bar.close()
    for line in trained.info.get("skipped", []):
        print(f"warning: {printable(line)}", file=sys.stderr)
    trained.save(out)
    seconds = trained.info.get("train_seconds", 0.0)
    if trained.evaluation is not None:
        m = trained.evaluation.metrics
        print(f"held-out mAP@0.5 {m.map50:.3f}, mAP@0.5:0.95 {m.map50_95:.3f} "
              f"({len(trained.evaluation.images)} pictures); trained {_minutes(seconds)}")
    else:
        print(f"no pictures were held out to evaluate; trained {_minutes(seconds)}")
    print(f"model saved to {printable(out)} (open it with: detect IMAGE --model-dir {printable(out)})")
    return 0


def export_detector(args: argparse.Namespace) -> int:
    from engine.core.errors import UserError
    from engine.features.teach.detection.export import export_detector_onnx
    from engine.features.teach.detection.trained import load_trained_detector

    if args.format != "onnx":
        raise UserError(f"{args.model} is a detector: it exports to ONNX only", "use --format onnx")
    detector = load_trained_detector(args.model)
    path = export_detector_onnx(detector, args.output)
    print(f"exported onnx to {printable(path)} (class names in its metadata 'class_names' and in "
          f"{printable(path.with_name('classes.txt'))})")
    return 0
