"""The walking video (data/sequence.py): paths, speeds, leaving and returning, ground truth of
rendered frames, determinism and the chunk cache."""

from __future__ import annotations

import numpy as np
import pytest

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import CANONICAL
from privpose_ros.data.sequence import CHUNK, WalkConfig, WalkSequence

PELVIS = CANONICAL.joint_names.index("pelvis")
SMALL = WalkConfig(width=160, height=120, people=3)


def _out_of_view(seq: WalkSequence, count: int, half_body_m: float = 0.4) -> np.ndarray:
    """(count, P) bool: each walker's centre (1 m above the floor) so far beyond an image edge
    that a body ``half_body_m`` wide is out (no rendering)."""
    xy = seq.floor_positions(count)
    points = np.concatenate([xy, np.ones((*xy.shape[:2], 1))], -1) - seq.scene.eye
    cam = points @ seq.scene.rot.T
    k, width = seq.scene.k, seq.config.width
    u = k[0, 0] * cam[..., 0] / cam[..., 2] + k[0, 2]
    half_px = k[0, 0] * half_body_m / cam[..., 2]
    return (u + half_px < 0) | (u - half_px > width)


def test_walkers_keep_their_speed_cross_leave_and_come_back() -> None:
    seq = WalkSequence(SMALL, seed=3, cache_dir=None)
    xy = seq.floor_positions(300)
    step = np.linalg.norm(np.diff(xy, axis=0), axis=-1)  # (299, P) m per frame
    for p, walker in enumerate(seq.scene.walkers):
        assert 1.0 <= walker.speed_mps <= 1.5
        expected = walker.speed_mps / SMALL.rate_hz
        assert np.median(step[:, p]) == pytest.approx(expected, abs=1e-9)
        assert np.all(step[:, p] <= expected + 1e-9)  # turns only shorten a step
    out = _out_of_view(seq, 300)
    for p in (0, 1):  # both leave for >= 2 s and come back within the 10 s
        runs = np.diff(np.concatenate([[0], out[:, p].astype(int), [0]]))
        begins, ends = np.nonzero(runs == 1)[0], np.nonzero(runs == -1)[0]
        assert any(e - b >= 60 and e < 300 and b > 0 for b, e in zip(begins, ends, strict=True))
    assert not out[0, 0] and not out[0, 1] and out[0, 2]  # walker 2 walks in later
    x = seq.floor_positions(60)[..., 0]
    assert np.sign(x[0, 0] - x[0, 1]) != np.sign(x[59, 0] - x[59, 1])  # they cross within 2 s


def test_rendered_ground_truth_follows_the_walkers_and_is_empty_when_out() -> None:
    seq = WalkSequence(SMALL, seed=3, cache_dir=None)
    gone = np.nonzero(_out_of_view(seq, 300)[:, 0])[0][10]
    frames = seq.frames(4, start=0) + seq.frames(2, start=int(gone))
    first, second = frames[0], frames[1]
    assert first.rgb.shape == (120, 160, 3) and first.depth_mm.dtype == np.uint16
    assert list(first.person_ids) == [0, 1, 2] and first.people_joints_cam_m.shape == (3, 26, 3)
    assert second.stamp_ns - first.stamp_ns == pytest.approx(1e9 / 30, abs=1)
    assert first.people_in_view[0] and first.people_visible[0].sum() >= 12
    # the pelvis moves by speed / rate between frames (the gait adds millimetres)
    walker = seq.scene.walkers[0]
    moved = np.linalg.norm(
        np.diff([f.people_joints_cam_m[0, PELVIS] for f in frames[:4]], axis=0), axis=1
    )
    np.testing.assert_allclose(moved, walker.speed_mps / 30.0, atol=0.006)
    # the depth image shows the person at the pelvis's depth (within the body's thickness)
    uv = first.intrinsics.k @ first.people_joints_cam_m[0, PELVIS]
    col, row = int(round(uv[0] / uv[2])), int(round(uv[1] / uv[2]))
    pelvis_z = first.people_joints_cam_m[0, PELVIS, 2]
    assert abs(first.depth_mm[row, col] / 1000.0 - pelvis_z) < 0.2
    out = frames[4]
    assert not out.people_in_view[0] and not out.people_visible[0].any()
    assert out.people_joints_cam_m[0, PELVIS, 0] > 0  # ground truth kept while out (right)


def test_same_seed_same_frames_cached_or_not(tmp_path, monkeypatch) -> None:
    cached = WalkSequence(SMALL, seed=5, cache_dir=tmp_path).frames(3, start=CHUNK - 1)
    assert len(list(tmp_path.rglob("chunk_*.npz"))) == 2  # frames 7 and 8, 9 lie in two chunks
    fresh = WalkSequence(SMALL, seed=5, cache_dir=None).frames(2, start=CHUNK)

    def no_render(self, chunk):  # noqa: ANN001, ANN202
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(WalkSequence, "_render", no_render)
    again = WalkSequence(SMALL, seed=5, cache_dir=tmp_path).frames(3, start=CHUNK - 1)
    for a, b in zip(cached, again, strict=True):
        np.testing.assert_array_equal(a.rgb, b.rgb)
        np.testing.assert_array_equal(a.depth_mm, b.depth_mm)
        np.testing.assert_array_equal(a.people_joints_cam_m, b.people_joints_cam_m)
        np.testing.assert_array_equal(a.people_visible, b.people_visible)
    for a, b in zip(cached[1:], fresh, strict=True):  # a frame does not depend on the request
        np.testing.assert_array_equal(a.rgb, b.rgb)
        np.testing.assert_array_equal(a.depth_mm, b.depth_mm)
        assert a.stamp_ns == b.stamp_ns
    monkeypatch.undo()
    other = WalkSequence(SMALL, seed=6, cache_dir=None).frames(1, start=CHUNK)[0]
    assert np.abs(other.rgb.astype(int) - fresh[0].rgb).mean() > 5.0


def test_config_is_checked() -> None:
    with pytest.raises(PrivposeInputError, match="people"):
        WalkConfig(people=4)
    with pytest.raises(PrivposeInputError, match="camera"):
        WalkConfig(camera="webcam")
    with pytest.raises(PrivposeInputError, match="count"):
        WalkSequence(SMALL, cache_dir=None).frames(-1)
