"""Augmentation keeps RGB, depth, 2D/3D labels and intrinsics consistent."""

from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core.joints import CANONICAL, ITOP_15
from privpose_ros.data.augment import AugmentConfig, augment_sample, flip_permutation
from privpose_ros.data.dataset import SAMPLE_KEYS, batch_sample
from privpose_ros.data.synth import SynthConfig, SyntheticGenerator

GEOMETRY_ONLY = AugmentConfig(brightness=0.0, contrast=0.0, saturation=0.0, channel_gain=0.0)


@pytest.fixture(scope="module")
def samples():
    cfg = SynthConfig(
        width=160, height=120, depth_noise=False, depth_artifacts=False, block_size=6
    )
    b = SyntheticGenerator(cfg).batch(6, seed=11)
    return [batch_sample(b, i) for i in range(len(b))]


def _project(joints, k):
    p = joints.astype(np.float64) @ k.astype(np.float64).T
    return p[:, :2] / p[:, 2:]


@pytest.mark.parametrize("flip", [0.0, 1.0])
def test_labels_stay_consistent(samples, flip) -> None:
    cfg = AugmentConfig(
        **{
            **GEOMETRY_ONLY.__dict__,
            "flip_prob": flip,
            "rotation_deg": 30.0,
            "out_width": 128,
            "out_height": 96,
        }
    )
    rng = np.random.default_rng(0)
    for s in samples:
        out = augment_sample(s, rng, cfg)
        assert set(out) == set(SAMPLE_KEYS)
        assert out["rgb"].shape == (96, 128, 3) and out["depth_mm"].shape == (96, 128)
        assert out["depth_mm"].dtype == np.uint16 and out["person_mask"].dtype == bool
        # 2D labels are the projection of the 3D labels with the new intrinsics
        np.testing.assert_allclose(
            out["joints_px"], _project(out["joints_cam_m"], out["k"]), atol=1e-3
        )
        # a rotation about the optical axis (and a mirror) keeps depth and bone lengths
        np.testing.assert_allclose(
            out["joints_cam_m"][:, 2],
            s["joints_cam_m"][flip_permutation(CANONICAL.joint_names) if flip else slice(None), 2],
            atol=1e-5,
        )
        bones = CANONICAL.bone_indices()
        length = np.linalg.norm(np.diff(s["joints_cam_m"][bones], axis=1), axis=-1)
        length_out = np.linalg.norm(np.diff(out["joints_cam_m"][bones], axis=1), axis=-1)
        np.testing.assert_allclose(np.sort(length_out, 0), np.sort(length, 0), atol=1e-5)
        # depth is resampled, never invented: each output pixel holds the depth of the source
        # pixel nearest to where the warp K' R K^-1 (R from the 3D joints) maps it from
        perm = flip_permutation(CANONICAL.joint_names) if flip else np.arange(26)
        src_j = s["joints_cam_m"][perm].astype(np.float64)
        rot = np.linalg.lstsq(src_j, out["joints_cam_m"].astype(np.float64), rcond=None)[0].T
        warp = out["k"].astype(np.float64) @ rot @ np.linalg.inv(s["k"].astype(np.float64))
        v, u = np.mgrid[0:96, 0:128]
        src = np.linalg.inv(warp) @ np.stack([u.ravel(), v.ravel(), np.ones(u.size)])
        su, sv = np.round(src[0] / src[2]).astype(int), np.round(src[1] / src[2]).astype(int)
        inside = (su >= 0) & (su < 160) & (sv >= 0) & (sv < 120)
        expected = np.zeros(u.size, np.uint16)
        expected[inside] = s["depth_mm"][sv[inside], su[inside]]
        assert (out["depth_mm"].ravel() == expected).mean() > 0.99
        assert set(np.unique(out["depth_mm"])) <= set(np.unique(s["depth_mm"])) | {0}


def test_flip_swaps_left_and_right(samples) -> None:
    s = samples[0]
    out = augment_sample(
        s,
        np.random.default_rng(1),
        AugmentConfig(
            **{
                **GEOMETRY_ONLY.__dict__,
                "flip_prob": 1.0,
                "rotation_deg": 0.0,
                "scale_range": (1.0, 1.0),
                "translate_frac": 0.0,
            }
        ),
    )
    li, ri = CANONICAL.index("left_wrist"), CANONICAL.index("right_wrist")
    np.testing.assert_allclose(
        out["joints_cam_m"][li], s["joints_cam_m"][ri] * [-1, 1, 1], atol=1e-6
    )
    w = s["rgb"].shape[1]
    np.testing.assert_allclose(out["joints_px"][li, 0], w - 1 - s["joints_px"][ri, 0], atol=1e-3)
    np.testing.assert_array_equal(out["rgb"], s["rgb"][:, ::-1])
    perm = flip_permutation(ITOP_15.joint_names)
    assert ITOP_15.joint_names[perm[ITOP_15.index("LHand")]] == "RHand"
    assert perm[ITOP_15.index("Torso")] == ITOP_15.index("Torso")


def test_colour_jitter_touches_rgb_only(samples) -> None:
    s = samples[1]
    cfg = AugmentConfig(
        scale_range=(1.0, 1.0), rotation_deg=0.0, translate_frac=0.0, flip_prob=0.0
    )
    out = augment_sample(s, np.random.default_rng(3), cfg)
    np.testing.assert_array_equal(out["depth_mm"], s["depth_mm"])
    np.testing.assert_allclose(out["joints_px"], s["joints_px"], atol=1e-4)
    np.testing.assert_allclose(out["k"], s["k"], atol=1e-4)
    assert np.abs(out["rgb"].astype(int) - s["rgb"]).mean() > 1.0
