"""The Gram matrix and the three costs against values worked out by hand."""

from __future__ import annotations

import pytest
import torch

from engine.features.style.costs import content_cost, gram_matrix, layer_style_cost, total_cost, total_variation

# One layer, n_C = 2 channels, n_H = 1, n_W = 2.
A_C = torch.tensor([[[1.0, 2.0]], [[3.0, 0.0]]])  # channel 0: 1 2, channel 1: 3 0
A_G = torch.tensor([[[0.0, 2.0]], [[1.0, 1.0]]])


def test_gram_matrix_by_hand() -> None:
    # A = [[1, 2], [3, 0]] -> A A^T = [[1+4, 3+0], [3+0, 9+0]]
    assert gram_matrix(A_C).tolist() == [[5.0, 3.0], [3.0, 9.0]]
    # normalised divides by n_H n_W = 2
    assert gram_matrix(A_C, normalised=True).tolist() == [[2.5, 1.5], [1.5, 4.5]]
    # batched input gives one Gram per item
    batch = torch.stack([A_C, A_G])
    assert gram_matrix(batch).shape == (2, 2, 2)
    assert gram_matrix(batch)[1].tolist() == [[4.0, 2.0], [2.0, 2.0]]


def test_content_cost_by_hand() -> None:
    # differences 1 0 / 2 -1 -> squares sum to 6; 6 / (4 * 1 * 2 * 2) = 0.375
    assert content_cost(A_C, A_G).item() == pytest.approx(0.375)
    assert content_cost(A_C, A_C).item() == 0.0
    with pytest.raises(ValueError, match="shape"):
        content_cost(A_C, A_G[:, :, :1])


def test_layer_style_cost_by_hand() -> None:
    # G_S = [[5, 3], [3, 9]], G_G = [[4, 2], [2, 2]]: differences 1 1 1 7 -> 52
    # 52 / (4 * n_C^2 * (n_H n_W)^2) = 52 / (4 * 4 * 4) = 0.8125
    assert layer_style_cost(A_C, A_G).item() == pytest.approx(0.8125)
    assert layer_style_cost(A_G, A_G).item() == 0.0


def test_style_cost_ignores_where_texture_is() -> None:
    # Swapping the two positions changes the content cost but not the Gram matrix.
    shuffled = A_C.flip(-1)
    assert content_cost(A_C, shuffled).item() > 0
    assert layer_style_cost(A_C, shuffled).item() == pytest.approx(0.0)


def test_total_variation_by_hand() -> None:
    image = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])
    # vertical: (2-0)^2, (4-1)^2 -> mean 6.5; horizontal: (1-0)^2, (4-2)^2 -> mean 2.5
    assert total_variation(image).item() == pytest.approx(9.0)
    assert total_variation(torch.ones(1, 3, 5, 5)).item() == 0.0


def test_total_cost_weights_each_term() -> None:
    j = total_cost(torch.tensor(2.0), torch.tensor(3.0), torch.tensor(5.0), alpha=10, beta=40, tv_weight=0.5)
    assert j.item() == pytest.approx(10 * 2 + 40 * 3 + 0.5 * 5)
