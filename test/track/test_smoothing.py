from __future__ import annotations

import math

import numpy as np
import pytest

from privpose_ros.core import PersonPose, PrivposeInputError
from privpose_ros.track import OneEuroFilter, PoseSmoother, SmoothingConfig

FRAME_NS = 33_333_333  # 30 Hz
DT_S = FRAME_NS * 1e-9
CFG = SmoothingConfig()


def _metres_filter(config: SmoothingConfig = CFG) -> OneEuroFilter:
    return OneEuroFilter(config.min_cutoff_hz, config.beta, config.d_cutoff_hz)


def _alpha(cutoff_hz: float) -> float:
    return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff_hz * DT_S))


def _pose(joints_m: np.ndarray, person_id: int = 1, px: np.ndarray | None = None) -> PersonPose:
    return PersonPose(
        joints_cam_m=joints_m, confidence=np.full(26, 0.8), person_id=person_id, joints_px=px
    )


def test_jitter_of_a_still_person_drops_at_least_3x() -> None:
    rng = np.random.default_rng(0)
    truth_m = rng.uniform(-1.0, 1.0, (26, 3)) + (0.0, 0.0, 3.0)
    truth_px = rng.uniform(100.0, 500.0, (26, 2))
    smoother = PoseSmoother()
    err_in, err_out, err_in_px, err_out_px = [], [], [], []
    for i in range(300):
        noisy_m = truth_m + rng.normal(0.0, 0.02, truth_m.shape)  # 2 cm std
        noisy_px = truth_px + rng.normal(0.0, 2.0, truth_px.shape)  # 2 px std
        (out,) = smoother.update([_pose(noisy_m, px=noisy_px)], i * FRAME_NS)
        if i >= 60:  # after a 2 s warm-up
            err_in.append(noisy_m - truth_m)
            err_out.append(out.joints_cam_m - truth_m)
            err_in_px.append(noisy_px - truth_px)
            err_out_px.append(out.joints_px - truth_px)
    ratio_m = np.std(err_in) / np.std(err_out)
    ratio_px = np.std(err_in_px) / np.std(err_out_px)
    assert ratio_m >= 3.0, ratio_m  # measured 3.5
    assert ratio_px >= 3.0, ratio_px
    assert abs(np.mean(err_out)) < 0.002  # no bias
    # the filter alone (beta = 0) divides white noise by sqrt((2 - a) / a): the beta term may
    # only cost part of that, not all of it
    a = _alpha(CFG.min_cutoff_hz)
    assert ratio_m <= math.sqrt((2.0 - a) / a)


@pytest.mark.parametrize("speed_mps", [0.2, 1.0, 3.0])
def test_ramp_lag_matches_the_closed_form(speed_mps: float) -> None:
    """A first-order low-pass at cutoff fc lags a ramp by v / (2 pi fc); the One Euro cutoff on
    a ramp settles at min_cutoff + beta v."""
    filt = _metres_filter()
    lag_m = []
    for i in range(150):
        x_m = speed_mps * i * DT_S
        lag_m.append(x_m - filt(np.array([x_m, -x_m]), i * FRAME_NS)[0])
    bound_m = speed_mps / (2 * math.pi * (CFG.min_cutoff_hz + CFG.beta * speed_mps))
    assert lag_m[-1] == pytest.approx(bound_m, rel=1e-3)  # at 1 m/s: 5.5 cm
    assert max(lag_m[90:]) <= bound_m * 1.001  # steady state after 3 s


def test_noisy_ramp_lag_stays_under_the_bound() -> None:
    rng = np.random.default_rng(1)
    filt = _metres_filter()
    errors = []
    for i in range(300):
        x_m = 1.0 * i * DT_S
        out = filt(x_m + rng.normal(0.0, 0.02, 78), i * FRAME_NS)
        if i >= 60:
            errors.append(x_m - out)
    bound_m = 1.0 / (2 * math.pi * (CFG.min_cutoff_hz + CFG.beta * 1.0))
    assert 0.5 * bound_m < np.mean(errors) < bound_m  # noise only raises the cutoff


def test_step_is_followed_within_the_min_cutoff_bound() -> None:
    """Each sample the remaining error of a step shrinks by at least 1 - alpha(min_cutoff)."""
    filt = _metres_filter()
    step_m, tol_m = 0.5, 0.01
    for i in range(30):
        filt(np.zeros(3), i * FRAME_NS)
    frames = None
    for k in range(200):
        out = filt(np.full(3, step_m), (30 + k) * FRAME_NS)
        if frames is None and abs(out[0] - step_m) < tol_m:
            frames = k + 1
    bound = math.ceil(math.log(tol_m / step_m) / math.log(1.0 - _alpha(CFG.min_cutoff_hz)))
    assert frames is not None and frames <= bound  # bound = 49 frames (1.6 s)
    assert frames * DT_S <= 0.35  # the speed term opens the filter: measured 6 frames (0.2 s)


