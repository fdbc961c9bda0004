"""Reference D-FINE models for the tests: transformers' ``DFineForObjectDetection`` built
from small-but-real configs (every part present: HGNetV2 with light blocks and learnable
affine blocks, AIFI, FPN/PAN with RepNCSPELAN4, FDR decoder, LQE), with seeded random
weights in place of the initialisation (which zeroes the sampling offsets, gates, LQE and
box heads and would leave those paths untested), saved with ``save_pretrained``: the
layout of the released files."""

from __future__ import annotations

from pathlib import Path

import torch

# HGNetV2 "B0"-shaped, narrow; out_stages give D-FINE S's three levels or N's two.
_TINY_BACKBONE = dict(stem_channels=[3, 8, 8], stage_in_channels=[8, 16, 32, 64], stage_mid_channels=[8, 8, 16, 16],
                      stage_out_channels=[16, 32, 64, 128], stage_num_blocks=[1, 1, 2, 1],
                      stage_light_block=[False, False, True, True], stage_kernel_size=[3, 3, 5, 5],
                      stage_numb_of_layers=[2, 2, 2, 2], use_learnable_affine_block=True,
                      hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 2, 1])

TINY = {
    # S-like: three levels, one AIFI on the coarsest, points per level given as a list
    "three_levels": dict(backbone=dict(out_indices=[2, 3, 4]), encoder_in_channels=[32, 64, 128],
                         feat_strides=[8, 16, 32], encode_proj_layers=[2], decoder_in_channels=[32, 32, 32],
                         num_feature_levels=3, decoder_n_points=[3, 3, 3]),
    # N-like: two backbone levels, a third decoder level made by a stride-2 conv (d_model !=
    # decoder_in_channels, so the projections are convs), points as one int, pre-norm AIFI.
    # (eval_idx other than -1 is not tested: transformers' own forward fails on it.)
    "two_levels": dict(backbone=dict(out_indices=[3, 4]), encoder_in_channels=[64, 128], feat_strides=[16, 32],
                       encode_proj_layers=[1], decoder_in_channels=[32, 32], num_feature_levels=3,
                       decoder_n_points=2, d_model=48, normalize_before=True),
}


def tiny_config(kind: str, num_labels: int = 5):
    from transformers import DFineConfig, HGNetV2Config

    opts = dict(TINY[kind])
    backbone = HGNetV2Config(**{**_TINY_BACKBONE, **opts.pop("backbone")})
    base = dict(encoder_hidden_dim=32, encoder_ffn_dim=64, encoder_attention_heads=2, hidden_expansion=0.5,
                depth_mult=0.34, d_model=32, decoder_ffn_dim=64, decoder_attention_heads=2, decoder_layers=3,
                num_queries=40, max_num_bins=8, lqe_hidden_dim=8, top_prob_values=2)
    return DFineConfig(backbone_config=backbone, num_labels=num_labels,
                       id2label={i: f"thing{i}" for i in range(num_labels)}, **{**base, **opts})


def nano_config():
    """D-FINE N as released (HGNetV2-B0, two levels, hidden 128, 3 decoder layers, 6 points)."""
    from transformers import DFineConfig, HGNetV2Config

    backbone = HGNetV2Config(stem_channels=[3, 16, 16], stage_in_channels=[16, 64, 256, 512],
                             stage_mid_channels=[16, 32, 64, 128], stage_out_channels=[64, 256, 512, 1024],
                             stage_num_blocks=[1, 1, 2, 1], stage_light_block=[False, False, True, True],
                             stage_kernel_size=[3, 3, 5, 5], stage_numb_of_layers=[3, 3, 3, 3],
                             use_learnable_affine_block=True, hidden_sizes=[64, 256, 512, 1024],
                             depths=[1, 1, 2, 1], out_indices=[3, 4])
    return DFineConfig(backbone_config=backbone, num_labels=80, encoder_in_channels=[512, 1024],
                       feat_strides=[16, 32], encoder_hidden_dim=128, encoder_ffn_dim=512, encode_proj_layers=[1],
                       hidden_expansion=0.34, depth_mult=0.5, d_model=128, decoder_in_channels=[128, 128],
                       decoder_ffn_dim=512, num_feature_levels=2, decoder_n_points=[6, 6], decoder_layers=3)


def randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Seeded random weights: N(0, 0.1) (norm scales around 1, BN variances in 0.5..1.5),
    the fixed FDR constants (reg_scale, up) kept."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("reg_scale", ".up")):
                continue
            noise = torch.randn(p.shape, generator=gen) * 0.1
            is_scale = ("norm" in name or "normalization" in name) and name.endswith("weight")
            p.copy_(noise + (1.0 if is_scale else 0.0))
        for name, b in model.named_buffers():
            if name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=gen) + 0.5)
            elif name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=gen) * 0.1)
    return model.eval()


def save_reference(config, folder: Path, seed: int = 0):
    """The randomised reference model, saved to ``folder``; returns the model (eval)."""
    from transformers import DFineForObjectDetection

    model = randomise(DFineForObjectDetection(config), seed)
    model.save_pretrained(folder)
    return model
