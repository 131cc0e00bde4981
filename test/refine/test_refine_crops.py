from __future__ import annotations

import numpy as np

from privpose_ros.core import depth_image_to_points_m, depth_m_to_mm, depth_mm_to_m
from privpose_ros.refine.patches import PatchRefinerConfig, extract_depth_patches
from privpose_ros.refine.pointcloud import PointCloudRefinerConfig, crop_joint_points

WIDE = PointCloudRefinerConfig(grid_px=96, num_points=256)  # grid step 1 px at 1.8-2 m


def _wall(camera, z_m: float = 2.0):
    return depth_m_to_mm(np.full((camera.height, camera.width), z_m))


def test_crop_matches_a_brute_force_cube_and_grows_until_enough_points(camera) -> None:
    depth_mm = _wall(camera)
    joints = np.array([[0.0, 0.0, 2.0], [0.1, -0.1, 1.8], [0.0, 0.0, 1.5], [np.nan] * 3])
    crops = crop_joint_points(depth_mm, camera, joints, WIDE)
    # joint 0 on the wall: the 300 mm cube; 1: 200 mm in front, grown to 200 mm; 2, 3: nothing
    np.testing.assert_allclose(crops.half_m[:2], [0.15, 0.2], atol=1e-6)
    cloud = depth_image_to_points_m(depth_mm_to_m(depth_mm), camera).reshape(-1, 3)
    for j in range(2):
        inside = np.abs(cloud - joints[j]).max(axis=1) <= crops.half_m[j] + 1e-9
        assert crops.count[j] == inside.sum() > WIDE.min_points
        got = crops.points[j] * crops.half_m[j] + joints[j]
        assert np.abs(got - joints[j]).max() <= crops.half_m[j] + 1e-6
        assert len(np.unique(got.round(6), axis=0)) == WIDE.num_points  # no repeats needed
    assert crops.count[2] == 0 and crops.count[3] == 0
    np.testing.assert_array_equal(crops.points[2:], 0.0)


def test_crop_repeats_points_when_the_cube_holds_few(camera) -> None:
    depth_mm = np.zeros((camera.height, camera.width), np.uint16)
    depth_mm[118:123, 158:163] = 2000  # 25 points around the optical axis at 2 m
    crops = crop_joint_points(depth_mm, camera, np.array([[0.0, 0.0, 2.0]]), WIDE)
    assert crops.count[0] == 25 and crops.half_m[0] == WIDE.max_half_m
    assert len(np.unique(crops.points[0].round(6), axis=0)) == 25


def test_depth_patches_are_relative_to_the_joint_and_mark_invalid_pixels(
    camera, disk_body
) -> None:
    joints, px, depth_mm = disk_body
    cfg = PatchRefinerConfig(patch_px=33)
    patches = extract_depth_patches(depth_mm, px, cfg)
    assert patches.shape == (26, 2, 33, 33)
    np.testing.assert_array_equal(patches[:, 0, 16 - 7 + 1 : 16 + 7, 16 - 7 + 1 : 16 + 7], 0.0)
    np.testing.assert_array_equal(patches[:, 0, 0, 0], 1.0)  # the 6 m wall, clipped
    border = extract_depth_patches(depth_mm, np.array([[0.0, 0.0]]), cfg)
    assert border[0, 1, :16, :].sum() == 0 and border[0, 1, 16:, 16:].all()
