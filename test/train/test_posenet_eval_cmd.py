"""`privpose eval --weights` on v2 weights (apps/eval_cmd.py, train/posenet_eval_data.py), the v2
start of the refinement ablation (train/refine_eval.py) and `privpose eval --real --lifter`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from privpose_ros import cli
from privpose_ros.apps import eval_cmd
from privpose_ros.core.crop import box_iou
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.data.dataset import write_dataset
from privpose_ros.data.synth import SynthConfig
from privpose_ros.model.posenet.codec import PosenetConfig
from privpose_ros.model.posenet.net import Posenet
from privpose_ros.model.posenet.weights import write_posenet_weights
from privpose_ros.train import posenet_eval as v2_eval
from privpose_ros.train.posenet_eval_data import (
    evaluate_posenet_dataset,
    load_posenet_variant,
    read_blocks,
)
from privpose_ros.train.teacher import PrivilegedPosenet

VAL_SEED = 90001  # the v2 recipe's validation stream
HEADLINE = (
    "mpjpe_mm",
    "pa_mpjpe_mm",
    "map_10cm",
    "pelvis_error_mm",
    "pelvis_error_pct_of_distance",
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """4 frames of 320x240 (the validation stream) and seeded rgb / depth weights."""
    root = tmp_path_factory.mktemp("v2_eval")
    data = write_dataset(
        root / "data", SynthConfig(width=320, height=240, block_size=4), 4, VAL_SEED
    )
    out = {"data": data}
    for variant in ("rgb", "depth"):
        torch.manual_seed(0)
        out[variant] = root / f"{variant}.safetensors"
        write_posenet_weights(out[variant], PrivilegedPosenet(PosenetConfig(variant=variant)))
    return out


def _finite_section(section: dict) -> None:
    for key in (*HEADLINE, "n_frames", "n_persons"):
        assert math.isfinite(section[key]), key
    assert len(section["per_joint_mm"]) == 26
    assert all(math.isfinite(v) for v in section["per_joint_mm"].values())


def test_eval_cli_reports_label_and_frontend_crops(tiny, capsys) -> None:
    argv = ["eval", "--weights", str(tiny["rgb"]), "--data", str(tiny["data"])]
    assert cli.main([*argv, "--variant", "rgb", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["crop_source"] == "label_boxes" and report["variant"] == "rgb"
    assert report["n_frames"] == 4 and report["n_persons"] >= 4
    _finite_section(report)
    front = report["frontend_boxes"]
    assert front["crop_source"] == "frontend_boxes"
    assert front["n_matched"] + front["n_missed"] == front["n_persons"] == report["n_persons"]
    assert front["n_frames"] == 4
    if front["n_matched"]:
        _finite_section(front)
    else:
        assert "skipped" in front
    assert cli.main([*argv, "--variant", "rgb"]) == 0  # the text summary: one line per source
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and "label_boxes" in lines[0] and "frontend_boxes" in lines[1]


def test_label_boxes_give_the_recipe_validation_numbers(tiny) -> None:
    from privpose_ros.train.posenet_data import CropDataConfig, validation_crops

    net = load_posenet_variant(tiny["rgb"], "rgb")
    report = evaluate_posenet_dataset(net, read_blocks(tiny["data"]))
    data = CropDataConfig(width=320, height=240, block_size=4, val_frames=4)
    recipe = v2_eval.evaluate_posenet(net, validation_crops(data, 256))
    assert report["n_persons"] == recipe["n_crops"]
    assert report["mpjpe_mm"] == pytest.approx(recipe["mpjpe_abs_mm"], rel=1e-5)
    assert report["pelvis_error_mm"] == pytest.approx(recipe["pelvis_error_mm"], rel=1e-5)
    assert "frontend_boxes" not in report


def test_metrics_are_exact_on_a_known_offset(tiny, monkeypatch) -> None:
    offset_m = np.array([0.1, 0.0, 0.0])
    monkeypatch.setattr(
        v2_eval, "predict_joints_m", lambda net, crops, *a: crops.joints_cam_m + offset_m
    )
    blocks = read_blocks(tiny["data"])
    net = Posenet(PosenetConfig(variant="rgb"))
    boxes = {"hits": 0}

    def label_detector(rgb, intrinsics):  # the label boxes of the frame with this image
        boxes["hits"] += 1
        i = next(i for i in range(len(blocks[0])) if np.array_equal(blocks[0].rgb[i], rgb))
        return blocks[0].people_boxes_px[i][np.isfinite(blocks[0].people_boxes_px[i]).all(1)]

    report = evaluate_posenet_dataset(net, blocks, label_detector)
    pelvis = np.concatenate([b.people_joints_cam_m[..., 0, :] for b in blocks]).reshape(-1, 3)
    seen = np.concatenate([b.people_visible.any(-1) for b in blocks]).reshape(-1)
    pct = float(np.mean(100.0 * 0.1 / np.linalg.norm(pelvis[seen], axis=-1)))
    for section in (report, report["frontend_boxes"]):
        assert section["mpjpe_mm"] == pytest.approx(100.0, rel=1e-5)
        assert section["pelvis_error_mm"] == pytest.approx(100.0, rel=1e-5)
        assert section["pelvis_error_pct_of_distance"] == pytest.approx(pct, rel=1e-4)
        assert section["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-3)
        assert section["root_rel_mpjpe_mm"] == pytest.approx(0.0, abs=1e-3)
    assert report["frontend_boxes"]["n_matched"] == report["n_persons"] == int(seen.sum())
    assert boxes["hits"] == 4
    missed = evaluate_posenet_dataset(net, blocks, lambda rgb, k: np.zeros((0, 4)))[
        "frontend_boxes"
    ]
    assert missed["n_matched"] == 0 and missed["n_missed"] == report["n_persons"]
    assert "skipped" in missed and "mpjpe_mm" not in missed


def test_depth_variant_scores_depth_crops(tiny) -> None:
    net = load_posenet_variant(tiny["depth"], "depth")
    report = evaluate_posenet_dataset(net, read_blocks(tiny["data"], limit=2))
    assert report["n_frames"] == 2
    _finite_section(report)


def test_match_detections_by_iou() -> None:
    labels = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [np.nan] * 4, [40, 40, 50, 50.0]])
    dets = np.array([[21, 0, 31, 10], [0, 0, 10, 11], [1, 0, 10, 10], [45, 45, 60, 60.0]])
    out = v2_eval.match_detections(dets, labels)
    np.testing.assert_array_equal(out[0], dets[1])  # the better of two detections of person 0
    np.testing.assert_array_equal(out[1], dets[0])
    assert np.isnan(out[2:]).all()  # an empty slot; IoU 25 / 300 < 0.3
    assert box_iou(labels[:1], labels[:1])[0, 0] == pytest.approx(1.0)
    assert np.isnan(v2_eval.match_detections(np.zeros((0, 4)), labels)).all()


def test_variant_mismatch_and_old_weights_fail_clearly(tiny, tmp_path, capsys) -> None:
    from safetensors.torch import save_file

    with pytest.raises(PrivposeInputError, match="pass --variant rgb"):
        load_posenet_variant(tiny["rgb"], "rgb_hall")
    old = tmp_path / "old.safetensors"  # a whole-image model file: no v2 format marker
    save_file({"w": torch.zeros(2)}, str(old), metadata={"variant": "rgb"})
    with pytest.raises(ValueError, match="not a privpose v2 weights file"):
        load_posenet_variant(old, "rgb")
    data = ["--data", str(tiny["data"])]
    for argv, message in (
        (["--weights", str(old), *data, "--variant", "rgb"], "not a privpose v2 weights file"),
        (["--weights", str(tiny["depth"]), *data, "--variant", "rgb"], "pass --variant depth"),
        (["--weights", str(tiny["rgb"]), "--data", str(tmp_path), "--variant", "rgb"], "meta"),
        (["--weights", str(tmp_path / "no.safetensors"), *data, "--variant", "rgb"], "exist"),
        (["--weights", str(tiny["rgb"]), *data], "--variant are required"),
    ):
        assert cli.main(["eval", *argv]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


def _fake_real_report(estimate) -> dict:
    value = estimate(None, None, None)
    return {
        "mode": "real",
        "sets": ["real3d"],
        "real3d": {"mean": {"mpjpe_rel_mm": value, "pelvis_error_mm": 2 * value, "note": "x"}},
    }


def test_eval_real_puts_the_v2_lifter_beside_the_front_end(tmp_path, monkeypatch, capsys) -> None:
    from privpose_ros.runtime.lifter import SHIPPED_WEIGHTS
    from privpose_ros.train import real_eval

    built = []

    def factory(backend, v2_weights=None):
        built.append(v2_weights)
        return lambda rgb, k, d: 100.0 if v2_weights is None else 80.0

    monkeypatch.setattr(eval_cmd, "build_real_estimator", factory)
    monkeypatch.setattr(real_eval, "evaluate_real", lambda root, est, s, c: _fake_real_report(est))
    assert cli.main(["eval", "--real", str(tmp_path), "--json"]) == 0
    both = json.loads(capsys.readouterr().out)
    assert built == [None, SHIPPED_WEIGHTS]
    assert both["frontend"]["real3d"]["mean"]["mpjpe_rel_mm"] == 100.0
    assert both["v2"]["real3d"]["mean"]["mpjpe_rel_mm"] == 80.0
    assert both["v2"]["v2_weights"] == str(SHIPPED_WEIGHTS)
    deltas = both["v2_minus_frontend"]["real3d"]
    assert deltas == {"mpjpe_rel_mm": -20.0, "pelvis_error_mm": -40.0}
    weights = tmp_path / "mine.safetensors"
    argv = ["eval", "--real", str(tmp_path), "--lifter", "v2", "--v2-weights", str(weights)]
    assert cli.main([*argv, "--json"]) == 0
    only = json.loads(capsys.readouterr().out)
    assert only["real3d"]["mean"]["mpjpe_rel_mm"] == 80.0 and built[-1] == weights
    assert cli.main(["eval", "--real", str(tmp_path), "--lifter", "frontend", "--json"]) == 0
    assert "v2_weights" not in json.loads(capsys.readouterr().out) and built[-1] is None


def test_refine_ablation_starts_from_the_v2_rgb_model(tiny, capsys) -> None:
    from privpose_ros.train.refine_eval import frames_of_batch, held_out_batch, rgb_model_start
    from privpose_ros.train.refine_train import generate_frames

    batch = held_out_batch("side", 3)
    frames, expected = frames_of_batch(batch), generate_frames("side", 3, 3000)[0]
    np.testing.assert_array_equal(frames.depth_mm, expected.depth_mm)
    np.testing.assert_array_equal(frames.joints_cam_m, expected.joints_cam_m)
    start = rgb_model_start(batch, tiny["rgb"])
    assert start.joints_cam_m.shape == (3, 26, 3) and start.confidence.shape == (3, 26)
    assert np.isfinite(start.joints_cam_m).all() and np.isfinite(start.joints_px).all()
    assert "v2 RGB model" in start.name
    k = batch.k[0]
    p = start.joints_cam_m[0, 0]
    assert start.joints_px[0, 0, 0] == pytest.approx(k[0, 0] * p[0] / p[2] + k[0, 2])
    with pytest.raises(PrivposeInputError, match="depth teacher"):
        rgb_model_start(batch, tiny["depth"])
    argv = ["eval", "--refine", "ablation", "--start", "rgb_model", "--weights", str(tiny["rgb"])]
    assert cli.main([*argv, "--frames", "2", "--views", "side", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["side"]["start"].startswith("v2 RGB model") and report["side"]["rows"]


def test_the_v2_estimate_is_scored_on_its_own_2d(monkeypatch) -> None:
    from privpose_ros.core.camera import CameraIntrinsics
    from privpose_ros.core.pose import PersonPose, PoseResult
    from privpose_ros.runtime import pipeline

    joints = np.tile([0.1, 0.2, 3.0], (26, 1))
    person = PersonPose(joints, np.ones(26), joints_px=np.full((26, 2), 50.0))

    class FakePipeline:
        @classmethod
        def from_config(cls, config) -> FakePipeline:
            return cls()

        def process(self, frame) -> PoseResult:
            assert frame.rgb.shape == (4, 4, 3) and frame.depth_mm is None
            return PoseResult(persons=(person,), stamp_ns=7)

    monkeypatch.setattr(pipeline, "PosePipeline", FakePipeline)
    rgb, k = np.zeros((4, 4, 3), np.uint8), CameraIntrinsics(4.0, 4.0, 2.0, 2.0, 4, 4)
    front = eval_cmd.build_real_estimator("onnxruntime")(rgb, k, None)
    assert front.persons[0].joints_px is not None  # the front end keeps its own 2D
    v2 = eval_cmd.build_real_estimator("onnxruntime", Path("w.safetensors"))(rgb, k, None)
    # the v2 persons lose the front end's 2D: the metrics project the v2 3D joints instead
    assert v2.persons[0].joints_px is None and v2.stamp_ns == 7
    np.testing.assert_array_equal(v2.persons[0].joints_cam_m, joints)
