from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core import PrivposeInputError, back_project_px, depth_m_to_mm
from privpose_ros.refine.lifting import LiftingConfig, lift_joints


def test_lifting_is_exact_on_a_tilted_plane(camera) -> None:
    # 1/z is affine in (u, v) on a plane, so the window median equals the centre depth.
    v, u = np.mgrid[0 : camera.height, 0 : camera.width]
    depth_m = 1.0 / (0.4 + 0.0004 * u + 0.0002 * v)
    depth_mm = depth_m_to_mm(depth_m)
    px = np.array([[40.0, 30.0], [160.0, 120.0], [300.0, 200.0], [5.0, 239.0]])
    joints, conf = lift_joints(px, depth_mm, camera)
    u_i, v_i = px[:, 0].astype(int), px[:, 1].astype(int)
    truth = back_project_px(px, depth_m[v_i, u_i], camera)
    assert np.max(np.abs(joints[:3] - truth[:3])) < 0.6e-3  # mm quantisation of the depth
    # the last joint's window is cut by the image border: only its upper 5 rows are inside
    np.testing.assert_allclose(conf, [1.0, 1.0, 1.0, 9 * 5 / 81])
    assert abs(joints[3, 2] - truth[3, 2]) < 0.01


def test_lifting_is_exact_on_a_noise_free_disk_body(camera, disk_body) -> None:
    joints, px, depth_mm = disk_body
    lifted, conf = lift_joints(px, depth_mm, camera)
    assert np.max(np.abs(lifted - joints)) < 1e-9
    np.testing.assert_array_equal(conf, 1.0)


def test_holes_and_out_of_image_joints_get_low_confidence_not_garbage(camera, disk_body) -> None:
    joints, px, depth_mm = disk_body
    depth = depth_mm.copy()
    u, v = np.round(px[3]).astype(int)
    depth[v - 4 : v + 5, u - 4 : u + 5] = 0  # joint 3: a hole over the whole window
    depth[v - 4 : v + 5, u - 4 : u + 1] = depth_mm[v - 4 : v + 5, u - 4 : u + 1]  # 45/81 back
    u, v = np.round(px[5]).astype(int)
    depth[v - 4 : v + 5, u - 4 : u + 5] = 0  # joint 5: no reading at all
    px_in = px.copy()
    px_in[7] = [-30.0, 50.0]  # outside the image
    px_in[8] = [np.nan, np.nan]
    prior = np.full(26, 2.5)
    lifted, conf = lift_joints(px_in, depth, camera, fallback_z_m=prior)
    assert conf[3] == pytest.approx(45 / 81)
    assert abs(lifted[3, 2] - joints[3, 2]) < 1e-9
    assert conf[5] == 0.0 and conf[7] == 0.0 and conf[8] == 0.0
    assert lifted[5, 2] == 2.5 and lifted[7, 2] == 2.5  # the prior, not a 0 or 6 m reading
    assert np.all(np.isnan(lifted[8]))
    # without a prior, the person's median depth is used
    lifted, _ = lift_joints(px_in, depth, camera)
    good = np.delete(np.arange(26), [5, 7, 8])
    assert lifted[5, 2] == pytest.approx(np.median(lifted[good, 2]))


def test_foreground_band_keeps_the_body_at_a_silhouette_edge(camera, disk_body) -> None:
    joints, px, depth_mm = disk_body
    edge = px[10] + [6.0, 6.0]  # 9x9 window mostly on the 6 m wall, a corner on the disk
    banded, _ = lift_joints(edge[None], depth_mm, camera)
    plain, _ = lift_joints(edge[None], depth_mm, camera, LiftingConfig(foreground_band_m=None))
    assert banded[0, 2] == pytest.approx(joints[10, 2])
    assert plain[0, 2] == pytest.approx(6.0)


def test_lifting_rejects_bad_inputs_with_a_hint(camera, disk_body) -> None:
    _, px, depth_mm = disk_body
    with pytest.raises(PrivposeInputError, match="uint16"):
        lift_joints(px, depth_mm.astype(np.float32), camera)
    with pytest.raises(PrivposeInputError, match=r"\(J, 2\)"):
        lift_joints(px[:, :1], depth_mm, camera)
    with pytest.raises(PrivposeInputError, match="register depth"):
        lift_joints(px, depth_mm[:100], camera)
    with pytest.raises(PrivposeInputError, match="odd"):
        LiftingConfig(window_px=8)
