"""The depth teacher's input has no silent fallback, and its losses skip depthless crops."""

from __future__ import annotations

import math

import torch

from privpose_ros.train.posenet_losses import privileged_loss
from privpose_ros.train.teacher import depth_crop_to_input, residual_depth_input


def _k(n: int, f: float = 200.0) -> torch.Tensor:
    k = torch.eye(3).repeat(n, 1, 1)
    k[:, 0, 0] = k[:, 1, 1] = f
    return k


def test_no_reading_in_the_mask_is_no_depth_not_a_fallback() -> None:
    depth = torch.zeros(3, 1, 8, 8)
    mask = torch.zeros(3, 8, 8, dtype=torch.bool)
    mask[:, 2:6, 2:6] = True
    depth[0, 0, 2:6, 2:6] = 3.0  # the person has depth
    depth[0, 0, 0] = 5.0  # the wall behind
    depth[1, 0, 0] = 5.0  # only the wall: the person is beyond the range
    # crop 2: no reading at all
    inp, zeta, has = depth_crop_to_input(depth, _k(3), mask)
    assert has.tolist() == [True, False, False]
    assert math.isclose(float(zeta[0]), 3.0 * 8 / 200.0, rel_tol=1e-6)
    assert torch.isnan(zeta[1:]).all()  # not the wall's median, not 1 m
    assert torch.count_nonzero(inp[1:]) == 0  # an empty input, left out of the losses


def test_privileged_loss_skips_depthless_crops() -> None:
    torch.manual_seed(0)
    hall = torch.randn(4, 3, 5, 5, requires_grad=True)
    depth_feats = torch.randn(4, 3, 5, 5)
    has = torch.tensor([True, False, True, False])
    loss = privileged_loss(hall, depth_feats, has)
    subset = privileged_loss(hall[has], depth_feats[has])
    assert torch.allclose(loss, subset)
    loss.backward()
    assert hall.grad is not None
    assert hall.grad[~has].abs().sum() == 0 and hall.grad[has].abs().sum() > 0
    none = privileged_loss(hall, depth_feats, torch.zeros(4, dtype=torch.bool))
    assert float(none.detach()) == 0.0


def test_residual_teacher_input_is_relative_to_the_front_end_root() -> None:
    depth = torch.zeros(3, 1, 8, 8)
    mask = torch.zeros(3, 8, 8, dtype=torch.bool)
    mask[:, 2:6, 2:6] = True
    depth[0, 0, 2:6, 2:6] = 3.3  # the front end says 3.0 m: the surface shows its 10 % error
    depth[1, 0, 2:3, 2:6] = 3.0  # 4 of 16 mask pixels read: 25 %
    depth[2, 0, 0] = 4.0  # nothing in the mask
    inp, has, frac = residual_depth_input(depth, mask, torch.tensor([3.0, 3.0, 3.0]), 0.3)
    assert has.tolist() == [True, False, False]
    assert torch.allclose(frac, torch.tensor([1.0, 0.25, 0.0]))
    assert torch.allclose(inp[0, 0, 3, 3], torch.tensor(0.1), atol=1e-6)
    assert inp[0, 0, 0, 0] == 0 and inp[0, 1, 0, 0] == 0 and inp[0, 2, 3, 3] == 1
