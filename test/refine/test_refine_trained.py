"""The shipped refiner weights reduce error on held-out synthetic frames (test stream 3000)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from privpose_ros.refine.dataset import lift_all, noisy_3d, noisy_px
from privpose_ros.refine.patches import refine_joints_px
from privpose_ros.refine.pipeline import RefineConfig, RefinementPipeline
from privpose_ros.refine.pointcloud import refine_with_points
from privpose_ros.refine.skeleton import refine_skeletons
from privpose_ros.train.refine_eval import TEST_STREAM
from privpose_ros.train.refine_train import generate_frames


@pytest.fixture(scope="module")
def held_out():
    torch.set_num_threads(1)
    frames, _ = generate_frames("mixed", 32, TEST_STREAM)
    pipeline = RefinementPipeline(RefineConfig(patch_a=True, pointcloud_c=True))
    return frames, pipeline


def _error_m(pred, gt) -> float:
    return float(np.linalg.norm(pred - gt, axis=-1).mean())


def test_module_b_reduces_the_error_of_lifted_skeletons(held_out) -> None:
    frames, pipeline = held_out
    lifted, conf = lift_all(frames, noisy_px(frames, 5.0, np.random.default_rng(1)))
    refined = refine_skeletons(pipeline.skeleton_net, lifted, conf)
    placed = np.isfinite(lifted).all(-1)  # joints behind a 0.5 m camera have no pixel to lift
    assert placed.mean() > 0.95
    before = _error_m(lifted[placed], frames.joints_cam_m[placed])
    after = _error_m(refined[placed], frames.joints_cam_m[placed])
    assert after < 0.7 * before, (before, after)


def test_module_c_reduces_the_error_of_noisy_3d_joints(held_out) -> None:
    frames, pipeline = held_out
    start = noisy_3d(frames, 0.042, np.random.default_rng(2))
    refined = np.stack(
        [
            refine_with_points(
                pipeline.points_net, start[i : i + 1], frames.depth_mm[i], frames.intrinsics[i]
            )[0]
            for i in range(len(frames))
        ]
    )
    before = _error_m(start, frames.joints_cam_m)
    after = _error_m(refined, frames.joints_cam_m)
    assert after < 0.9 * before, (before, after)


def test_module_a_reduces_the_2d_error_of_visible_joints(held_out) -> None:
    frames, pipeline = held_out
    start = noisy_px(frames, 5.0, np.random.default_rng(3))
    refined = np.stack(
        [
            refine_joints_px(pipeline.patch_net, start[i : i + 1], frames.depth_mm[i])[0]
            for i in range(len(frames))
        ]
    )
    vis = frames.visible
    before = np.linalg.norm(start - frames.joints_px, axis=-1)[vis].mean()
    after = np.linalg.norm(refined - frames.joints_px, axis=-1)[vis].mean()
    assert after < 0.95 * before, (before, after)
