"""The cost terms of neural style transfer, with the normalisations of the course.

For activations ``a`` of one layer with n_C channels and n_H x n_W positions:

    Gram matrix      G = A A^T, A the (n_C, n_H * n_W) unrolled activations
    content cost     J_content = sum((a_C - a_G)^2) / (4 n_H n_W n_C)
    layer style cost J_style^l = sum((G_S - G_G)^2) / (4 n_C^2 (n_H n_W)^2)
    style cost       J_style   = sum_l lambda_l J_style^l
    total            J = alpha J_content + beta J_style + tv_weight J_tv

Grams are kept divided by n_H n_W (``normalised``) inside the optimiser: the cost is
then sum((g_S - g_G)^2) / (4 n_C^2), the same number, but it stays well inside float32
range at 2048 px and a style image of another size gives a comparable Gram.
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


def gram_matrix(features: torch.Tensor, normalised: bool = False) -> torch.Tensor:
    """Gram matrix of activations.

    features: (C, H, W) or (B, C, H, W). Returns (C, C) or (B, C, C): G[i, j] is the sum
    over positions of channel i times channel j; divided by H*W when ``normalised``.
    """
    squeeze = features.dim() == 3
    if squeeze:
        features = features.unsqueeze(0)
    if features.dim() != 4:
        raise ValueError(f"gram_matrix expects (C, H, W) or (B, C, H, W), got shape {tuple(features.shape)}")
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    gram = torch.bmm(flat, flat.transpose(1, 2))
    if normalised:
        gram = gram / float(h * w)
    return gram[0] if squeeze else gram


def content_cost(a_content: torch.Tensor, a_generated: torch.Tensor) -> torch.Tensor:
    """J_content = sum((a_C - a_G)^2) / (4 n_H n_W n_C); inputs (C, H, W) or (1, C, H, W)."""
    if a_content.shape != a_generated.shape:
        raise ValueError(f"content activations differ in shape: {tuple(a_content.shape)} vs {tuple(a_generated.shape)}")
    c, h, w = a_generated.shape[-3:]
    return (a_content - a_generated).pow(2).sum() / (4.0 * c * h * w)


def layer_style_cost_from_grams(gram_style: torch.Tensor, gram_generated: torch.Tensor, channels: int) -> torch.Tensor:
    """Style cost of one layer from *normalised* Grams: sum((g_S - g_G)^2) / (4 n_C^2)."""
    return (gram_style - gram_generated).pow(2).sum() / (4.0 * channels * channels)


def layer_style_cost(a_style: torch.Tensor, a_generated: torch.Tensor) -> torch.Tensor:
    """J_style^l = sum((G_S - G_G)^2) / (4 n_C^2 (n_H n_W)^2) for (C, H, W) activations of equal size."""
    if a_style.shape != a_generated.shape:
        raise ValueError(f"style activations differ in shape: {tuple(a_style.shape)} vs {tuple(a_generated.shape)}")
    c = a_generated.shape[-3]
    return layer_style_cost_from_grams(gram_matrix(a_style, True), gram_matrix(a_generated, True), c)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels, vertical plus horizontal.

    image: (B, C, H, W). A mean (not a sum) so the weight means the same at any size.
    """
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()


def total_cost(j_content: torch.Tensor, j_style: torch.Tensor, j_tv: torch.Tensor, alpha: float, beta: float, tv_weight: float) -> torch.Tensor:
    """J = alpha J_content + beta J_style + tv_weight J_tv."""
    return alpha * j_content + beta * j_style + tv_weight * j_tv
