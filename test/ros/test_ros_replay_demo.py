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


def test_demo_json_reports_the_contract_fields(tmp_path, capsys) -> None:
    from privpose_ros.model.deployable import DeployableRGBModel, ModelConfig, save_deployable

    torch.manual_seed(0)
    weights = tmp_path / "random.safetensors"
    save_deployable(DeployableRGBModel(ModelConfig.tiny()), weights)
    out = tmp_path / "demo"
    argv = ["demo", "--model", "privpose_rgb", "--weights", str(weights), "--backend", "torch"]
    argv += ["--refine", "lifting"]
    argv += ["--frames", "20", "--rate", "15", "--width", "160", "--height", "120"]
    argv += ["--distinct", "2", "--threads", "1", "--out", str(out), "--pngs", "2", "--json"]
    assert cli_main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("frames_in", "frames_out", "dropped", "mpjpe_mm", "latency_ms_p50"):
        assert key in summary
    assert summary["frames_in"] == 20
    assert summary["frames_out"] + summary["dropped"] == 20
    assert summary["frames_out"] >= 5  # a tiny model on a shared machine keeps up mostly
    assert 0 < summary["latency_ms_p50"] <= summary["latency_ms_p95"]
    assert summary["backend"] == "torch"
    pngs = sorted(out.glob("frame_*.png"))
    assert len(pngs) == 2
    import cv2

    image = cv2.imread(str(pngs[0]))
    assert image.shape == (120, 160, 3)


def test_synthetic_frames_carry_ground_truth() -> None:
    frames = synthetic_frames(2, seed=1, width=64, height=48)
    assert frames[0].rgb.shape == (48, 64, 3) and frames[0].depth_mm.dtype == np.uint16
    assert frames[1].joints_cam_m.shape == (26, 3)
    assert np.all(frames[1].joints_cam_m[:, 2] > 0.3)
