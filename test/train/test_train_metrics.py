"""Metrics against hand-computed values on toy skeletons."""

from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.train.metrics import (
    joint_errors_mm,
    pose_metrics,
    procrustes_align,
    single_size_oracle,
)


def test_metrics_match_hand_computed_values() -> None:
    gt = np.zeros((2, 3, 3))
    gt[:, :, 2] = 2.0
    gt[:, 1, 0] = 0.5
    gt[:, 2, 1] = 0.5
    pred = gt.copy()
    pred[0, 0, 0] += 0.05  # 50 mm
    pred[0, 1, 1] += 0.12  # 120 mm
    pred[1, 2, 2] -= 0.25  # 250 mm
    # frame 1, joint 0 unknown: not counted
    gt[1, 0] = np.nan
    m = pose_metrics(pred, gt, ("a", "b", "c"))
    assert m["n_frames"] == 2 and m["n_joints"] == 5
    assert m["mpjpe_mm"] == pytest.approx((50 + 120 + 0 + 0 + 250) / 5)
    assert m["map_10cm"] == pytest.approx(3 / 5)
    assert m["per_joint_mm"] == pytest.approx({"a": 50.0, "b": 60.0, "c": 125.0})
    assert m["pck"][m["pck_thresholds_mm"].index(50.0)] == pytest.approx(3 / 5)
    assert m["pck"][m["pck_thresholds_mm"].index(300.0)] == pytest.approx(1.0)


def test_pa_mpjpe_removes_a_similarity_transform() -> None:
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 0.4, (1, 26, 3)) + [0, 0, 3.0]
    angle = 0.7
    rot = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    pred = 1.3 * gt @ rot.T + [0.2, -0.1, 0.5]
    m = pose_metrics(pred, gt)
    assert m["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-6)
    assert m["mpjpe_mm"] > 100
    np.testing.assert_allclose(procrustes_align(pred[0], gt[0]), gt[0], atol=1e-9)


def test_procrustes_never_reflects() -> None:
    gt = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1.0]])
    mirrored = gt * [-1, 1, 1]
    aligned = procrustes_align(mirrored, gt)
    assert joint_errors_mm(aligned[None], gt[None]).mean() > 1.0


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(PrivposeInputError, match=r"\(N, J, 3\)"):
        pose_metrics(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(PrivposeInputError, match="no finite"):
        pose_metrics(np.zeros((1, 2, 3)), np.full((1, 2, 3), np.nan))


def test_single_size_oracle_on_hand_computed_bodies() -> None:
    # two-joint "bodies" 1 m long on the optical axis; the second is 1.2x larger
    gt = np.array([[[0.0, 0.0, 2.0], [0.0, 1.0, 2.0]], [[0.0, 0.0, 4.0], [0.0, 1.2, 4.0]]])
    out = single_size_oracle(gt, np.array([[0, 1]]), n_sizes=3)  # sizes 1.0, 1.1, 1.2 m
    # size 1.0: body 2 shrinks by 1/1.2 -> its joints move 0.667 m and 0.696 m (2/4 hits);
    # size 1.1: body 1 grows 10 % (0.2, 0.224 m), body 2 shrinks 8.3 % (0.333, 0.348 m): 0/4;
    # size 1.2: body 1 grows 20 % (0.4, 0.447 m): 2/4. The first best size is kept.
    assert out["map_10cm"] == pytest.approx(0.5)
    assert out["size_m"] == pytest.approx(1.0)
    assert out["mpjpe_mm"] == pytest.approx(1e3 * (4.0 + np.hypot(1.2, 4.0)) / 6.0 / 4.0)
    assert out["n_frames"] == 2
    with pytest.raises(PrivposeInputError, match="bones finite"):
        single_size_oracle(np.full((1, 2, 3), np.nan), np.array([[0, 1]]))
