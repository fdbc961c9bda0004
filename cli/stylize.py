"""`stylize`: paint a photo, a folder of photos or a video in a style; train your own fast style.

    python main.py stylize CONTENT STYLE [STYLE...] -o OUT [--method gatys|adain|palette]
        [--size 512] [--steps 300] [--optimizer lbfgs|adam] [--content-weight W]
        [--style-weight W] [--tv-weight W] [--preserve-color [luminance|histogram]]
        [--alpha A] [--seed N] [--style-weights 1,1] [--style-scale S] [--init content|noise]
    python main.py stylize CONTENT -o OUT --method fast --model fast-candy|my-style|FILE.pth
    python main.py stylize train STYLE CONTENT_FOLDER -o mystyle.pth [--steps 2000] [--size 256]
        [--batch 2] [--lr 0.001] [--content-weight 1e5] [--style-weight 1e10] [--install TITLE]

CONTENT is an image (OUT: an image file; .png carries the settings in its metadata), a
folder (OUT: a folder, one PNG per image) or a video (OUT: .mp4 or .avi). Progress goes
to stderr; the final losses of each image (Gatys) are printed on stdout. ``train`` (as the
first word) trains a fast style network on the photos of CONTENT_FOLDER with the
perceptual loss (needs the vgg16 weights), says how long it will take before it starts,
and writes OUT only when training finished (Ctrl-C leaves no file).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from cli.common import fail, number, number_list, seed_value

log = logging.getLogger(__name__)


def _weights(text: str) -> list[float]:
    values = number_list(0)(text)
    if sum(values) <= 0:
        raise argparse.ArgumentTypeError(f"'{text}': the weights are all 0; give at least one above 0 (e.g. 2,1)")
    return values


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "stylize", help="neural style transfer of an image, a folder or a video",
        description="Paint CONTENT in the style of STYLE images: Gatys optimisation (best quality, "
                    "needs the vgg19 weights) or AdaIN (fast, needs adain-vgg and adain-decoder).")
    parser.add_argument("content", metavar="CONTENT", help="an image, a folder of images or a video file")
    parser.add_argument("styles", metavar="STYLE", nargs="*", help="style image(s); several are blended (not for --method fast)")
    parser.add_argument("-o", "--output", metavar="OUT", required=True, help="output image / folder / video (.mp4, .avi)")
    parser.add_argument("--method", choices=["gatys", "adain", "fast", "palette"], default="gatys", help="default gatys")
    parser.add_argument("--model", metavar="NAME|FILE", help="fast: a catalog model (fast-candy, fast-mosaic, fast-rain-princess, "
                        "fast-udnie, one of yours) or a .pth in the TransformerNet layout")
    parser.add_argument("--size", type=number(16, 8192, integer=True), default=None, help="long side of the output in pixels (default 512; train: crop size, default 256)")
    parser.add_argument("--steps", type=number(1, 1_000_000, integer=True), default=None, help="Gatys: evaluations of the loss (default 300); train: optimiser steps (default 2000)")
    parser.add_argument("--batch", type=number(1, 64, integer=True), default=2, help="train: crops per step (default 2)")
    parser.add_argument("--lr", type=number(0, 1, low_open=True), default=1e-3, help="train: Adam learning rate (default 0.001)")
    parser.add_argument("--install", metavar="TITLE", help="train: also install the result as your own style called TITLE")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: $CNN_STUDIO_DEVICE or the best available)")
    parser.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs", help="Gatys optimiser (default lbfgs)")
    parser.add_argument("--content-weight", type=number(0), default=None, metavar="W", help="alpha (default 1)")
    parser.add_argument("--style-weight", type=number(0), default=None, metavar="W", help="beta (default 1000)")
    parser.add_argument("--tv-weight", type=number(0), default=None, metavar="W", help="total-variation weight (default 1)")
    parser.add_argument("--preserve-color", nargs="?", const="luminance", choices=["luminance", "histogram"], default=None,
                        help="keep the content's colours: luminance-only transfer (default) or histogram matching of the style")
    parser.add_argument("--alpha", type=number(0, 1), default=1.0, help="style amount 0..1 (AdaIN trade-off; Gatys: scales the style weight)")
    parser.add_argument("--seed", type=seed_value, default=0, help="random seed (noise start, reproducibility; 0 to 2^32-1)")
    parser.add_argument("--style-weights", type=_weights, metavar="W1,W2", help="blend weights of the STYLE images (default equal)")
    parser.add_argument("--style-scale", type=number(0.05, 8), default=1.0, help="Gatys: style image size relative to the output (>1: bigger strokes)")
    parser.add_argument("--init", choices=["content", "noise"], default="content", help="Gatys: start image (default content)")
    parser.add_argument("--low-memory", action="store_true", help="Gatys: recompute activations instead of storing them (large outputs; slower)")
    parser.add_argument("--levels", type=number(0, 5, integer=True), default=0, help="Gatys: coarse-to-fine levels (0 = automatic)")
    parser.add_argument("--content-layer", default=None, metavar="LAYER", help="Gatys content layer (default conv4_2)")
    parser.add_argument("--style-layers", default=None, metavar="L1,L2", help="Gatys style layers, equal weights (default conv1_1..conv5_1)")
    parser.set_defaults(func=run)


# VGG-19 pools four times before conv5_1: a side shorter than 16 px vanishes on the way.
MIN_SHORT_SIDE = 16


def _check_proportions(image, long_side: int, label: str) -> None:
    """ValueError when ``image`` resized to ``long_side`` would be too thin for the network
    (a 2000x16 panorama at --size 512 is 512x4)."""
    h, w = image.shape[:2]
    short = min(h, w) * long_side / max(h, w)
    if short < MIN_SHORT_SIDE:
        size = (long_side, round(short)) if w >= h else (round(short), long_side)
        raise ValueError(f"{label}: {w}x{h} becomes {size[0]}x{size[1]} at {long_side} px on the long side; the network "
                         f"needs at least {MIN_SHORT_SIDE} px on the short side: crop it or use a larger --size")


def _coarsest_side(args: argparse.Namespace, settings) -> int:
    """Long side in pixels of the smallest picture the network sees: Gatys' first level, else
    the output size (``settings.size``: --size or its default, never None)."""
    return settings.level_sides()[0] if args.method == "gatys" else settings.size


def _settings(args: argparse.Namespace):
    from engine.features.style.gatys import GatysSettings

    values = dict(size=args.size or 512, steps=args.steps or 300, optimizer=args.optimizer, seed=args.seed, init=args.init,
                  preserve_color=args.preserve_color or "none", style_scale=args.style_scale,
                  style_strength=args.alpha, levels=args.levels, low_memory=args.low_memory)
    for key in ("content_weight", "style_weight", "tv_weight", "content_layer"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    if args.style_layers:
        names = [n.strip() for n in args.style_layers.split(",") if n.strip()]
        values["style_layers"] = tuple((n, 1.0 / len(names)) for n in names)
    return GatysSettings(**values)


def run(args: argparse.Namespace) -> int:
    if args.content == "train" and not Path("train").exists():
        return run_train(args)
    from engine.core.errors import UserError
    from engine.features.style import jobs
    from engine.features.style.imaging import StyleImage, load_input_image, style_size_notice
    from engine.io import classify
    from engine.runtime.device import choose_device

    try:
        settings = _settings(args)
        kind = classify(args.content)
        if kind in ("demo", "camera"):
            raise ValueError(f"{args.content}: stylize needs an image, a folder or a video file (the live camera is in the GUI's Style tab)")
        if args.method == "fast":
            if not args.model:
                raise ValueError("--method fast needs --model NAME (fast-candy, fast-mosaic, fast-rain-princess, fast-udnie, "
                                 "one of yours) or --model FILE.pth")
            if args.styles:
                raise ValueError("--method fast takes no STYLE image: the style is the model (--model)")
        elif not args.styles:
            raise ValueError(f"--method {args.method} needs at least one STYLE image")
        weights = args.style_weights or [1.0] * len(args.styles)
        if len(weights) != len(args.styles):
            raise ValueError(f"--style-weights has {len(weights)} values for {len(args.styles)} style images")
        loaded = [load_input_image(p, "style") for p in args.styles]
        out = Path(args.output)
        if kind == "video" and out.suffix.lower() not in (".mp4", ".avi"):
            raise ValueError(f"{out}: for a video input, OUT must end in .mp4 or .avi")
        if kind == "image" and out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"):
            raise ValueError(f"{out}: OUT must be an image file (.png keeps the settings) for an image input")
        if kind == "folder" and out.suffix:
            raise ValueError(f"{out}: OUT must be a folder for a folder input")
        from cli.common import refuse_same_file

        refuse_same_file([args.content, *args.styles], out)
        coarsest = _coarsest_side(args, settings)
        for path, style in zip(args.styles, loaded):
            scale = args.style_scale if args.method == "gatys" else 1.0
            _check_proportions(style.image, max(1, round(coarsest * scale)), f"style {path}")
        args._coarsest_side = coarsest
        device = choose_device(args.device)
        for style in loaded:
            for note in style.notices:
                print(f"note: {note}", file=sys.stderr)
            if args.method == "gatys":
                warning = style_size_notice(style, round(settings.size * args.style_scale))
                if warning:
                    print(f"warning: {warning}", file=sys.stderr)
        styles = [StyleImage(s.image, w, s.name) for s, w in zip(loaded, weights)]
        prepared = _drive(jobs.prepare(args.method, styles, settings, None, device, args.model), None, notes=False)
    except (UserError, ValueError) as exc:
        return fail(exc)
    try:
        return _process(args, kind, out, prepared, settings)
    except (UserError, OSError, ValueError, MemoryError, FloatingPointError) as exc:
        return fail(exc)


def _drive(gen, label: str | None, notes: bool = True):
    """Run an engine job generator to its end, notes and a progress bar on stderr; returns its result."""
    from cli.progress import ProgressBar

    bar = None
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            if bar is not None:
                bar.close()
            return stop.value
        if getattr(p, "message", ""):
            if notes:
                print(f"note: {p.message}", file=sys.stderr)
            continue
        if label is None:
            continue
        if bar is None:
            bar = ProgressBar(label)
        losses = getattr(p, "losses", {}) or {}
        eta = f" ETA {p.eta_s:.0f} s" if getattr(p, "eta_s", None) is not None else ""
        total = getattr(p, "total_steps", None) or getattr(p, "steps", None)
        level = f"level {p.level}/{p.levels} " if hasattr(p, "level") else ""
        bar.update(p.step, total, f"{level}J={losses.get('total', float('nan')):.4g}{eta}")


def run_train(args: argparse.Namespace) -> int:
    """`stylize train STYLE CONTENT_FOLDER -o OUT.pth`: train a fast style (see the module docstring)."""
    from engine.core.errors import UserError
    from engine.features.style import models
    from engine.features.style.fast_train import TrainSettings, list_images, train_job
    from engine.features.style.imaging import load_input_image
    from engine.models.cache import default_cache
    from engine.runtime.device import choose_device

    try:
        if len(args.styles) != 2:
            raise ValueError("usage: stylize train STYLE CONTENT_FOLDER -o mystyle.pth")
        style_path, folder = args.styles
        out = Path(args.output)
        if out.suffix.lower() not in (".pth", ".pt"):
            raise ValueError(f"{out}: the trained model is a PyTorch state_dict, OUT must end in .pth")
        from engine.core.safe_files import check_output

        check_output(out, [style_path], make_parents=True)  # before the training, not after it
        values = dict(steps=args.steps or 2000, size=args.size or 256, batch=args.batch, lr=args.lr, seed=args.seed)
        if args.content_weight is not None:
            values["content_weight"] = args.content_weight
        if args.style_weight is not None:
            values["style_weight"] = args.style_weight
        settings = TrainSettings(**values)
        style = load_input_image(style_path, "style")
        count = len(list_images(folder))
        vgg = models.load_vgg16()
        device = choose_device(args.device)
    except (UserError, ValueError) as exc:
        return fail(exc)
    print(f"training on {count} content images from {folder}", file=sys.stderr)
    try:
        path, result = _drive(train_job(style.image, folder, out, settings, vgg, device, style_name=style.name), f"train {out.name}")
    except KeyboardInterrupt:
        print("training interrupted; nothing was written", file=sys.stderr)
        return 130
    except (UserError, OSError, FloatingPointError) as exc:
        return fail(exc)
    final = result.history[-1] if result.history else {}
    print(f"{path}: {settings.steps} steps in {result.elapsed_s:.1f}s on {result.device}; final content={final.get('content', 0):.6g} "
          f"style={final.get('style', 0):.6g} total={final.get('total', 0):.6g}")
    if args.install:
        from engine.features.style.user_styles import install_user_style

        try:
            entry = install_user_style(default_cache(), path, args.install, {"style": style.name, "steps": settings.steps})
        except (UserError, ValueError) as exc:
            return fail(exc)
        print(f"installed as '{entry.name}': use it with `stylize CONTENT -o OUT --method fast --model {entry.name}` "
              "or in the Style tab", file=sys.stderr)
    return 0


def _process(args: argparse.Namespace, kind: str, out: Path, prepared, settings) -> int:
    import contextlib

    import cv2

    from cli.common import output_file
    from engine.features.style.imaging import image_input
    from engine.features.style.jobs import stylize_photo
    from engine.features.style.metadata import save_png
    from engine.io import iter_frames
    from engine.io.recorder import VideoRecorder
    from engine.io.video import video_fps

    count = 0
    recorder = None
    if kind == "folder":
        out.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as video:
        for frame in iter_frames(args.content):
            loaded = image_input(frame.image, frame.source)
            _check_proportions(loaded.image, getattr(args, "_coarsest_side", settings.size), frame.source)
            for note in loaded.notices:
                print(f"note: {note}", file=sys.stderr)
            label = frame.source if kind != "video" else f"frame {frame.index + 1}"
            started = time.monotonic()
            image, info = _drive(stylize_photo(prepared, loaded.image, settings, preview_every=0),
                                 f"stylize {label}" if prepared.method == "gatys" else None)
            _report(label, info, image, time.monotonic() - started)
            info["content"] = frame.source
            info["styles"] = [[Path(p).name, w] for p, w in zip(args.styles, args.style_weights or [1.0] * len(args.styles))]
            if kind == "image":
                out.parent.mkdir(parents=True, exist_ok=True)
                with output_file(out) as tmp:  # renamed over OUT only when complete
                    if out.suffix.lower() == ".png":
                        save_png(tmp, image, info)
                    elif not cv2.imwrite(str(tmp), image):
                        raise OSError(f"{out}: could not be written")
            elif kind == "folder":
                with output_file(out / (Path(frame.source).stem + ".png")) as tmp:
                    save_png(tmp, image, info)
            else:
                if recorder is None:
                    # Written under a temporary name, renamed over OUT only when the stack
                    # closes without an error (engine.core.safe_files.atomic_path).
                    recorder = VideoRecorder(video.enter_context(output_file(out)), fps=video_fps(args.content, default=25.0))
                    video.callback(recorder.close)
                recorder.write(image)
            count += 1
        if recorder is not None:
            recorder.close()
            if recorder.error:
                raise OSError(f"{out}: {recorder.error}")
    where = out if kind != "folder" else f"{out}/"
    print(f"wrote {count} {'image' if count == 1 else 'images'} to {where}" if kind != "video" else f"wrote {count} frames to {out}",
          file=sys.stderr)
    return 0


def _report(label: str, info: dict, image, seconds: float) -> None:
    losses = info.get("losses") or {}
    if info.get("method") == "gatys" and losses:
        print(f"{label}: steps={info.get('steps')} time={seconds:.1f}s device={info.get('device')} content={losses['content']:.6g} "
              f"style={losses['style']:.6g} tv={losses['tv']:.6g} total={losses['total']:.6g}")
    else:
        print(f"{label}: {info.get('method')} {image.shape[1]}x{image.shape[0]} in {seconds:.2f}s", file=sys.stderr)