def test_nan_resets_only_that_entry() -> None:
    filt = _metres_filter()
    for i in range(30):
        out = filt(np.array([1.0, 1.0]), i * FRAME_NS)
    out = filt(np.array([np.nan, 1.0]), 30 * FRAME_NS)
    assert np.isnan(out[0]) and out[1] == pytest.approx(1.0)
    out = filt(np.array([1.05, 1.05]), 31 * FRAME_NS)
    assert out[0] == 1.05  # restarted from the new value, not blended with the old 1.0
    assert 1.0 < out[1] < 1.025  # the other entry kept its state and is filtered
    smoother = PoseSmoother()
    joints = np.ones((26, 3))
    smoother.update([_pose(joints)], 0)
    hole = joints.copy()
    hole[5] = np.nan
    (out,) = smoother.update([_pose(hole)], FRAME_NS)
    assert np.isnan(out.joints_cam_m[5]).all() and np.isfinite(out.joints_cam_m[6:]).all()
    (out,) = smoother.update([_pose(joints + 0.05)], 2 * FRAME_NS)
    np.testing.assert_array_equal(out.joints_cam_m[5], [1.05, 1.05, 1.05])
    assert ((out.joints_cam_m[6] > 1.0) & (out.joints_cam_m[6] < 1.025)).all()


def test_new_id_starts_fresh_and_old_ids_are_forgotten() -> None:
    smoother = PoseSmoother(SmoothingConfig(forget_after_s=1.0, max_persons=4))
    for i in range(30):
        smoother.update([_pose(np.zeros((26, 3)), person_id=1)], i * FRAME_NS)
    (fresh,) = smoother.update([_pose(np.full((26, 3), 5.0), person_id=2)], 30 * FRAME_NS)
    np.testing.assert_array_equal(fresh.joints_cam_m, 5.0)  # not pulled toward person 1
    assert smoother.known_ids == (1, 2)
    smoother.update([], 30 * FRAME_NS + int(1.01e9))
    assert smoother.known_ids == ()
    for i in range(10):  # many ids in one stream: memory stays bounded by max_persons
        smoother.update([_pose(np.zeros((26, 3)), person_id=10 + i)], (70 + i) * FRAME_NS)
    assert smoother.known_ids == (16, 17, 18, 19)
    smoother.reset()
    assert smoother.known_ids == ()


def test_repeated_stamp_returns_raw_and_pixels_pass() -> None:
    smoother = PoseSmoother()
    px = np.full((26, 2), 100.0)
    smoother.update([_pose(np.zeros((26, 3)), px=px)], 0)
    (moved,) = smoother.update([_pose(np.ones((26, 3)), px=px + 50)], FRAME_NS)
    assert 0.0 < moved.joints_cam_m[0, 0] < 1.0 and 100.0 < moved.joints_px[0, 0] < 150.0
    (same,) = smoother.update([_pose(np.full((26, 3), 2.0), px=px)], FRAME_NS)  # dt = 0
    np.testing.assert_array_equal(same.joints_cam_m, 2.0)
    np.testing.assert_array_equal(same.joints_px, px)
    (older,) = smoother.update([_pose(np.full((26, 3), 3.0))], 0)  # dt < 0
    np.testing.assert_array_equal(older.joints_cam_m, 3.0)
    assert older.joints_px is None
    np.testing.assert_array_equal(older.confidence, 0.8)
    assert older.person_id == 1


def test_inputs_are_validated() -> None:
    smoother = PoseSmoother()
    assert smoother.update([], 0) == ()
    with pytest.raises(PrivposeInputError, match="distinct id"):
        smoother.update([_pose(np.zeros((26, 3))), _pose(np.zeros((26, 3)))], 1)
    with pytest.raises(PrivposeInputError, match="integer nanoseconds"):
        smoother.update([], 0.5)  # type: ignore[arg-type]
    filt = _metres_filter()
    filt(np.zeros(3), 0)
    with pytest.raises(PrivposeInputError, match=r"reset\(\)"):
        filt(np.zeros(4), 1)
    with pytest.raises(PrivposeInputError, match="min_cutoff_hz"):
        SmoothingConfig(min_cutoff_hz=0.0)
    with pytest.raises(PrivposeInputError, match="beta"):
        OneEuroFilter(1.0, -1.0, 1.0)
    default = OneEuroFilter()
    assert (default.min_cutoff_hz, default.beta, default.d_cutoff_hz) == (
        CFG.min_cutoff_hz,
        CFG.beta,
        CFG.d_cutoff_hz,
    )
