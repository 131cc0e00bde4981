"""SPDH codec: encode -> decode round trip, geometry of the targets, intrinsics scaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.model.spdh import (
    SPDHCodec,
    SPDHConfig,
    refine_peak,
    scale_intrinsics,
    soft_argmax,
)

K_HM = torch.tensor([[57.0, 0.0, 31.5], [0.0, 57.0, 23.5], [0.0, 0.0, 1.0]])


def _random_joints(n: int, j: int, seed: int) -> torch.Tensor:
    """Joints 0.7-6.7 m away projecting at least 3 heatmap pixels inside the 64x48 grid."""
    g = torch.Generator().manual_seed(seed)
    z = 0.7 + 6.0 * torch.rand(n, j, generator=g)
    u = 3.0 + 57.0 * torch.rand(n, j, generator=g)
    v = 3.0 + 41.0 * torch.rand(n, j, generator=g)
    return torch.stack([(u - 31.5) / 57.0 * z, (v - 23.5) / 57.0 * z, z], -1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_round_trip_error_is_far_below_the_bin_size(dtype: torch.dtype) -> None:
    cfg = SPDHConfig()  # the shipped codec: 48x64 grid, 0.5-6.9 m in 65 bins, sigma 0.15 m
    codec = SPDHCodec(cfg)
    joints = _random_joints(16, 26, seed=3).to(dtype)
    k = K_HM.to(dtype).expand(16, 3, 3)
    uv, uz = codec.encode(joints, k)
    assert uv.shape == (16, 26, 48, 64) and uz.shape == (16, 26, 65, 64)
    dec, px, conf = codec.decode(uv, uz, k)
    err_mm = (dec - joints).norm(dim=-1) * 1e3
    # measured: max 0.8 mm with 100 mm bins; the bound we state is 2 % of a bin
    assert cfg.bin_step_m == pytest.approx(0.1)
    assert float(err_mm.max()) < 0.02 * cfg.bin_step_m * 1e3
    expected_px = joints[..., :2] / joints[..., 2:] * 57.0 + torch.tensor(
        [31.5, 23.5], dtype=dtype
    )
    assert torch.allclose(px, expected_px, atol=1e-3)
    assert float(conf.min()) > 0.75 and float(conf.max()) <= 1.0


def test_peaks_on_the_map_border_are_refined_along_the_other_axis() -> None:
    yy, xx = torch.meshgrid(torch.arange(20.0), torch.arange(30.0), indexing="ij")
    h = torch.exp(-((xx - 29.2) ** 2 + (yy - 7.6) ** 2) / (2 * 1.5**2))
    x, y, _ = refine_peak(h[None, None])
    assert float(x) == 29.0  # no right-hand neighbour: the column stays at the arg-max
    assert float(y) == pytest.approx(7.6, abs=1e-4)


def test_uz_peak_lies_at_the_joint_depth_row() -> None:
    cfg = SPDHConfig(heatmap_hw=(48, 64), z_min_m=1.0, z_max_m=5.0, n_bins=41, sigma_m=0.1)
    joint = torch.tensor([[[0.0, 0.0, 3.0]]])  # on the optical axis, exactly bin 20
    uv, uz = SPDHCodec(cfg).encode(joint, K_HM[None])
    row, col = divmod(int(uz[0, 0].argmax()), 64)
    assert (row, col) in {(20, 31), (20, 32)}
    assert float(uz[0, 0, 20, 31]) == pytest.approx(
        np.exp(-((0.5 / 57 * 3) ** 2) / 0.02), rel=1e-5
    )
    assert float(uv[0, 0].max()) == pytest.approx(np.exp(-0.5 * (0.5 / (0.1 * 57 / 3)) ** 2 * 2))


def test_invalid_joints_give_empty_maps() -> None:
    codec = SPDHCodec(SPDHConfig())
    joints = torch.tensor([[[0.0, 0.0, -1.0], [float("nan"), 0.0, 2.0], [0.1, 0.1, 2.0]]])
    uv, uz = codec.encode(joints, K_HM[None])
    assert float(uv[0, :2].abs().sum()) == 0.0 and float(uz[0, :2].abs().sum()) == 0.0
    assert float(uv[0, 2].max()) > 0.5


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


def test_bad_inputs_say_what_to_fix() -> None:
    codec = SPDHCodec(SPDHConfig())
    with pytest.raises(PrivposeInputError, match=r"\(N, J, 3\)"):
        codec.encode(torch.zeros(2, 3), K_HM[None])
    with pytest.raises(PrivposeInputError, match=r"k must be \(N, 3, 3\)"):
        codec.encode(torch.zeros(2, 3, 3), K_HM[None])
    with pytest.raises(PrivposeInputError, match="uz must be"):
        codec.decode(torch.zeros(1, 2, 48, 64), torch.zeros(1, 2, 10, 64), K_HM[None])
    with pytest.raises(PrivposeInputError, match="z_min_m < z_max_m"):
        SPDHConfig(z_min_m=3.0, z_max_m=2.0)


def test_integral_decoding_of_ideal_maps_stays_within_half_a_bin() -> None:
    cfg = SPDHConfig(decode="integral")
    codec = SPDHCodec(cfg)
    joints = _random_joints(16, 26, seed=3)
    k = K_HM.expand(16, 3, 3)
    uv, uz = codec.encode(joints, k)
    dec, _, conf = codec.decode(uv, uz, k)
    err_mm = (dec - joints).norm(dim=-1) * 1e3
    # measured: median 11.7 mm, max 32 mm (the flat background pulls the expectation inwards);
    # the trained network learns maps for this decoder (coordinate loss), not ideal Gaussians
    assert float(err_mm.median()) < 20.0 and float(err_mm.max()) < 0.5 * cfg.bin_step_m * 1e3
    assert torch.equal(dec, codec.decode_integral(uv, uz, k))
    assert float(conf.min()) > 0.75


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


def test_unknown_decoder_is_rejected() -> None:
    with pytest.raises(PrivposeInputError, match="decode must be one of"):
        SPDHConfig(decode="argmax")
