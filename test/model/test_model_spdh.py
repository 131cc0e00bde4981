"""SPDH primitives of the v2 model: the grid's checks, intrinsics scaling, sub-pixel peaks and
the soft-argmax."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.model.posenet.spdh import SPDHConfig, refine_peak, scale_intrinsics, soft_argmax


def test_peaks_on_the_map_border_are_refined_along_the_other_axis() -> None:
    yy, xx = torch.meshgrid(torch.arange(20.0), torch.arange(30.0), indexing="ij")
    h = torch.exp(-((xx - 29.2) ** 2 + (yy - 7.6) ** 2) / (2 * 1.5**2))
    x, y, _ = refine_peak(h[None, None])
    assert float(x) == 29.0  # no right-hand neighbour: the column stays at the arg-max
    assert float(y) == pytest.approx(7.6, abs=1e-4)


def test_refine_peak_recovers_an_off_grid_gaussian() -> None:
    yy, xx = torch.meshgrid(torch.arange(20.0), torch.arange(30.0), indexing="ij")
    h = torch.exp(-((xx - 12.3) ** 2 / (2 * 1.7**2) + (yy - 7.8) ** 2 / (2 * 2.2**2)))
    x, y, peak = refine_peak(h[None, None])
    assert float(x) == pytest.approx(12.3, abs=1e-4)
    assert float(y) == pytest.approx(7.8, abs=1e-4)
    assert float(peak) == pytest.approx(float(h.max()))


def test_scale_intrinsics_matches_camera_intrinsics_scaled() -> None:
    intr = CameraIntrinsics(285.7, 280.0, 160.0, 120.0, 320, 240)
    got = scale_intrinsics(torch.tensor(intr.k)[None], (240, 320), (48, 64))[0].numpy()
    np.testing.assert_allclose(got, intr.scaled(0.2, 0.2).k, atol=1e-9)


def test_soft_argmax_finds_a_sharp_peak_and_passes_gradients() -> None:
    maps = torch.zeros(1, 2, 20, 30, requires_grad=True)
    with torch.no_grad():
        maps[0, 0, 7, 12] = 5.0
        maps[0, 1, 15, 3] = 5.0
    x, y = soft_argmax(maps, beta=20.0)
    assert torch.allclose(x, torch.tensor([[12.0, 3.0]]), atol=1e-6)
    assert torch.allclose(y, torch.tensor([[7.0, 15.0]]), atol=1e-6)
    (x.sum() + y.sum()).backward()
    assert maps.grad is not None and float(maps.grad.abs().sum()) > 0.0


def test_the_grid_rejects_sizes_it_cannot_decode() -> None:
    assert SPDHConfig(heatmap_hw=[32, 32]).heatmap_hw == (32, 32)
    with pytest.raises(PrivposeInputError, match="heatmap_hw"):
        SPDHConfig(heatmap_hw=(2, 64))
    with pytest.raises(PrivposeInputError, match="n_bins"):
        SPDHConfig(n_bins=2)
