"""The synthetic generator: determinism, label consistency, z-buffer visibility, bodies."""

from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import LabeledFrame
from privpose_ros.core.geometry import project_points_px
from privpose_ros.core.joints import CANONICAL
from privpose_ros.data.body import POSE_FAMILIES, random_bodies
from privpose_ros.data.raycast import Primitives, project_bbox_px, render_zbuffer
from privpose_ros.data.synth import SynthConfig, SyntheticGenerator

CLEAN = SynthConfig(depth_noise=False, depth_artifacts=False, view="mixed", camera="mixed")
LIMBS = [
    CANONICAL.index(n)
    for n in CANONICAL.joint_names
    if n.split("_")[-1] in ("elbow", "wrist", "hand", "knee", "ankle", "foot")
]


@pytest.fixture(scope="module")
def clean_batch():
    return SyntheticGenerator(CLEAN).batch(48, seed=7)


def test_same_seed_same_bytes_and_prefix_stable() -> None:
    gen = SyntheticGenerator(SynthConfig(width=96, height=72, block_size=4))
    a, b = gen.batch(6, seed=3), gen.batch(6, seed=3)
    for field in ("rgb", "depth_mm", "joints_cam_m", "joints_px", "visible", "person_mask", "k"):
        assert getattr(a, field).tobytes() == getattr(b, field).tobytes(), field
    tail = gen.batch(3, seed=3, start=3)  # frames 3..5 of the same stream
    assert tail.rgb.tobytes() == a.rgb[3:].tobytes()
    assert tail.depth_mm.tobytes() == a.depth_mm[3:].tobytes()
    assert not np.array_equal(gen.batch(6, seed=4).depth_mm, a.depth_mm)


def test_shapes_dtypes_and_frame(clean_batch) -> None:
    b = clean_batch
    n, h, w = 48, 240, 320
    assert b.rgb.shape == (n, h, w, 3) and b.rgb.dtype == np.uint8
    assert b.depth_mm.shape == (n, h, w) and b.depth_mm.dtype == np.uint16
    assert b.joints_cam_m.shape == (n, 26, 3) and b.joints_cam_m.dtype == np.float32
    assert b.joints_px.shape == (n, 26, 2) and b.joints_px.dtype == np.float32
    assert b.visible.dtype == bool and b.person_mask.dtype == bool
    assert b.k.shape == (n, 3, 3) and b.k.dtype == np.float64
    frame = b.frame(2)
    assert isinstance(frame, LabeledFrame)
    assert frame.intrinsics.width == w and np.allclose(frame.intrinsics.k, b.k[2])
    # people are 1-6 m away (more where the camera looks down from the ceiling)
    assert 0.7 < np.median(b.joints_cam_m[:, 0, 2]) < 6.5
    assert 0.2 < b.visible.mean() < 0.95
    assert (b.person_mask.reshape(n, -1).sum(1) > 0).mean() > 0.9


def test_projection_of_3d_joints_matches_2d_labels(clean_batch) -> None:
    b = clean_batch
    for i in range(len(b)):
        px = project_points_px(b.joints_cam_m[i].astype(np.float64), b.intrinsics(i))
        assert np.abs(px - b.joints_px[i]).max() < 0.5


def test_depth_at_visible_joints_is_the_body_surface_in_front(clean_batch) -> None:
    b = clean_batch
    f, j = np.nonzero(b.visible)
    u = np.round(b.joints_px[f, j, 0]).astype(int)
    v = np.round(b.joints_px[f, j, 1]).astype(int)
    assert ((u >= 0) & (u < 320) & (v >= 0) & (v < 240)).all()
    depth_m = b.depth_mm[f, v, u] / 1000.0
    on_body = b.person_mask[f, v, u] & (depth_m > 0)
    assert on_body.mean() > 0.9
    gap = b.joints_cam_m[f, j, 2] - depth_m  # joint depth minus surface depth
    limb = on_body & np.isin(j, LIMBS)
    assert limb.sum() > 200
    # limb joints lie on the limb axis: the surface is one radius (3-11 cm) in front
    assert gap[limb].min() > 0.0 and gap[limb].max() < 0.12
    assert 0.02 < np.median(gap[limb]) < 0.07
    assert np.percentile(gap[on_body], 99) < 0.3


