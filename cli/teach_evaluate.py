"""`teach evaluate MODEL DATA [--json]`: score a Teach model on a held-out test set.

- A classifier (a model folder made by `teach train`, or a Teach project) on a folder of
  class folders: accuracy, precision and recall per class, the confusion matrix (rows =
  true class, columns = predicted class) and the misclassified pictures.
- A detector (a model folder whose config.json has model_type "yolox", made by
  `teach detect-train`, or a detector project holding one in model/) on a folder in the
  YOLO txt layout: mAP@0.5, mAP@0.5:0.95, AP per class, the bad labels counted, and the
  pictures with the worst misses.

Tables go to stdout (one JSON document with --json); progress and warnings to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

from cli.common import print_json, printable

DETECTOR_TYPE = "yolox"
WORST = 8


def detector_folder(model: str | Path) -> Path | None:
    """The detector model folder ``model`` names (itself or its model/ sub-folder, a
    detector project's), or None when it is not a detector (then it is a classifier)."""
    for folder in (Path(model), Path(model) / "model"):
        config = folder / "config.json"
        if config.is_file() and config.stat().st_size < 1024 * 1024:
            try:
                kind = json.loads(config.read_text(encoding="utf-8")).get("model_type")
            except (ValueError, OSError, AttributeError):
                continue
            if kind == DETECTOR_TYPE:
                return folder
    return None


def run(args: argparse.Namespace) -> int:
    folder = detector_folder(args.model)
    return _detector(folder, args) if folder is not None else _classifier(args)


def _percent(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1%}"


def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Lines of a plain text table: the first column left-aligned, the others right-aligned."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
            for row in cells]


def _progress(label: str):
    from cli.progress import ProgressBar

    bar = ProgressBar(label)
    return bar, (lambda done, total: bar.update(done, total, f"{done}/{total}"))


def _classifier(args: argparse.Namespace) -> int:
    from engine.features.teach.evaluate import evaluate_classifier
    from engine.features.teach.model import load_model_dir

    model = load_model_dir(args.model)
    bar, progress = _progress("evaluating")
    result = evaluate_classifier(model, args.data, progress=progress)
    bar.close()
    for name in result.unknown_folders:
        print(f"warning: class folder '{printable(name)}' is not a class of the model ({', '.join(result.labels)}); "
              "its pictures were left out", file=sys.stderr)
    for _, reason in result.skipped:
        print(f"warning: skipped {printable(reason)}", file=sys.stderr)
    if args.json:
        print_json({"model": str(args.model), "data": str(args.data), "kind": "classifier", **result.as_dict()})
        return 0
    print(f"accuracy {_percent(result.accuracy)} ({result.total} pictures, {len(result.misclassified)} wrong)")
    print()
    support = result.confusion.sum(axis=1)
    for line in table(("class", "pictures", "precision", "recall"),
                      [(name, n, _percent(p), _percent(r)) for name, n, p, r in
                       zip(result.labels, support, result.precision, result.recall)]):
        print(line)
    print()
    print("confusion matrix (rows: true class, columns: predicted class)")
    for line in table(("true \\ predicted", *result.labels),
                      [(name, *row) for name, row in zip(result.labels, result.confusion.tolist())]):
        print(line)
    if result.misclassified:
        print()
        print("misclassified (most confident first)")
        for m in result.misclassified:
            print(f"  {printable(m.path)}\t{m.true_label} -> {m.predicted} ({m.score:.2f})")
    return 0


def _detector(folder: Path, args: argparse.Namespace) -> int:
    from engine.features.teach.detection.evaluate import evaluate_detector
    from engine.features.teach.detection.labels import read_yolo_dataset
    from engine.features.teach.detection.training import load_trained_detector

    detector = load_trained_detector(folder)
    dataset = read_yolo_dataset(args.data)
    if tuple(dataset.classes) != tuple(detector.classes):
        print(f"warning: {printable(Path(args.data) / 'classes.txt')} lists {', '.join(dataset.classes)}; the model "
              f"knows {', '.join(detector.classes)} (class ids are compared by number)", file=sys.stderr)
    if not dataset.images:
        from engine.features.teach.evaluate import EvaluationError

        raise EvaluationError(f"{args.data}: no labelled pictures to evaluate on ({dataset.report.summary()})",
                              "put pictures in images/ and their label files in labels/")
    for problem in dataset.report.problems[:10]:
        print(f"warning: {printable(problem)}", file=sys.stderr)
    if len(dataset.report.problems) > 10:
        print(f"warning: ... and {len(dataset.report.problems) - 10} more bad labels", file=sys.stderr)
    bar, progress = _progress("evaluating")
    result = evaluate_detector(detector.predict, dataset, progress=progress)
    bar.close()
    for path, reason in result.skipped:
        print(f"warning: skipped {printable(path)}: {printable(reason)}", file=sys.stderr)
    if args.json:
        print_json({"model": str(args.model), "data": str(args.data), "kind": "detector", **result.as_dict(),
                    "bad_labels": dataset.report.counts})
        return 0
    m = result.metrics
    print(f"mAP@0.5       {_number(m.map50)}")
    print(f"mAP@0.5:0.95  {_number(m.map50_95)}   ({len(result.images)} pictures, {result.truth_count} boxes)")
    print()
    for line in table(("class", "boxes", "AP@0.5", "AP@0.5:0.95"),
                      [(name, n, _number(a), _number(b)) for name, n, a, b in
                       zip(m.classes, result.truth_per_class(), m.ap50, m.ap50_95)]):
        print(line)
    print()
    print(f"bad labels: {dataset.report.summary()}")
    print(f"at score >= {result.score_threshold:.2f}: {result.missed} of {result.truth_count} boxes missed, "
          f"{result.false_positives} false positives")
    worst = result.worst(WORST)
    if worst:
        print()
        print("worst pictures (most missed boxes, then most false positives)")
        for r in worst:
            print(f"  {printable(r.image_path)}\tmissed {r.missed} of {len(r.truth_ids)}\tfalse positives {r.false_positives}")
    return 0
