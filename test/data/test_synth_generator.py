"""The synthetic generator (Anny people by default): determinism, label consistency, z-buffer
visibility, every person's labels; the capsule ray caster's golden depths and bodies."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import maximum_filter

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import LabeledFrame
from privpose_ros.core.geometry import project_points_px
from privpose_ros.core.joints import CANONICAL
from privpose_ros.data.body import POSE_FAMILIES, random_bodies
from privpose_ros.data.raycast import Primitives, project_bbox_px, render_zbuffer
from privpose_ros.data.synth import SynthBatch, SynthConfig, SyntheticGenerator

CLEAN = SynthConfig(depth_noise=False, depth_artifacts=False, view="mixed", camera="mixed")
LIMBS = [
    CANONICAL.index(n)
    for n in CANONICAL.joint_names
    if n.split("_")[-1] in ("elbow", "wrist", "knee", "ankle")
]
TORSO = [CANONICAL.index(n) for n in ("pelvis", "spine", "neck")] + [
    CANONICAL.index(f"{s}_{j}") for s in ("left", "right") for j in ("shoulder", "hip")
]
SKIN_POINTS = [
    CANONICAL.index(n)
    for n in ("head_top", "nose", "left_ear", "right_ear", "left_foot", "right_foot")
]


@pytest.fixture(scope="module")
def clean_batch():
    return SyntheticGenerator(CLEAN).batch(48, seed=7)


def test_same_seed_same_bytes_and_prefix_stable() -> None:
    gen = SyntheticGenerator(SynthConfig(width=96, height=72, block_size=4))
    a, b = gen.batch(6, seed=3), gen.batch(6, seed=3)
    for field in SynthBatch.__dataclass_fields__:
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
    assert b.people_joints_cam_m.shape == (n, 4, 26, 3) and b.people_boxes_px.shape == (n, 4, 4)
    assert b.instance_mask.dtype == np.uint8 and b.instance_mask.max() <= 4
    frame = b.frame(2)
    assert isinstance(frame, LabeledFrame)
    assert frame.intrinsics.width == w and np.allclose(frame.intrinsics.k, b.k[2])
    # the primary is 0.5-8 m away (more where the camera looks down from the ceiling)
    assert 1.0 < np.median(b.joints_cam_m[:, 0, 2]) < 6.5
    assert 0.2 < b.visible.mean() < 0.95
    assert (b.person_mask.reshape(n, -1).sum(1) > 0).mean() > 0.9
    # person 0 is the primary; 1-4 people per frame by default, every one of them labelled
    np.testing.assert_array_equal(b.people_joints_cam_m[:, 0], b.joints_cam_m)
    np.testing.assert_array_equal(b.person_mask, b.instance_mask == 1)
    people = np.isfinite(b.people_joints_cam_m[..., 0, 0]).sum(1)
    assert people.min() >= 1 and people.max() == 4 and 1.8 < people.mean() < 3.0


def test_boxes_and_instance_masks_agree(clean_batch) -> None:
    b = clean_batch
    for i in range(len(b)):
        for p in range(4):
            rows, cols = np.nonzero(b.instance_mask[i] == p + 1)
            box = b.people_boxes_px[i, p]
            if rows.size == 0:
                assert np.isnan(box).all()
                continue
            np.testing.assert_allclose(
                box, [cols.min() - 0.5, rows.min() - 0.5, cols.max() + 0.5, rows.max() + 0.5]
            )
            seen = b.people_joints_px[i, p][b.people_visible[i, p]]
            assert ((seen >= box[:2] - 1.0) & (seen <= box[2:] + 1.0)).all()


def test_empty_frames_have_no_person() -> None:
    config = SynthConfig(width=96, height=72, people_weights=(1, 0, 0, 0, 0), block_size=4)
    b = SyntheticGenerator(config).batch(4, seed=1)
    assert np.isnan(b.joints_cam_m).all() and not b.visible.any()
    assert b.instance_mask.max() == 0 and np.isnan(b.people_boxes_px).all()


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
    # the person is there (keypoints on the skin may sit on the silhouette: within one pixel)
    assert maximum_filter(b.person_mask, size=(1, 3, 3))[f, v, u].all()
    depth_m = b.depth_mm[f, v, u] / 1000.0
    in_range = depth_m > 0  # a reading (not nearer than the sensor's minimum range)
    assert in_range.mean() > 0.6 and b.person_mask[f, v, u][in_range].mean() > 0.85
    on_body = b.person_mask[f, v, u] & in_range
    gap = b.joints_cam_m[f, j, 2] - depth_m  # joint depth minus surface depth
    limb = on_body & np.isin(j, LIMBS)
    torso = on_body & np.isin(j, TORSO)
    skin = on_body & np.isin(j, SKIN_POINTS)
    assert limb.sum() > 150 and torso.sum() > 100 and skin.sum() > 50
    # joint centres lie inside the body: limbs 1-10 cm, the trunk 2-25 cm behind the skin
    assert gap[limb].min() > 0.005 and gap[limb].max() < 0.10
    assert 0.02 < np.median(gap[limb]) < 0.05
    assert gap[torso].min() > 0.015 and gap[torso].max() < 0.25
    assert 0.04 < np.median(gap[torso]) < 0.12
    # nose, ears, head top and toes are mesh vertices: on the skin
    assert np.abs(np.median(gap[skin])) < 0.01


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
