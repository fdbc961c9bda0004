"""Backbones for transfer learning: ImageNet networks cut at their pooled features.

Every backbone is a torchvision architecture built without downloading anything
(``weights=None``); its ImageNet weights come from the weights cache when installed
(``torch.load(..., weights_only=True)``), otherwise the caller may ask for an
*untrained* backbone: random initial weights drawn from a fixed seed, so the same
untrained backbone gives the same embeddings every time. It still works, only worse.

A built backbone is a :class:`FeatureNet`: a list of named blocks (the strip the Teach
tab draws, and what "fine-tune the last k blocks" counts) followed by global average
pooling. Input: float32 (N, 3, S, S), RGB, already normalised with the ImageNet mean and
std; output: float32 (N, D) embeddings, D = ``BackboneSpec.feature_dim``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.features.teach.backbone_specs import BackboneSpec, backbone_spec
from engine.models.cache import WeightsMissingError

log = logging.getLogger(__name__)

UNTRAINED_SEED = 0


class BackboneWeightsMissingError(WeightsMissingError):
    """The ImageNet weights of a backbone are not installed; the message offers both ways out."""

    def __init__(self, what: str, todo: str, *, backbone: str, catalog_name: str) -> None:
        super().__init__(what, todo, model=catalog_name)
        self.backbone = backbone
        self.catalog_name = catalog_name


class FeatureNet(nn.Module):
    """Named blocks, then global average pooling: (N, 3, S, S) -> (N, D).

    ``all_block_names`` lists every block of the architecture; ``blocks`` are the first
    ``len(blocks)`` of them (all, unless the backbone is cut early).
    """

    def __init__(self, blocks: list[tuple[str, nn.Module]], keep: int | None = None) -> None:
        super().__init__()
        self.all_block_names = [name for name, _ in blocks]
        kept = blocks[:keep] if keep is not None else blocks
        self.block_names = [name for name, _ in kept]
        self.blocks = nn.ModuleList([module for _, module in kept])

    @torch.no_grad()
    def output_dim(self) -> int:
        """Length of the embedding (measured with one small dummy input)."""
        param = next(self.parameters())
        was_training = self.training
        self.eval()
        dim = int(self(torch.zeros(1, 3, 64, 64, device=param.device, dtype=param.dtype)).shape[1])
        self.train(was_training)
        return dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


def _blocks_of(arch: str, model: nn.Module) -> list[tuple[str, nn.Module]]:
    # The cut is the last convolutional stage before the classifier: its pooled output is
    # the embedding. Torchvision's own classifier layers are dropped.
    if arch.startswith("resnet"):
        stem = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool)
        return [("stem", stem)] + [(f"layer{i}", getattr(model, f"layer{i}")) for i in range(1, 5)]
    return [(f"features.{i}", block) for i, block in enumerate(model.features)]


def _torchvision_model(arch: str) -> nn.Module:
    import torchvision.models as tvm

    return tvm.get_model_builder(arch)(weights=None)


def build_torchvision(arch: str, entry: Any, cache: Any, device: Any = None) -> nn.Module:
    """The torchvision ``arch`` with the ImageNet weights of ``entry`` from ``cache`` (CPU, eval).

    The single place that loads a Teach backbone's published weights; the catalog
    entry's builder calls it too. Raises WeightsMissingError when not installed and
    WeightsMismatchError when the file is not this architecture's.
    """
    from engine.models.weights_io import read_fitting_state

    if cache is None:
        from engine.models.cache import default_cache

        cache = default_cache()
    path = cache.require(entry)
    model = _torchvision_model(arch)
    model.load_state_dict(read_fitting_state(path, model, model_name=arch, source=str(path)), strict=False)
    model.eval()
    if device is not None:
        model.to(device)
    return model


@dataclass
class Backbone:
    """A built backbone: the feature network and what it carries.

    trained: False for random initial weights (``weights_label`` then says so).
    weights_key: identifies the weights, so cached embeddings of other weights are never mixed in.
    """

    spec: BackboneSpec
    net: FeatureNet
    trained: bool
    weights_label: str
    weights_key: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def feature_dim(self) -> int:
        return self.net.output_dim()

    @property
    def cache_key(self) -> str:
        """File-name safe key for the embedding cache: backbone name + weights identity."""
        return f"{self.spec.name}-{self.weights_key}"

    def block_params(self) -> list[tuple[str, int]]:
        """(block name, parameter count) in order, input side first."""
        return [(name, sum(p.numel() for p in block.parameters()))
                for name, block in zip(self.net.block_names, self.net.blocks)]


def _calibrate_batchnorm(model: nn.Module, transforms: Any, count: int = 16) -> None:
    """Set BatchNorm statistics from seeded smooth noise images.

    With fresh BatchNorm statistics (mean 0, variance 1) the activations of a random
    MobileNet or EfficientNet shrink by orders of magnitude per block and the embedding
    ends up ~1e-9, useless even for a linear head. One pass over noise in training mode
    (cumulative averages) rescales every layer to unit variance: still random weights,
    but embeddings that keep the input's colour and texture apart.
    """
    coarse = torch.rand(count, 3, 14, 14)
    images = nn.functional.interpolate(coarse, size=(224, 224), mode="bilinear", align_corners=False)
    images = images + 0.1 * torch.randn_like(images)
    mean = torch.tensor(transforms.mean).view(1, 3, 1, 1)  # the noise is in [0, 1]: the weights' scale
    std = torch.tensor(transforms.std).view(1, 3, 1, 1)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration pass
    model.train()
    with torch.no_grad():
        model((images - mean) / std)
    model.eval()


def untrained_label(spec: BackboneSpec) -> str:
    return (f"{spec.title}, untrained (random weights, seed {UNTRAINED_SEED}; features from block "
            f"{spec.untrained_blocks}): it works, but far worse than with ImageNet weights")


def weights_installed(name: str, cache: Any = None) -> bool:
    from engine.models.catalog import catalog

    if cache is None:
        from engine.models.cache import default_cache

        cache = default_cache()
    return cache.is_installed(catalog().get(backbone_spec(name).catalog_name))


def load_backbone(name: str, *, untrained: bool = False, cache: Any = None) -> Backbone:
    """Build backbone ``name`` on the CPU in eval mode.

    untrained: random weights from ``UNTRAINED_SEED`` (reproducible). Otherwise the
    ImageNet weights must be installed; ``BackboneWeightsMissingError`` says how to get
    them or how to continue untrained.
    """
    from engine.models.catalog import catalog

    spec = backbone_spec(name)
    if untrained:
        # A private RNG stream: building the backbone must not disturb the caller's seed.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(UNTRAINED_SEED)
            model = _torchvision_model(spec.arch)
            _calibrate_batchnorm(model, catalog().get(spec.catalog_name).transforms)
        model.eval()
        net = FeatureNet(_blocks_of(spec.arch, model), keep=spec.untrained_blocks).eval()
        # The key names everything that shapes the embedding, so a cache of another recipe is never reused.
        return Backbone(spec, net, False, untrained_label(spec), f"untrained{UNTRAINED_SEED}-bn1-b{spec.untrained_blocks}")
    entry = catalog().get(spec.catalog_name)
    if cache is None:
        from engine.models.cache import default_cache

        cache = default_cache()
    if not cache.is_installed(entry):
        raise BackboneWeightsMissingError(
            f"the ImageNet weights of {spec.title} are not installed",
            f"download them with `python main.py models fetch {entry.name}` (or the model manager), or continue "
            "untrained (--untrained; random weights give much worse accuracy)", backbone=spec.name, catalog_name=entry.name)
    # Entries of other features may build wrapper objects, so the raw torchvision module is built here.
    model = build_torchvision(spec.arch, entry, cache)
    path = cache.path(entry)
    digest = hashlib.sha256(f"{path.name}:{path.stat().st_size}".encode()).hexdigest()[:10]
    return Backbone(spec, FeatureNet(_blocks_of(spec.arch, model)).eval(), True, f"{spec.title}, ImageNet weights ({entry.title})",
                    f"imagenet{digest}")