def test_occluded_joints_have_a_surface_well_in_front(clean_batch) -> None:
    b = clean_batch
    u = np.round(b.joints_px[..., 0])
    v = np.round(b.joints_px[..., 1])
    inside = (u >= 0) & (u < 320) & (v >= 0) & (v < 240) & (b.joints_cam_m[..., 2] > 0.05)
    hidden = inside & ~b.visible
    assert hidden.sum() > 30  # self- and object-occlusion happen
    f, j = np.nonzero(hidden)
    depth_m = b.depth_mm[f, v[f, j].astype(int), u[f, j].astype(int)] / 1000.0
    gap = b.joints_cam_m[f, j, 2] - depth_m
    assert (gap[depth_m > 0] > CLEAN.visibility_margin_m).all()


def test_raycast_golden_depths() -> None:
    k = np.array([[[100.0, 0, 32], [0, 100.0, 24], [0, 0, 1]]])
    full = np.array([[0, 0, 64, 48]])
    sphere = Primitives(
        np.array([0]),
        np.array([0]),
        full,
        {"m": np.eye(3)[None] / 0.5, "o": -np.array([[0.0, 0.0, 2.0]]) / 0.5},
    )
    caps = Primitives(
        np.array([0]),
        np.array([1]),
        full,
        {
            "a": np.array([[-0.2, 0.1, 1.0]]),
            "b": np.array([[0.2, 0.1, 1.0]]),
            "r": np.array([0.05]),
        },
    )
    z, obj = render_zbuffer({"ellipsoid": sphere, "capsule": caps}, k, 1, 48, 64)
    assert z[0, 24, 32] == pytest.approx(1.5, abs=1e-5) and obj[0, 24, 32] == 0
    assert (
        z[0, 34, 32] == pytest.approx(1 - 0.05 / np.sqrt(1.01), abs=1e-5) and obj[0, 34, 32] == 1
    )
    assert np.isinf(z[0, 0, 0]) and obj[0, 0, 0] == -1
    box = project_bbox_px(np.array([[[0.0, 0.0, 2.0]]]), k, np.array([0.5]), 64, 48)
    assert box[0, 0] <= 32 - 25 and box[0, 2] >= 32 + 25


def test_bodies_stand_on_the_floor_with_plausible_size() -> None:
    rng = np.random.default_rng(0)
    fams = np.arange(64) % len(POSE_FAMILIES)
    bodies = random_bodies(rng, 64, np.zeros((64, 2)), fams)
    low = np.minimum(
        (bodies.capsule_a_w_m[..., 2] - bodies.capsule_r_m).min(1),
        (bodies.capsule_b_w_m[..., 2] - bodies.capsule_r_m).min(1),
    )
    assert np.abs(low).max() < 0.02  # something touches the floor, nothing goes through it
    standing = fams == POSE_FAMILIES.index("standing")
    top = bodies.joints_w_m[standing, CANONICAL.index("head_top"), 2]
    height = bodies.height_m[standing]
    assert (height >= 1.45).all() and (height <= 2.0).all()
    assert np.abs(top / height - 1.0).max() < 0.06
    upper_arm = np.linalg.norm(
        bodies.joints_w_m[:, CANONICAL.index("left_elbow")]
        - bodies.joints_w_m[:, CANONICAL.index("left_shoulder")],
        axis=1,
    )
    assert (upper_arm > 0.22).all() and (upper_arm < 0.42).all()


def test_config_validation() -> None:
    with pytest.raises(PrivposeInputError, match="view"):
        SynthConfig(view="front")
    with pytest.raises(PrivposeInputError, match="camera"):
        SynthConfig(camera="zed")
    with pytest.raises(PrivposeInputError, match="families"):
        SynthConfig(families=("dancing",))
