"""`privpose replay` sources and `privpose demo` end to end (tiny random model, few frames)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
torch = pytest.importorskip("torch", reason="torch not installed")

from privpose_ros.cli import main as cli_main  # noqa: E402
from privpose_ros.ros.replay import camera_info_msg, dataset_frames, synthetic_frames  # noqa: E402


def test_dataset_frames_read_what_synth_wrote(tmp_path) -> None:
    from privpose_ros.data.dataset import write_dataset
    from privpose_ros.data.synth import SynthConfig, SyntheticGenerator

    config = SynthConfig(width=48, height=32, camera="kinect_v2", block_size=4)
    root = write_dataset(tmp_path / "ds", config, frames=5, seed=2, chunk_size=3)
    frames = list(dataset_frames(root))
    truth = SyntheticGenerator(config).batch(5, seed=2)
    assert len(frames) == 5
    np.testing.assert_array_equal(frames[4].rgb, truth.rgb[4])
    np.testing.assert_array_equal(frames[3].depth_mm, truth.depth_mm[3])
    np.testing.assert_allclose(frames[2].intrinsics.k, truth.k[2])
    assert len(list(dataset_frames(root, limit=2))) == 2
    info = camera_info_msg(frames[0].intrinsics, 1_500_000_000, "cam")
    assert (info.width, info.height, info.header.stamp.sec) == (48, 32, 1)
    np.testing.assert_allclose(np.reshape(info.k, (3, 3)), truth.k[0])
    np.testing.assert_allclose(np.reshape(info.p, (3, 4))[:, :3], truth.k[0])


def _frame_errors_mm(frames, threshold: float) -> tuple[list[float], list[float]]:
    """Per frame, as the demo's graph computes it but without ROS: the shipped privpose_rgb
    model (torch) + depth lifting, joints under ``threshold`` unknown; mean error (mm) of the
    known joints against the ground truth, and the known fraction."""
    from privpose_ros.refine.pipeline import RefineConfig, RefinementPipeline
    from privpose_ros.runtime.estimator import EstimatorConfig, PoseEstimator

    lifting = RefinementPipeline(RefineConfig(lifting=True, skeleton_b=False))
    errors, known = [], []
    with PoseEstimator(EstimatorConfig(backend="torch", threads=1)) as estimator:
        for frame in frames:
            result = estimator.estimate(frame.rgb, frame.intrinsics)
            (person,) = lifting.refine(result, frame.depth_mm, frame.intrinsics).persons
            ok = person.confidence >= threshold
            diff = person.joints_cam_m[ok] - frame.joints_cam_m[ok]
            errors.append(float(np.linalg.norm(diff, axis=1).mean() * 1000.0))
            known.append(float(ok.mean()))
    return errors, known


def _possible_means(values: list[float], frames_out: int, per_value: int) -> list[float]:
    """Means of ``frames_out`` answered frames of two values sent ``per_value`` times each."""
    (a, b), low = values, max(0, frames_out - per_value)
    return [(n * a + (frames_out - n) * b) / frames_out for n in range(low, per_value + 1)]


def test_demo_reports_what_the_node_answered_against_the_ground_truth(tmp_path, capsys) -> None:
    """20 frames (2 distinct, alternating) through the node process with the shipped model and
    depth lifting; the summary's error must be the one of the frames answered, recomputed here:
    a node that ignores depth (measured 417.6 mm instead of 364.1 with all 20 answered), frames
    matched to the wrong ground truth, metres taken for millimetres all miss it."""
    from privpose_ros.ros.draw import PRED_BGR, TRUTH_BGR
    from privpose_ros.ros.params import SPECS

    out = tmp_path / "demo"
    argv = ["demo", "--model", "privpose_rgb", "--backend", "torch", "--refine", "lifting"]
    argv += ["--frames", "20", "--rate", "15", "--width", "160", "--height", "120"]
    argv += ["--distinct", "2", "--seed", "7", "--threads", "1"]
    argv += ["--out", str(out), "--pngs", "2", "--json"]
    assert cli_main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    frames = synthetic_frames(2, seed=7, width=160, height=120)
    errors, known = _frame_errors_mm(frames, SPECS["confidence_threshold"].default)
    assert summary["frames_in"] == 20 and summary["backend"] == "torch"
    # a ~10 ms model keeps up with 15 Hz (measured 20 of 20); no frame is skipped as bad
    assert 15 <= summary["frames_out"] <= 20 and summary["dropped"] == 20 - summary["frames_out"]
    assert summary["node_skipped"] == {}
    assert summary["input_rate_hz"] == pytest.approx(15.0, rel=0.2)
    assert summary["person_found_rate"] == 1.0
    assert summary["mpjpe_mm"] is not None, summary
    means = _possible_means(errors, summary["frames_out"], per_value=10)
    assert min(abs(summary["mpjpe_mm"] - m) for m in means) <= 0.06, (summary, errors)
    known_means = _possible_means(known, summary["frames_out"], per_value=10)
    assert min(abs(summary["known_joint_fraction"] - m) for m in known_means) <= 6e-4
    assert 0 < summary["latency_ms_p50"] <= summary["latency_ms_p95"] < 1000.0
    assert summary["latency_ms_p95"] <= summary["latency_ms_max"]
    pngs = sorted(out.glob("frame_*.png"))
    assert len(pngs) == 2
    import cv2

    image = cv2.imread(str(pngs[0]))
    assert image.shape == (120, 160, 3)
    for colour in (PRED_BGR, TRUTH_BGR):  # the prediction and the ground truth are drawn
        assert np.all(image == colour, axis=2).sum() >= 10, colour


def test_synthetic_frames_carry_ground_truth() -> None:
    frames = synthetic_frames(2, seed=1, width=64, height=48)
    assert frames[0].rgb.shape == (48, 64, 3) and frames[0].depth_mm.dtype == np.uint16
    assert frames[1].joints_cam_m.shape == (26, 3)
    assert np.all(frames[1].joints_cam_m[:, 2] > 0.3)


def test_demo_scores_only_frames_with_ground_truth() -> None:
    from types import SimpleNamespace

    from privpose_ros.core.camera import CameraIntrinsics
    from privpose_ros.core.frame import LabeledFrame, RGBDFrame
    from privpose_ros.ros.demo_cmd import _metrics

    k = CameraIntrinsics(50.0, 50.0, 15.5, 11.5, 32, 24)
    rgb = np.zeros((24, 32, 3), np.uint8)
    truth = np.tile([0.0, 0.0, 2.0], (26, 1))
    frames = [LabeledFrame(rgb, k, joints_cam_m=truth), RGBDFrame(rgb, k)]  # a bag frame: no GT
    poses = {100: (100 + 5_000_000, truth + 0.01), 200: (200 + 3_000_000, truth + 1.0)}
    summary = _metrics({100: 0, 200: 1}, SimpleNamespace(poses=poses), frames)
    assert summary["frames_out"] == 2 and summary["person_found_rate"] == 1.0
    assert summary["mpjpe_mm"] == 17.3  # 10 mm on each axis of frame 0; frame 1 is not scored
    assert summary["latency_ms_p50"] == 4.0
