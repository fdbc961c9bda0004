"""`teach`: train a classifier on an ImageFolder, predict with it, export it.

    teach train FOLDER [--backbone NAME] [--untrained] [--epochs N] [--finetune K] [--seed S] -o MODEL_DIR
    teach predict MODEL_DIR IMAGE|FOLDER|VIDEO [--json]
    teach export MODEL_DIR --format onnx|torchscript -o FILE
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cli import fail
from cli.common import printable, seed_value


def register(subparsers: argparse._SubParsersAction) -> None:
    from engine.features.teach.backbone_specs import BACKBONES, DEFAULT_BACKBONE

    parser = subparsers.add_parser("teach", help="transfer learning: train your own image classifier",
                                   description="Train a small classifier on top of an ImageNet backbone, predict, export.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("train", help="train on FOLDER/<class>/<images> and save a model folder")
    p.add_argument("folder", metavar="FOLDER")
    p.add_argument("--backbone", default=DEFAULT_BACKBONE, choices=list(BACKBONES), help=f"default: {DEFAULT_BACKBONE}")
    p.add_argument("--untrained", action="store_true", help="random backbone weights (no download; much worse)")
    p.add_argument("--epochs", type=int, default=None, help="at most N epochs (early stopping may end sooner)")
    p.add_argument("--finetune", type=int, default=0, metavar="K", help="also train the backbone's last K blocks")
    p.add_argument("--head", choices=("linear", "mlp"), default="linear")
    p.add_argument("--no-augment", action="store_true", help="train without flips, crops and colour jitter")
    p.add_argument("--seed", type=seed_value, default=0, help="random seed (0 to 2^32-1)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL_DIR")
    p = actions.add_parser("predict", help="classify an image, a folder of images or a video")
    p.add_argument("model", metavar="MODEL_DIR")
    p.add_argument("source", metavar="IMAGE|FOLDER|VIDEO")
    p.add_argument("--json", action="store_true", help="one JSON object per image or frame")
    p = actions.add_parser("export", help="export a model folder to ONNX or TorchScript")
    p.add_argument("model", metavar="MODEL_DIR")
    p.add_argument("--format", required=True, choices=("onnx", "torchscript"))
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.io.sources import SourceError
    from engine.features.teach.backbones import BackboneError
    from engine.features.teach.export import ExportError
    from engine.features.teach.model import ModelDirError
    from engine.features.teach.training import TrainingError
    from engine.models.cache import WeightsError

    try:
        return {"train": _train, "predict": _predict, "export": _export}[args.action](args)
    except (TrainingError, ModelDirError, ExportError, BackboneError, WeightsError, SourceError, ValueError) as exc:
        return fail(str(exc))


def _train(args: argparse.Namespace) -> int:
    import torch

    from engine.runtime.device import choose_device
    from engine.features.teach.backbones import load_backbone
    from engine.features.teach.model import save_model_dir
    from engine.features.teach.settings import AugmentSettings, TrainSettings
    from engine.features.teach.training import dataset_from_folder, run_to_end, train

    settings = TrainSettings(seed=args.seed, finetune=args.finetune, head=args.head,
                             augment=AugmentSettings(enabled=not args.no_augment),
                             **({"epochs": args.epochs} if args.epochs is not None else {}))
    dataset = dataset_from_folder(args.folder)
    for path, reason in dataset.skipped:
        print(f"warning: skipped {reason}", file=sys.stderr)
    backbone = load_backbone(args.backbone, untrained=args.untrained)
    if not backbone.trained:
        print(f"note: {backbone.weights_label}", file=sys.stderr)
    device = choose_device(None)
    torch.manual_seed(args.seed)

    def report(progress) -> None:
        if progress.stage == "epoch" and sys.stderr.isatty():
            print(f"\repoch {progress.epoch:3d}  loss {progress.train_loss:.3f}  val acc {progress.val_accuracy:6.1%}",
                  end="", file=sys.stderr, flush=True)

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


def _predict(args: argparse.Namespace) -> int:
    import torch

    from engine.io.sources import iter_frames
    from engine.features.teach.imaging import to_batch
    from engine.features.teach.model import load_model_dir

    model = load_model_dir(args.model)
    if not Path(args.source).exists():
        return fail(f"{args.source}: no such image, folder or video")
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
                print(json.dumps({"source": source, "label": model.labels[best], "score": round(float(probs[best]), 6),
                                  "scores": {label: round(float(p), 6) for label, p in zip(model.labels, probs)}}))
            else:
                print(f"{printable(source)}\t{model.labels[best]}\t{probs[best]:.3f}")
    return 0


def _is_video(spec: str) -> bool:
    from engine.io.sources import VIDEO_SUFFIXES

    return Path(spec).suffix.lower() in VIDEO_SUFFIXES


def _export(args: argparse.Namespace) -> int:
    from engine.features.teach.export import export
    from engine.features.teach.model import load_model_dir

    model = load_model_dir(args.model)
    path = export(model, args.format, args.output)
    print(f"exported {args.format} to {path} (labels in {path.with_name('labels.txt')})")
    return 0
