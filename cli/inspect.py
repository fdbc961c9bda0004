"""`inspect`: look inside a CNN on one image — layer table, channel grid, saliency, Grad-CAM.

    python main.py inspect IMAGE --model NAME [--weights FILE | --untrained]
        [--summary [--json]] [--layer NAME -o grid.png]
        [--saliency | --smoothgrad | --gradcam CLASS] [-o overlay.png] [--topk 5]
    python main.py inspect FOLDER --model NAME [--weights FILE | --untrained]
        --top-patches LAYER [--k 9] [--json] [-o grid.png]

The image is squashed to the model's square input (as in the live tab), so grids and
overlays line up with the whole picture. With --json, stdout is one JSON object; with
--top-patches it is one JSON object per line, one per channel:
{"layer", "channel", "patches": [{"source", "box": [x1, y1, x2, y2], "activation"}]}
(box in pixels of the source image, best patch first).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from cli.common import fail, number, print_json

log = logging.getLogger(__name__)

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="look inside a CNN on one image: layer table, feature maps, saliency, Grad-CAM",
        description="Layer table with receptive fields, channel grids, top-k classes, saliency and Grad-CAM for one image.",
    )
    parser.add_argument("image", metavar="IMAGE|FOLDER", help="an image file (a folder of images with --top-patches)")
    parser.add_argument("--model", required=True, metavar="NAME", help="lenet5, alexnet, vgg16, resnet18, resnet50, googlenet, inception_v3, densenet121, mobilenet_v2, mobilenet_v3_large, efficientnet_b0, ...")
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--weights", metavar="FILE", help="a state_dict file to load (default: the catalog's installed weights)")
    weights.add_argument("--untrained", action="store_true", help="random initial weights (works offline; predictions are meaningless)")
    parser.add_argument("--summary", action="store_true", help="print the layer table (shapes, params, mult-adds, receptive fields)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--layer", metavar="NAME", help="the layer whose channels to save (with -o), or Grad-CAM's layer")
    explain = parser.add_mutually_exclusive_group()
    explain.add_argument("--saliency", action="store_true", help="vanilla gradient saliency of the top class (or --class)")
    explain.add_argument("--smoothgrad", action="store_true", help="SmoothGrad saliency of the top class (or --class)")
    explain.add_argument("--gradcam", metavar="CLASS", help="Grad-CAM of CLASS (an index or a class name) at --layer (default: last conv)")
    parser.add_argument("--class", dest="target", metavar="CLASS", help="class to explain with --saliency/--smoothgrad (default: the top class)")
    parser.add_argument("-o", "--output", metavar="FILE", help="where to save the channel grid or the overlay (.png, .jpg)")
    parser.add_argument("--topk", type=number(0, 1000, integer=True), default=5, metavar="K", help="how many classes to print (default 5; 0: none)")
    parser.add_argument("--channels", type=number(1, 4096, integer=True), default=32, metavar="N", help="channels in the grid, strongest first (default 32)")
    parser.add_argument("--colormap", default="viridis", help="viridis, inferno, magma, jet or gray (default viridis)")
    parser.add_argument("--norm", default="channel", choices=["channel", "shared"], help="grid normalisation: each channel on its own or one scale for all")
    parser.add_argument("--alpha", type=number(0, 1), default=0.5, help="overlay opacity 0-1 (default 0.5)")
    parser.add_argument("--top-patches", metavar="LAYER", help="for every channel of LAYER, the K image patches of FOLDER that excite it most")
    parser.add_argument("--k", type=number(1, 100, integer=True), default=9, metavar="K", help="patches per channel with --top-patches (default 9)")
    parser.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> str | None:
    if args.top_patches is not None:
        if args.layer or args.saliency or args.smoothgrad or args.gradcam is not None or args.summary or args.target is not None:
            return "--top-patches LAYER goes alone (no --layer, --summary, --saliency, --smoothgrad, --gradcam or --class)"
        if not 1 <= args.k <= 100:
            return f"--k must be between 1 and 100, got {args.k}"
        if args.output and Path(args.output).suffix.lower() not in _IMAGE_SUFFIXES:
            return f"cannot save '{args.output}': use a {', '.join(_IMAGE_SUFFIXES)} file name"
        return None
    explaining = args.saliency or args.smoothgrad or args.gradcam is not None
    if args.output and not (args.layer or explaining):
        return "-o needs --layer NAME (channel grid) or --saliency/--smoothgrad/--gradcam CLASS (overlay)"
    if args.layer and not explaining and not args.output and not args.summary:
        return "--layer NAME needs -o FILE to save the channel grid (e.g. -o grid.png)"
    if explaining and not args.output:
        return "saliency and Grad-CAM need -o FILE for the overlay (e.g. -o overlay.png)"
    if args.output and Path(args.output).suffix.lower() not in _IMAGE_SUFFIXES:
        return f"cannot save '{args.output}': use a {', '.join(_IMAGE_SUFFIXES)} file name"
    if args.target is not None and not (args.saliency or args.smoothgrad):
        return "--class goes with --saliency or --smoothgrad (Grad-CAM takes its class directly: --gradcam CLASS)"
    if args.topk < 0 or args.channels < 1:
        return "--topk must be 0 or more and --channels 1 or more"
    if not 0.0 <= args.alpha <= 1.0:
        return f"--alpha must be between 0 and 1, got {args.alpha}"
    if args.colormap not in ("viridis", "inferno", "magma", "jet", "gray"):
        return f"unknown colour map '{args.colormap}': use viridis, inferno, magma, jet or gray"
    return None


def run(args: argparse.Namespace) -> int:
    problem = _check_args(args)
    if problem:
        return fail(problem)

    if args.top_patches is not None:
        return _top_patches(args)

    import cv2
    import torch

    from engine.core.errors import UserError
    from engine.features.inspect.activations import LayerTap, top_channels
    from engine.features.inspect.layer_table import UnknownLayerError, build_layer_table, find_layer
    from engine.features.inspect.predictions import resolve_class, top_k
    from engine.features.inspect.render import activation_grid, heat_overlay
    from engine.features.inspect.saliency import NotAClassifierError, class_scores, grad_cam, last_conv_layer, smooth_grad, vanilla_gradient
    from engine.features.inspect.zoo import load_model
    from engine.io.images import read_image
    from engine.models.transforms import to_input
    from engine.runtime.device import DeviceError, choose_device

    try:
        image = read_image(args.image)
        if args.output:
            from cli.common import refuse_same_file

            refuse_same_file([p for p in (args.image, args.weights) if p], args.output)
    except (UserError, ValueError) as exc:
        return fail(exc)
    try:
        model = load_model(args.model, weights=args.weights, untrained=args.untrained)
    except (UserError, FileNotFoundError) as exc:
        return fail(exc)
    try:
        device = choose_device(None)
    except DeviceError as exc:
        return fail(exc)
    module = model.module.to(device).eval()
    spec = model.spec
    transforms = model.input_transforms()
    report: dict = {"model": spec.name, "weights": model.weights_label, "trained": model.trained}
    text: list[str] = [f"{spec.title} — weights: {model.weights_label}"]

    try:
        if args.layer:
            find_layer(module, args.layer, spec.name)
        if args.summary:
            width, height = transforms.size
            table = build_layer_table(module, (transforms.channels, height, width), spec.name)
            report.update(table.as_dict())
            text.append(table.format_text())
        module.requires_grad_(False)  # saliency differentiates w.r.t. the image only

        x, _ = to_input(image, transforms, device=device)
        explaining = args.saliency or args.smoothgrad or args.gradcam is not None
        tap = LayerTap(module, args.layer, spec.name) if args.layer and not explaining else None
        with torch.no_grad():
            output = module(x)
        try:
            scores = class_scores(output)[0]
        except NotAClassifierError:
            scores = None
        if tap is not None:
            activation = tap.output
            tap.close()
            summary = top_channels(activation, args.channels)
            grid = activation_grid(summary.maps, args.colormap, args.norm)
            _write(args.output, grid, cv2)
            shape = "x".join(str(s) for s in summary.shape)
            report["grid"] = {"layer": args.layer, "file": args.output, "layer_shape": list(summary.shape), "channels": summary.channels.tolist(), "means": [round(float(m), 6) for m in summary.means]}
            text.append(f"wrote the {len(summary.channels)} strongest channels of {args.layer} ({shape}) to {args.output}")

        if explaining:
            if scores is None:
                return fail(f"{spec.name} has no class scores to explain: saliency and Grad-CAM need a classifier")
            num_classes = scores.shape[0]
            if args.gradcam is not None:
                target = resolve_class(args.gradcam, spec.categories, num_classes)
                layer = args.layer or last_conv_layer(module)
                heat, _ = grad_cam(module, x, target, layer, spec.name)
                kind = f"Grad-CAM at {layer}"
            else:
                target = resolve_class(args.target, spec.categories, num_classes) if args.target is not None else int(scores.argmax())
                heat = smooth_grad(module, x, target) if args.smoothgrad else vanilla_gradient(module, x, target)
                kind = "SmoothGrad" if args.smoothgrad else "vanilla gradient saliency"
            overlay = heat_overlay(image, heat.cpu().numpy(), args.alpha, "jet")
            _write(args.output, overlay, cv2)
            name = spec.categories[target] if target < len(spec.categories) else str(target)
            report["explanation"] = {"method": kind, "class": target, "class_name": name, "file": args.output}
            text.append(f"wrote {kind} of class {target} ({name}) over the image to {args.output}")
    except (UnknownLayerError, ValueError, OSError) as exc:
        return fail(exc)

    if scores is not None and args.topk:
        predictions = top_k(scores, spec.categories, args.topk)
        report["predictions"] = [{"index": p.index, "name": p.name, "probability": round(p.probability, 6)} for p in predictions]
        caveat = " (untrained weights: these are guesses)" if not model.trained else ""
        text.append(f"top {len(predictions)}{caveat}:")
        text.extend(f"  {i + 1}. {p.name or p.index} ({p.index})  {100 * p.probability:.1f} %" for i, p in enumerate(predictions))

    if args.json:
        print_json(report, indent=2)
    else:
        print("\n".join(text))
    return 0


def _write(path: str, image, cv2=None) -> None:
    from engine.features.inspect.image_io import write_image

    try:
        write_image(path, image)
    except ValueError as exc:
        raise OSError(str(exc)) from None


def _top_patches(args: argparse.Namespace) -> int:
    """inspect FOLDER --top-patches LAYER: collect, then print records and/or save the grid."""
    from cli.progress import ProgressBar
    from engine.core.errors import UserError
    from engine.features.inspect.layer_table import UnknownLayerError
    from engine.features.inspect.top_patches import collect_folder
    from engine.features.inspect.zoo import load_model
    from engine.runtime.device import choose_device

    folder = Path(args.image)
    if not folder.is_dir():
        return fail(f"'{folder}' is not a folder: --top-patches reads every image of a folder")
    if args.output:
        from engine.core.safe_files import refuse_same_file
        from engine.features.inspect.top_patches import IMAGE_SUFFIXES

        try:
            refuse_same_file([p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES], args.output)
        except ValueError as exc:
            return fail(exc)
    try:
        model = load_model(args.model, weights=args.weights, untrained=args.untrained)
        device = choose_device(None)
    except (UserError, FileNotFoundError) as exc:
        return fail(exc)
    bar = ProgressBar(f"top patches of {args.top_patches}")
    try:
        job = collect_folder(model, args.top_patches, folder, k=args.k, device=device)
        while True:
            done, total, name = next(job)
            bar.update(done, total, name)
    except StopIteration as stop:
        collection = stop.value
    except (UnknownLayerError, ValueError, FileNotFoundError) as exc:  # UnknownLayerError prints without KeyError's quotes
        return fail(exc)
    bar.close()
    if args.output:
        try:
            _write(args.output, collection.grid_image())
        except OSError as exc:
            return fail(exc)
    if args.json:
        for record in collection.as_records():
            print_json(record)
    else:
        print(f"{model.spec.title} — weights: {model.weights_label}")
        print(f"{args.top_patches}: {collection.channels} channels, {collection.images_seen} images")
        for record in collection.as_records():
            best = record["patches"][0] if record["patches"] else None
            where = f"best {best['activation']:.3f} in {best['source']} at {best['box']}" if best else "no patches"
            print(f"  channel {record['channel']}: {where}")
        if args.output:
            print(f"wrote the unit grid to {args.output}")
    return 0
