"""The residual lifter: base = the front end exactly; residuals move it as the geometry says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.crop import rotated_crop_camera
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.landmarks import LANDMARK_CROP_PX, Landmarks, Roi
from privpose_ros.core.pose import PersonPose
from privpose_ros.model.residual.geometry import ROOT_INDEX, apply_residuals, residual_targets
from privpose_ros.model.residual.net import (
    ResidualConfig,
    ResidualNet,
    load_residual_weights,
    write_residual_weights,
)
from privpose_ros.runtime.placement import MonocularLifter
from privpose_ros.runtime.residual_lifter import ResidualLifter, person_crop_camera

VGA = CameraIntrinsics(fx=525.0, fy=525.0, cx=319.5, cy=239.5, width=640, height=480)
DIR_3DHP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real3d"


def _person(rng: np.random.Generator, rotation: float) -> PersonPose:
    from privpose_ros.core.blazepose import confidence_to_canonical, landmarks_to_canonical
    from privpose_ros.core.joints import CANONICAL

    world = np.column_stack(
        [rng.uniform(-0.3, 0.3, 33), rng.uniform(-0.8, 0.9, 33), rng.uniform(-0.15, 0.15, 33)]
    )
    cam = world + [0.3, -0.1, 3.2]
    px = cam[:, :2] / cam[:, 2:] * VGA.fx + [VGA.cx, VGA.cy] + rng.normal(0, 2, (33, 2))
    vis = rng.uniform(0.5, 1.0, 33)
    roi = Roi(px.mean(0), 1.4 * float(np.ptp(px[:, 1])), rotation)
    lm = Landmarks(px, np.zeros(33), vis, np.full(33, 0.95), world, 0.99, roi, roi)
    joints_px = landmarks_to_canonical(px)
    return PersonPose(
        joints_cam_m=np.full((CANONICAL.num_joints, 3), np.nan),
        confidence=np.clip(confidence_to_canonical(vis), 0, 1),
        joint_set=CANONICAL,
        person_id=0,
        joints_px=joints_px,
        score=0.9,
        box_px=np.concatenate([joints_px.min(0), joints_px.max(0)]),
        landmarks=lm,
    )


@pytest.fixture(scope="module")
def frame_and_persons():
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    persons = (_person(rng, 0.0), _person(rng, 0.5), _person(rng, -2.0))
    return RGBDFrame(rgb, VGA, None, 1, "cam"), persons


@pytest.mark.parametrize("variant", ["rgb", "rgb_hall"])
def test_zero_residual_is_the_front_end_exactly(frame_and_persons, variant: str) -> None:
    frame, persons = frame_and_persons
    torch.manual_seed(0)
    lifter = ResidualLifter(net=ResidualNet(ResidualConfig(variant=variant)))
    got = lifter.lift(frame, persons)
    want = MonocularLifter(1.1).lift(frame, persons)
    assert len(lifter.last_residuals) == len(persons)
    for du, dz, log_root in lifter.last_residuals:  # an untrained net: exactly zero
        assert not du.any() and not dz.any() and log_root == 0.0
    for g, w in zip(got, want, strict=True):
        assert np.isfinite(w.joints_cam_m).all()
        assert np.array_equal(g.joints_cam_m, w.joints_cam_m)  # bit for bit
        assert np.array_equal(g.joints_px, w.joints_px)
        assert np.array_equal(g.confidence, w.confidence)


def test_residuals_move_the_base_as_the_geometry_says(frame_and_persons, tmp_path) -> None:
    frame, persons = frame_and_persons
    torch.manual_seed(1)
    net = ResidualNet(ResidualConfig(variant="rgb"))
    with torch.no_grad():
        net.head.out.bias.copy_(torch.tensor([0.5, -0.25, 0.4]))
        net.head.root_out.bias.fill_(1.0)
    path = tmp_path / "r.safetensors"
    write_residual_weights(path, net, {"note": "test"})
    loaded, meta = load_residual_weights(path)
    assert meta["note"] == "test" and loaded.config == net.config
    lifter = ResidualLifter(weights_path=path)
    got = lifter.lift(frame, persons)
    base = MonocularLifter(1.1).lift(frame, persons)
    for g, b, (du, dz, log_root) in zip(got, base, lifter.last_residuals, strict=True):
        np.testing.assert_allclose(du, np.tile([2.0, -1.0], (26, 1)), rtol=1e-6)
        np.testing.assert_allclose(dz, 0.02, rtol=1e-6)
        assert log_root == pytest.approx(0.05)
        cam = person_crop_camera(b, frame)
        want = apply_residuals(b.joints_cam_m, cam, du, dz, log_root)
        np.testing.assert_array_equal(g.joints_cam_m, want)
        # the root moved along its own ray by exp(log_root) plus its own dz
        r = ROOT_INDEX
        ratio = np.linalg.norm(g.joints_cam_m[r]) / np.linalg.norm(b.joints_cam_m[r])
        assert abs(ratio / np.exp(log_root) - 1) < 0.02
        shift_px = (g.joints_px - b.joints_px) @ cam.crop_to_src[:, :2]  # back to crop axes
        s2 = cam.src_px_per_crop_px**2
        np.testing.assert_allclose(shift_px / s2, du, atol=1e-9)


def test_residual_targets_round_trip() -> None:
    rng = np.random.default_rng(2)
    cam = rotated_crop_camera(Roi(np.array([300.0, 220.0]), 300.0, 0.7).crop_to_image(),
                              LANDMARK_CROP_PX, VGA)
    base = rng.normal(0, 0.4, (26, 3)) + [0.2, 0.0, 3.0]
    target = base * 1.15 + rng.normal(0, 0.05, (26, 3))
    du, dz, log_root = residual_targets(base, target, cam)
    assert log_root == pytest.approx(np.log(np.linalg.norm(target[0]) / np.linalg.norm(base[0])))
    np.testing.assert_allclose(apply_residuals(base, cam, du, dz, log_root), target, atol=1e-9)
    zero = apply_residuals(base, cam, np.zeros((26, 2)), np.zeros(26), 0.0)
    assert np.array_equal(zero, base)


@pytest.mark.skipif(not DIR_3DHP.is_dir(), reason="needs ../shared/data/real3d (3DHP frames)")
def test_zero_residual_is_the_front_end_exactly_on_a_real_frame(tmp_path) -> None:
    pytest.importorskip("onnxruntime", reason="the front end runs on ONNX Runtime")
    from privpose_ros.data import real
    from privpose_ros.runtime.people import FrontEndConfig, PeopleEstimator
    from privpose_ros.runtime.runner import RunnerConfig

    f = real.read_3dhp(DIR_3DHP / "mpi_inf_3dhp")[0]
    frame = RGBDFrame(real.load_rgb(f.image_path), f.intrinsics, None, 1, "cam")
    config = FrontEndConfig(runner=RunnerConfig(cache_dir=tmp_path), detect_every_n=1)
    with PeopleEstimator(config) as est:
        persons = est.find_persons(frame)
    assert persons
    torch.manual_seed(0)
    got = ResidualLifter(net=ResidualNet(ResidualConfig())).lift(frame, persons)
    want = MonocularLifter(config.world_scale).lift(frame, persons)
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g.joints_cam_m, w.joints_cam_m)
        assert np.array_equal(g.joints_px, w.joints_px)


def test_privpose_lifter_runs_residual_weights(frame_and_persons, tmp_path) -> None:
    from privpose_ros.runtime.lifter import PrivposeLifter, PrivposeLifterConfig
    from privpose_ros.runtime.runner import RunnerConfig

    frame, persons = frame_and_persons
    path = tmp_path / "zero.safetensors"
    torch.manual_seed(0)
    write_residual_weights(path, ResidualNet(ResidualConfig()))
    config = PrivposeLifterConfig(weights_path=path, runner=RunnerConfig(cache_dir=tmp_path))
    with PrivposeLifter(config) as lifter:
        assert lifter.backend_name == "onnxruntime"  # the runner's auto on a CPU
        got = lifter.lift(frame, persons)
    for g, w in zip(got, MonocularLifter(1.1).lift(frame, persons), strict=True):
        assert np.array_equal(g.joints_cam_m, w.joints_cam_m)


def test_onnx_runtime_graph_matches_torch_and_keeps_zero_exact(frame_and_persons, tmp_path):
    pytest.importorskip("onnxruntime", reason="the exported graph runs on ONNX Runtime")
    from privpose_ros.runtime.runner import RunnerConfig

    frame, persons = frame_and_persons
    run = RunnerConfig(backend="onnxruntime", cache_dir=tmp_path, threads=2)
    torch.manual_seed(0)
    zero = ResidualNet(ResidualConfig())
    path = tmp_path / "zero.safetensors"
    write_residual_weights(path, zero)
    with ResidualLifter(weights_path=path, runner=run) as lifter:
        assert lifter.backend_name == "onnxruntime" and lifter.onnx_path.is_file()
        got = lifter.lift(frame, persons)
    for g, w in zip(got, MonocularLifter(1.1).lift(frame, persons), strict=True):
        assert np.array_equal(g.joints_cam_m, w.joints_cam_m)  # exact through ONNX too
    # a net with non-zero residuals: the graph agrees with torch (checked at export)
    net = ResidualNet(ResidualConfig(variant="rgb"))
    with torch.no_grad():
        for p in net.head.parameters():
            p.add_(0.01 * torch.randn_like(p))
    moved = tmp_path / "moved.safetensors"
    write_residual_weights(moved, net)
    with ResidualLifter(weights_path=moved, runner=run) as ort_lifter:
        a = ort_lifter.lift(frame, persons)
    b = ResidualLifter(weights_path=moved).lift(frame, persons)
    for x, y, w in zip(a, b, MonocularLifter(1.1).lift(frame, persons), strict=True):
        assert not np.array_equal(y.joints_cam_m, w.joints_cam_m)
        np.testing.assert_allclose(x.joints_cam_m, y.joints_cam_m, atol=2e-3)
