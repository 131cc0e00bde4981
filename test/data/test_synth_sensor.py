"""Depth sensor model statistics: noise std follows base + quad z^2, artefacts where specified."""

from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.data.scene import SENSORS
from privpose_ros.data.sensor import DepthArtifacts, apply_depth_sensor, depth_noise_std_m

NONE = DepthArtifacts(0.0, 0.0, 0.0, 0.0)


def _sense(depth_m, cos=None, preset="itop", artifacts=NONE, seed=0):
    s = SENSORS[preset]
    n = depth_m.shape[0]
    return apply_depth_sensor(
        depth_m.astype(np.float32),
        np.ones_like(depth_m, dtype=np.float32) if cos is None else cos,
        np.full(n, s.noise_base_m),
        np.full(n, s.noise_quad_per_m),
        np.full(n, s.quant_quad_per_m),
        np.tile([s.min_range_m, s.max_range_m], (n, 1)),
        np.random.default_rng(seed),
        artifacts,
    )


@pytest.mark.parametrize("preset", ["itop", "kinect_v2", "realsense_d435"])
def test_noise_std_grows_with_z_squared_as_specified(preset) -> None:
    s = SENSORS[preset]
    z = np.array([1.0, 2.0, 3.0, 4.5])
    planes = np.broadcast_to(z[:, None, None], (4, 120, 160))
    out = _sense(planes, preset=preset).astype(np.float64) / 1000.0
    std = out.reshape(4, -1).std(1)
    want = depth_noise_std_m(z, s.noise_base_m, s.noise_quad_per_m, s.quant_quad_per_m)
    np.testing.assert_allclose(std, want, rtol=0.1)
    np.testing.assert_allclose(out.reshape(4, -1).mean(1), z, atol=3e-3)
    assert (np.diff(std) > 0).all()
    # quadratic growth: from 1 m to 4.5 m the std grows by well over 4x
    assert std[3] / std[0] > 4.0


def test_quantisation_steps_grow_with_depth_for_disparity_sensors() -> None:
    out = _sense(np.full((1, 60, 80), 4.0)).astype(np.float64)
    steps = np.diff(np.unique(out))
    assert steps.min() >= 1000 * 2.8e-3 * 16 * 0.8  # about 45 mm at 4 m (ITOP-like sensor)


def test_range_grazing_and_edge_artifacts() -> None:
    depth = np.full((1, 100, 100), 2.0, np.float32)
    depth[:, :, 50:] = 4.0  # a depth edge down the middle
    depth[:, :5] = 7.0  # beyond the 6 m range
    depth[:, 95:] = np.inf  # nothing there
    cos = np.ones_like(depth)
    cos[:, 40:45, :20] = 0.02  # grazing incidence
    art = DepthArtifacts(
        edge_hole_prob=0.5, flying_pixel_prob=0.3, grazing_cos=0.17, dropout_prob=0.0
    )
    out = _sense(depth, cos, artifacts=art).astype(np.float64)
    assert (out[:, :4] == 0).all() and (out[:, 96:] == 0).all()  # row 4: flying pixels
    assert (out[:, 40:45, :20] == 0).all()
    edge = out[0, 10:90, 49:51]
    assert 0.3 < (edge == 0).mean() < 0.7
    flying = (edge > 2300) & (edge < 3700)  # between foreground and background
    assert 0.1 < flying.mean() < 0.5
    interior = out[0, 50:90, 10:40]
    assert (interior > 0).all() and np.abs(interior - 2000).max() < 40
