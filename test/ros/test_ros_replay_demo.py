"""`privpose replay` sources and `privpose demo` end to end: the stills (small random v2 weights,
few frames), the walking video (the shipped front end) and the video's tracking figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="rclpy not installed: run `make setup`")
torch = pytest.importorskip("torch", reason="torch not installed")

from privpose_ros.apps.replay import camera_info_msg, dataset_frames, synthetic_frames  # noqa: E402
from privpose_ros.cli import main as cli_main  # noqa: E402


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


def _v2_weights(path):
    """Small self-written v2 weights (random init, seeded) for ``--model privpose``."""
    from privpose_ros.model.posenet.codec import PosenetConfig
    from privpose_ros.model.posenet.net import Posenet
    from privpose_ros.model.posenet.weights import write_posenet_weights

    torch.manual_seed(0)
    write_posenet_weights(path, Posenet(PosenetConfig(variant="rgb")))
    return path


def _frame_error_mm(frame, weights, threshold: float) -> tuple[float, float]:
    """As the demo's graph computes it but without ROS: the front end, the v2 lifter with
    ``weights`` (torch) and depth lifting, joints under ``threshold`` unknown; mean error (mm)
    of the known joints against the ground truth, and the known fraction. (The node tracks and
    smooths, which leaves a still frame's joints as they are.)"""
    from privpose_ros.ros.launch_args import refine_parameters
    from privpose_ros.ros.params import config_from_values
    from privpose_ros.ros.processing import default_pipeline

    values = {"model": "privpose", "weights_path": str(weights), "backend": "torch"}
    values.update({"threads": 1, "frontend.detect_every_n": 1, "tracking.enabled": False})
    values.update(refine_parameters("lifting"))
    with default_pipeline(config_from_values(values)) as pipeline:
        result = pipeline.process(frame)
    (person,) = result.persons
    ok = person.confidence >= threshold
    diff = person.joints_cam_m[ok] - frame.joints_cam_m[ok]
    return float(np.linalg.norm(diff, axis=1).mean() * 1000.0), float(ok.mean())


def test_demo_reports_what_the_node_answered_against_the_ground_truth(tmp_path, capsys) -> None:
    """10 frames of one still scene through the node process with ``--model privpose`` (small
    self-written v2 weights) and depth lifting; the summary's error must be the one recomputed
    here: a node that ignores depth or the given weights, frames matched to the wrong ground
    truth, metres taken for millimetres all miss it."""
    from privpose_ros.apps.draw import PRED_BGR, TRUTH_BGR

    out = tmp_path / "demo"
    weights = _v2_weights(tmp_path / "v2.safetensors")
    argv = ["demo", "--model", "privpose", "--weights", str(weights), "--backend", "torch"]
    argv += ["--stills", "--refine", "lifting", "--frames", "10", "--rate", "5", "--width", "640"]
    argv += ["--height", "480", "--distinct", "1", "--seed", "3", "--threads", "1"]
    argv += ["--confidence-threshold", "0.003", "--out", str(out), "--pngs", "2", "--json"]
    assert cli_main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    (frame,) = synthetic_frames(1, seed=3, width=640, height=480)
    error, known = _frame_error_mm(frame, weights, 0.003)
    assert 0.0 < known < 1.0  # random weights (confidence 0.001-0.004): some joints known
    assert summary["frames_in"] == 10 and summary["backend"]
    assert 3 <= summary["frames_out"] <= 10 and summary["dropped"] == 10 - summary["frames_out"]
    assert summary["node_skipped"] == {}
    assert summary["input_rate_hz"] == pytest.approx(5.0, rel=0.2)
    assert summary["person_found_rate"] == 1.0
    assert summary["mpjpe_mm"] == pytest.approx(error, abs=0.06), (summary, error)
    assert summary["known_joint_fraction"] == pytest.approx(known, abs=6e-4)
    assert 0 < summary["latency_ms_p50"] <= summary["latency_ms_p95"] < 5000.0
    assert summary["latency_ms_p95"] <= summary["latency_ms_max"]
    pngs = sorted(out.glob("frame_*.png"))
    assert len(pngs) == 2
    import cv2

    image = cv2.imread(str(pngs[0]))
    assert image.shape == (480, 640, 3)
    for colour in (PRED_BGR, TRUTH_BGR):  # the prediction and the ground truth are drawn
        assert np.all(image == colour, axis=2).sum() >= 10, colour


def test_synthetic_frames_carry_ground_truth() -> None:
    frames = synthetic_frames(2, seed=1, width=64, height=48)
    assert frames[0].rgb.shape == (48, 64, 3) and frames[0].depth_mm.dtype == np.uint16
    assert frames[1].joints_cam_m.shape == (26, 3)
    assert np.all(frames[1].joints_cam_m[:, 2] > 0.3)


def test_demo_scores_only_frames_with_ground_truth() -> None:
    from privpose_ros.apps.demo_cmd import _metrics
    from privpose_ros.apps.graph_harness import PoseOutput
    from privpose_ros.core.camera import CameraIntrinsics
    from privpose_ros.core.frame import LabeledFrame, RGBDFrame

    k = CameraIntrinsics(50.0, 50.0, 15.5, 11.5, 32, 24)
    rgb = np.zeros((24, 32, 3), np.uint8)
    truth = np.tile([0.0, 0.0, 2.0], (26, 1))
    frames = [LabeledFrame(rgb, k, joints_cam_m=truth), RGBDFrame(rgb, k)]  # a bag frame: no GT
    outputs = {
        100: PoseOutput(100 + 5_000_000, truth + 0.01, "cam"),
        200: PoseOutput(200 + 3_000_000, truth + 1.0, "cam"),
    }
    summary = _metrics({100: 0, 200: 1}, outputs, frames)
    assert summary["frames_out"] == 2 and summary["person_found_rate"] == 1.0
    assert summary["mpjpe_mm"] == 17.3  # 10 mm on each axis of frame 0; frame 1 is not scored
    assert summary["latency_ms_p50"] == 4.0


def _walk_frames(in_view: np.ndarray, visible: np.ndarray):  # noqa: ANN202
    """WalkFrames of two walkers standing at 3 m and 4 m (ground truth only; tiny images)."""
    from privpose_ros.core.camera import CameraIntrinsics
    from privpose_ros.data.sequence import WalkFrame

    k = CameraIntrinsics(50.0, 50.0, 15.5, 11.5, 32, 24)
    rgb = np.zeros((24, 32, 3), np.uint8)
    offsets = np.linspace(-0.5, 0.5, 26)[:, None] * [0.3, 1.0, 0.1]
    truth = np.stack([offsets + [0.0, 0.0, 3.0], offsets + [1.0, 0.0, 4.0]])
    return [
        WalkFrame(
            rgb,
            k,
            stamp_ns=i,
            person_ids=np.arange(2),
            people_joints_cam_m=truth,
            people_visible=np.repeat(visible[i][:, None], 26, 1),
            people_in_view=in_view[i],
        )
        for i in range(len(in_view))
    ], truth


def test_visits_end_only_after_an_absence_of_leave_s() -> None:
    from privpose_ros.apps.demo_cmd import _visits

    seen = np.array([1, 1, 0, 1] + [0] * 15 + [1, 0, 1], bool)
    expected = [0, 0, 0, 0] + [-1] * 15 + [1, 1, 1]
    assert _visits(seen, gap_frames=10).tolist() == expected


@pytest.mark.parametrize(("back_id", "reids", "false_reids"), [(1, 1, 0), (2, 0, 1), (8, 0, 0)])
def test_video_metrics_count_found_switches_and_re_ids(back_id, reids, false_reids) -> None:
    """Two walkers, 100 frames at 10 Hz: walker 0 leaves for 3 s (frames 30-59) and comes back
    published as ``back_id`` (1: their own id, 2: walker 1's old id, 8: a new one); walker 1 is
    hidden in frames 40-44 (in the image, nothing visible), not published in 42 and published
    under a new id (5) from 45 on; frame 70 has a skeleton far from everyone, frame 80 no
    answer. Published joints are 1 cm off on each axis, two of them unknown."""
    from privpose_ros.apps.demo_cmd import _video_metrics

    in_view = np.ones((100, 2), bool)
    in_view[30:60, 0] = False
    visible = in_view.copy()
    visible[40:45, 1] = False
    frames, truth = _walk_frames(in_view, visible)
    published = truth + 0.01
    published[:, :2] = np.nan
    clouds: dict[int, dict[int, np.ndarray]] = {}
    for i in range(100):
        persons = {}
        if in_view[i, 0]:
            persons[1 if i < 30 else back_id] = published[0]
        if i != 42:
            persons[2 if i < 45 else 5] = published[1]
        if i == 70:
            persons[9] = published[0] + [0.0, 0.0, 7.0]
        if i != 80:
            clouds[1000 + i] = persons
    sent = {1000 + i: i for i in range(100)}
    figures = _video_metrics(sent, clouds, frames, rate_hz=10.0)
    assert figures["frames_scored"] == 99
    assert figures["persons_present"] == (30 + 39) + (100 - 5 - 1)
    assert figures["persons_found"] == figures["persons_present"]
    assert figures["person_found_rate"] == 1.0
    assert figures["false_persons"] == 1
    assert figures["mpjpe_mm"] == 17.3 and figures["known_joint_fraction"] == 0.923
    assert figures["id_switches"] == 1  # walker 1: 2 -> 5 within one visit
    assert figures["returns"] == 1
    assert (figures["reid_successes"], figures["false_reids"]) == (reids, false_reids)
    assert figures["published_ids"] == len({1, 2, 5, 9, back_id})


def test_a_return_recognised_within_a_second_counts_in_reid_within_1s() -> None:
    """Walker 0 comes back (frame 60, 10 Hz) as a new id 8 for 3 frames, then as their old 1:
    not a first-id re-id, one id switch, and a re-id within 1 s; walker 1 stays id 2."""
    from privpose_ros.apps.demo_cmd import _video_metrics

    in_view = np.ones((100, 2), bool)
    in_view[30:60, 0] = False
    frames, truth = _walk_frames(in_view, in_view.copy())
    clouds = {}
    for i in range(100):
        persons = {2: truth[1]}
        if in_view[i, 0]:
            persons[8 if 60 <= i < 63 else 1] = truth[0]
        clouds[1000 + i] = persons
    figures = _video_metrics({1000 + i: i for i in range(100)}, clouds, frames, rate_hz=10.0)
    assert figures["returns"] == 1 and figures["reid_successes"] == 0
    assert figures["reid_within_1s"] == 1 and figures["id_switches"] == 1

def test_demo_plays_the_walking_video_and_scores_every_walker(tmp_path, monkeypatch, capsys):
    """The default demo (the video, the shipped front end at the node's own cadence) on 30
    frames at 10 Hz: every figure is there and consistent with the ground truth."""
    from privpose_ros.apps.replay import walking_frames

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # not the user's cache
    argv = ["demo", "--frames", "30", "--rate", "10", "--threads", "1", "--seed", "2"]
    argv += ["--out", str(tmp_path / "demo"), "--pngs", "1", "--json"]
    assert cli_main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["source"] == "synthetic video" and summary["frames_in"] == 30
    assert list((tmp_path / "cache" / "privpose" / "walk_sequence").rglob("chunk_*.npz"))
    frames = walking_frames(30, seed=2, rate_hz=10.0)  # from the cache the demo filled
    present = [int((f.people_visible.sum(1) >= 6).sum()) for f in frames]
    assert 10 <= summary["frames_scored"] <= 30
    assert abs(summary["frames_scored"] - summary["frames_out"]) <= 1
    assert min(present) * summary["frames_scored"] <= summary["persons_present"]
    assert summary["persons_present"] <= sum(present)
    assert summary["persons_found"] >= 0.5 * summary["persons_present"]  # a front end at work
    assert summary["person_found_rate"] == round(
        summary["persons_found"] / summary["persons_present"], 3
    )
    assert 0.0 < summary["mpjpe_mm"] < 300.0
    for key in ("id_switches", "returns", "reid_successes", "false_reids", "false_persons"):
        assert isinstance(summary[key], int) and summary[key] >= 0, key
    assert summary["reid_successes"] <= summary["returns"]
    assert summary["published_ids"] >= 1
    assert 0 < summary["latency_ms_p50"] <= summary["latency_ms_p95"]
    assert summary["output_rate_hz"] > 0
    import cv2

    from privpose_ros.apps.draw import PRED_BGR, TRUTH_BGR

    (png,) = (tmp_path / "demo").glob("frame_*.png")
    image = cv2.imread(str(png))
    for colour in (PRED_BGR, TRUTH_BGR):  # /human_pose and the nearest walker's ground truth
        assert np.all(image == colour, axis=2).sum() >= 10, colour
