"""The landmark prior (model/posenet/landmark_prior.py): the canonical map of BlazePose outputs,
the geometric zeta and the logit biases."""

from __future__ import annotations

import numpy as np
import torch

from privpose_ros.core.blazepose import confidence_to_canonical, landmarks_to_canonical
from privpose_ros.model.posenet.codec import PosenetConfig
from privpose_ros.model.posenet.landmark_prior import (
    LandmarkPrior,
    PriorBias,
    canonical_prior,
    geometric_zeta_m,
)


def test_canonical_prior_matches_the_front_ends_numpy_map() -> None:
    gen = torch.Generator().manual_seed(0)
    landmarks = torch.rand(3, 39 * 5, generator=gen, dtype=torch.float64) * 200 - 20
    world = torch.rand(3, 39 * 3, generator=gen, dtype=torch.float64) - 0.5
    flag = torch.tensor([[0.9], [0.2], [0.7]], dtype=torch.float64)
    prior = canonical_prior(landmarks, world, flag)
    lm = landmarks.numpy().reshape(3, 39, 5)[:, :33]
    np.testing.assert_allclose(prior.uv_crop_px.numpy(), landmarks_to_canonical(lm[..., :2] - 0.5))
    want = world.numpy().reshape(3, 39, 3)[:, :33]
    np.testing.assert_allclose(prior.world_m.numpy(), landmarks_to_canonical(want))
    conf = confidence_to_canonical(1.0 / (1.0 + np.exp(-lm[..., 3])))
    np.testing.assert_allclose(prior.confidence.numpy()[[0, 2]], conf[[0, 2]])
    assert float(prior.confidence[1].abs().max()) == 0.0  # no person: no prior


def _projected_prior(z_m: float, f_px: float, confidence: float = 1.0) -> LandmarkPrior:
    """A flat skeleton at depth z_m seen by a 256 px crop camera of focal f_px."""
    gen = torch.Generator().manual_seed(1)
    world = torch.rand(1, 26, 3, generator=gen, dtype=torch.float64) - 0.5
    world[..., 2] = 0.0
    uv = f_px * world[..., :2] / z_m + 127.5
    return LandmarkPrior(uv, torch.full((1, 26), confidence, dtype=torch.float64), world)


def test_geometric_zeta_is_exact_for_a_flat_person_and_falls_back_without_confidence() -> None:
    for z_m, f_px in ((2.0, 300.0), (6.5, 900.0)):
        got = float(geometric_zeta_m(_projected_prior(z_m, f_px), 256, 2.0)[0])
        assert abs(got - z_m * 256 / f_px) < 1e-9  # zeta = z * W / f
    assert float(geometric_zeta_m(_projected_prior(3.0, 300.0, 0.0), 256, 2.0)[0]) == 2.0


def test_prior_bias_peaks_the_maps_at_the_prior_joint() -> None:
    config = PosenetConfig(heatmap_px=16, n_bins=16)
    bias = PriorBias(config)
    prior = _projected_prior(3.0, 300.0)
    prior = prior._replace(uv_crop_px=prior.uv_crop_px.float(), world_m=prior.world_m.float())
    prior = prior._replace(confidence=prior.confidence.float())
    zero_uv, zero_uz = torch.zeros(1, 26, 16, 16), torch.zeros(1, 26, 16, 16)
    uv, uz = bias(zero_uv, zero_uz, prior, torch.tensor([3.0 * 256 / 300.0]))
    j = 5
    v_hm, u_hm = divmod(int(uv[0, j].argmax()), 16)
    want = (prior.uv_crop_px[0, j] + 0.5) * 16 / 256 - 0.5
    assert abs(u_hm - float(want[0])) <= 0.5 and abs(v_hm - float(want[1])) <= 0.5
    row, col = divmod(int(uz[0, j].argmax()), 16)
    assert col == u_hm and abs(row - 7.5) <= 0.5  # flat person: relative depth 0, mid rows
