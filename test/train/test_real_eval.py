"""Metrics and report of `privpose eval --real` on hand-built values and on ../shared/data."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from privpose_ros import cli
from privpose_ros.apps import eval_cmd
from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.geometry import back_project_px
from privpose_ros.core.joints import CANONICAL
from privpose_ros.core.pose import PersonPose, PoseResult
from privpose_ros.data import real
from privpose_ros.train import real_eval as ev
from privpose_ros.train import real_metrics as m

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LIMBS = real.LIMB_NAMES


def _data(sub: str) -> Path:
    path = DATA / sub
    if not path.is_dir():
        reason = f"real data folder {path} is absent (a fresh clone has no ../shared/data)"
        print(reason)
        pytest.skip(reason)
    return path


def _person(px: dict[str, np.ndarray] | None = None, cam: dict | None = None) -> PersonPose:
    """A canonical person with only the named joints set (NaN elsewhere)."""
    joints_px, joints_cam = np.full((26, 2), np.nan), np.full((26, 3), np.nan)
    for name, value in (px or {}).items():
        joints_px[CANONICAL.index(name)] = value
    for name, value in (cam or {}).items():
        joints_cam[CANONICAL.index(name)] = value
    return PersonPose(joints_cam, np.ones(26), joints_px=None if px is None else joints_px)


def _limb_person(limbs_px: np.ndarray) -> PersonPose:
    return _person({n: limbs_px[i] for i, n in enumerate(LIMBS)})


def test_oks_perfect_and_known_offset() -> None:
    gt = np.arange(24, dtype=float).reshape(12, 2) * 10
    vis = np.full(12, 2)
    assert m.oks(gt, gt, vis, 5000.0) == 1.0
    only_wrist = np.zeros(12)
    only_wrist[4] = 2  # left wrist, sigma 0.062, k = 0.124
    pred = gt.copy()
    pred[4] += (3.0, 4.0)  # d = 5 px
    expected = math.exp(-25.0 / (2 * 1000.0 * 0.124**2))  # exp(-d^2 / (2 s^2 k^2)) = 0.4436
    assert m.oks(pred, gt, only_wrist, 1000.0) == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(0.4436, abs=1e-4)
    two = only_wrist.copy()
    two[0] = 1
    pred[0] = np.nan  # a joint the prediction lacks counts as a miss
    assert m.oks(pred, gt, two, 1000.0) == pytest.approx(expected / 2)
    with pytest.raises(ValueError, match="labelled"):
        m.oks(gt, gt, np.zeros(12), 1000.0)


def test_matching_two_gt_one_pred_and_greedy_order() -> None:
    base = np.tile([[100.0, 100.0]], (12, 1)) + np.arange(12)[:, None] * 8
    gts = [
        real.Person2D(base, np.full(12, 2), 4000.0),
        real.Person2D(base + 300, np.full(12, 2), 4000.0),
    ]
    assert m.image_oks(gts, [base + 300]) == [0.0, 1.0]
    assert m.image_oks(gts, []) == [0.0, 0.0]
    pairs = m.greedy_match(np.array([[0.9, 0.8], [0.85, 0.1]]))
    assert pairs == [(0, 0, 0.9), (1, 1, 0.1)]  # greedy by OKS, one-to-one
    assert m.greedy_match(np.zeros((2, 1))) == []


def test_gt_estimator_scores_one_on_real2d() -> None:
    root = _data("real2d")
    sets = {n: real.read_real2d_set(root / n) for n in real.REAL2D_SETS}
    queue = [im for images in sets.values() for im in images]

    def estimate(rgb, k, depth):
        image = queue.pop(0)
        assert rgb.shape == (image.height, image.width, 3) and depth is None
        assert k.fx == k.fy == max(image.width, image.height)
        return PoseResult(tuple(_limb_person(p.limbs_px) for p in image.persons))

    report = ev.evaluate_real2d(sets, estimate, ev.RealEvalConfig())
    overall = report["overall"]
    assert overall["recall_at_oks"] == 1.0 and overall["mean_oks"] == pytest.approx(1.0)
    assert overall["n_images"] == 16 and overall["n_gt_persons"] == 34
    assert report["per_set"]["coco"]["n_gt_persons"] == 12  # 2 of 14 have no keypoints
    assert report["per_set"]["coco"]["n_skipped_persons"] == 2
    assert report["per_set"]["crowdpose"]["n_gt_persons"] == 4
    assert not queue

    queue = [im for images in sets.values() for im in images]
    shifted = ev.evaluate_real2d(
        sets,
        lambda rgb, k, d: PoseResult(
            tuple(_limb_person(p.limbs_px + 25.0) for p in queue.pop(0).persons)
        ),
        ev.RealEvalConfig(),
    )
    assert 0.0 < shifted["overall"]["mean_oks"] < 0.95


TOY_LIMBS_PX = np.stack([np.linspace(20, 60, 12), np.linspace(10, 50, 12)], axis=1)


def _toy_real2d(root: Path) -> Path:
    """A one-image COCO-style set ``root/real2d/coco`` with one person (12 limb joints)."""
    folder = root / "real2d" / "coco"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "a.jpg"), np.zeros((60, 80, 3), np.uint8))
    ann = {"keypoints": np.concatenate([TOY_LIMBS_PX, np.full((12, 1), 2)], 1).tolist()}
    ann.update(image_id=1, bbox=[10, 5, 60, 50], id=1)
    meta = {"images": [{"id": 1, "file_name": "a.jpg", "width": 80, "height": 60}]}
    meta["categories"] = [{"keypoints": list(LIMBS)}]
    (folder / "test_coco.json").write_text(json.dumps({**meta, "annotations": [ann]}))
    return folder


def _metric_only(rgb, k, depth):  # metric joints only: the evaluator projects them with k
    cam = back_project_px(TOY_LIMBS_PX, 3.0, k)
    return PoseResult((_person(None, {n: cam[i] for i, n in enumerate(LIMBS)}),))


def test_prediction_without_pixels_is_projected(tmp_path: Path) -> None:
    sets = {"toy": real.read_real2d_set(_toy_real2d(tmp_path))}
    report = ev.evaluate_real2d(sets, _metric_only, ev.RealEvalConfig())
    assert report["per_set"]["toy"]["mean_oks"] == pytest.approx(1.0)


def test_eval_real_json_on_a_toy_layout(tmp_path: Path, monkeypatch, capsys) -> None:
    _toy_real2d(tmp_path)
    monkeypatch.setattr(eval_cmd, "build_real_estimator", lambda backend: _metric_only)
    parser = argparse.ArgumentParser()
    eval_cmd.add_arguments(parser)
    plot = tmp_path / "toy.png"
    argv = ["--real", str(tmp_path), "--json", "--plot", str(plot), "--lifter", "frontend"]
    args = parser.parse_args(argv)
    assert eval_cmd.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sets"] == ["real2d"] and report["real3d"] == {
        "skipped": f"no real3d data under {tmp_path}"
    }
    coco = report["real2d"]["per_set"]["coco"]
    assert coco["n_images"] == 1 and coco["n_gt_persons"] == 1 and coco["n_pred_persons"] == 1
    assert coco["recall_at_oks"] == 1.0 and coco["mean_oks"] == pytest.approx(1.0)
    assert report["config"]["oks_threshold"] == 0.5 and plot.is_file()


def test_pose_errors_3d_hand_values() -> None:
    gt = np.array([[0.0, 0.0, 3.0], [0.1, 0.0, 3.0], [0.0, 0.4, 3.0]])
    pred = gt + [0.0, 0.0, 0.3]
    pred[1, 1] += 0.02  # 20 mm off after pelvis alignment
    gt_px = np.array([[10.0, 10.0], [20.0, 10.0], [10.0, 50.0]])
    pred_px = gt_px + [3.0, 4.0]
    out = m.pose_errors_3d(pred, pred_px, gt, gt_px, np.array([True, True, False]))
    assert out["error_2d_px"] == pytest.approx(5.0)
    assert out["mpjpe_rel_mm"] == pytest.approx(20.0)  # joint 2 has no GT
    assert out["pelvis_error_mm"] == pytest.approx(300.0)
    assert out["pelvis_error_pct"] == pytest.approx(10.0)
    assert out["gt_pelvis_distance_m"] == pytest.approx(3.0)


def test_3dhp_gt_estimator_and_gt_bone_lengths() -> None:
    frames = real.read_3dhp(_data("real3d/mpi_inf_3dhp"))
    names = real.MPI_INF_3DHP_17_NAMES
    shared = [n for n in names if n in LIMBS]
    queue = list(frames)

    def estimate(rgb, k, depth):
        f = queue.pop(0)
        assert rgb.shape == (2048, 2048, 3) and k == f.intrinsics and depth is None
        px = {n: f.joints_px[names.index(n)] for n in shared}
        cam = {n: f.joints_cam_m[names.index(n)] + [0.0, 0.0, 0.1] for n in shared}
        decoy = _person({n: v + 400 for n, v in px.items()}, cam)
        return PoseResult((decoy, _person(px, cam)))

    report = ev.evaluate_real3d(frames, estimate, ev.RealEvalConfig())
    mean = report["mean"]
    assert mean["found_rate"] == 1.0 and mean["error_2d_px"] == pytest.approx(0.0, abs=1e-9)
    assert mean["mpjpe_rel_mm"] == pytest.approx(0.0, abs=1e-9)
    assert mean["pelvis_error_mm"] == pytest.approx(100.0)  # the +10 cm depth shift
    assert [r["n_persons"] for r in report["per_frame"]] == [2, 2, 2, 2]
    for f in frames:
        joints = np.full((26, 3), np.nan)
        for n in shared:
            joints[CANONICAL.index(n)] = f.joints_cam_m[names.index(n)]
        assert all(m.bones_in_range(m.bone_lengths_m(joints)).values()), f.camera


def _skeleton_m(depth_z: float = 2.0) -> np.ndarray:
    """A plausible standing adult (canonical, metres, optical frame) 2 m away."""
    pts = {
        "left_shoulder": (0.18, -0.45), "right_shoulder": (-0.18, -0.45),
        "left_elbow": (0.2, -0.15), "right_elbow": (-0.2, -0.15),
        "left_wrist": (0.21, 0.1), "right_wrist": (-0.21, 0.1),
        "left_hip": (0.1, 0.05), "right_hip": (-0.1, 0.05),
        "left_knee": (0.1, 0.47), "right_knee": (-0.1, 0.47),
        "left_ankle": (0.1, 0.88), "right_ankle": (-0.1, 0.88),
    }  # fmt: skip
    joints = np.full((26, 3), np.nan)
    for name, (x, y) in pts.items():
        joints[CANONICAL.index(name)] = (x, y, depth_z)
    return joints


def test_bone_lengths_flag_a_one_metre_arm() -> None:
    joints = _skeleton_m()
    assert all(m.bones_in_range(m.bone_lengths_m(joints)).values())
    joints[CANONICAL.index("left_elbow")] = joints[CANONICAL.index("left_shoulder")] + [0, 1, 0]
    lengths = m.bone_lengths_m(joints)
    assert lengths["upper_arm_left"] == pytest.approx(1.0)
    flags = m.bones_in_range(lengths)
    assert flags["upper_arm_left"] is False and flags["forearm_left"] is False
    assert flags["upper_arm_right"] is True
    joints[CANONICAL.index("right_knee")] = np.nan
    assert m.bones_in_range(m.bone_lengths_m(joints))["thigh_right"] is None


def test_behind_surface_fraction_on_a_synthetic_depth() -> None:
    k = CameraIntrinsics(100.0, 100.0, 50.0, 40.0, 100, 80)
    depth = np.full((80, 100), 2000, np.uint16)
    depth[:, :10] = 0  # no reading on the left
    on_ray = lambda u, v, z: back_project_px(np.array([u, v], float), z, k)  # noqa: E731
    joints = np.stack(
        [
            on_ray(50, 40, 1.9),  # in front
            on_ray(60, 40, 2.1),  # behind by 0.1 < margin
            on_ray(70, 40, 2.2),  # behind by 0.2: counted
            on_ray(20, 60, 2.5),  # counted
            on_ray(5, 40, 4.0),  # no depth there: not checked
            on_ray(500, 40, 2.5),  # outside the image: not checked
            [np.nan, np.nan, np.nan],
        ]
    )
    assert m.behind_surface_counts(joints, depth, k, 0.15) == (2, 4)
    with pytest.raises(ValueError, match="depth_mm must be"):
        m.behind_surface_counts(joints, depth[:10], k, 0.15)


def test_rgbd_metrics_on_a_built_frame() -> None:
    k = CameraIntrinsics(300.0, 300.0, 160.0, 120.0, 320, 280)
    depth = np.full((280, 320), 2000, np.uint16)
    frame = RGBDFrame(np.zeros((280, 320, 3), np.uint8), k, depth)
    joints = _skeleton_m(2.05)
    joints[CANONICAL.index("left_wrist")] = (0.21, 0.1, 2.5)  # behind the wall by 0.5 m
    far = _skeleton_m(2.0) + [1.5, 0.0, 0.0]  # someone off to the side
    box = (60.0, 30.0, 260.0, 279.0)

    def estimate(rgb, intr, depth_mm):
        assert depth_mm is depth and intr is k
        return PoseResult((PersonPose(far, np.ones(26)), PersonPose(joints, np.ones(26))))

    out = ev.evaluate_rgbd_tue((real.TueFrame("t", frame, box),), estimate, ev.RealEvalConfig())
    row = out["per_frame"][0]
    assert row["n_persons"] == 2 and row["standing_found"] is True
    assert row["n_bones_out_of_range"] == 1 and row["bones_in_range"]["forearm_left"] is False
    assert row["behind_surface_fraction"] == pytest.approx(1 / 12)  # all 12 joints on depth
    assert row["n_joints_on_depth"] == 12
    assert out["summary"]["standing_found_rate"] == 1.0
    assert m.standing_person_index([np.array([[5.0, 5.0]])], box) is None


def test_eval_real_json_through_the_cli(tmp_path: Path, monkeypatch, capsys) -> None:
    root = _data("")
    calls, backends = [], []

    def fake_factory(backend):
        backends.append(backend)
        return lambda rgb, k, d: calls.append(d is not None) or PoseResult()

    monkeypatch.setattr(eval_cmd, "build_real_estimator", fake_factory)
    plot = tmp_path / "real.png"
    argv = ["eval", "--real", str(root), "--json", "--plot", str(plot), "--backend", "onnxruntime"]
    assert cli.main([*argv, "--lifter", "frontend"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "real" and report["sets"] == ["real2d", "real3d", "rgbd_tue"]
    assert set(report["real2d"]["per_set"]) == set(real.REAL2D_SETS)
    assert report["real2d"]["overall"]["recall_at_oks"] == 0.0
    assert report["real2d"]["overall"]["n_gt_persons"] == 34
    assert len(report["real3d"]["per_frame"]) == 4 and report["real3d"]["mean"]["found_rate"] == 0
    tue = report["rgbd_tue"]
    assert tue["summary"]["n_frames"] == 5 and tue["summary"]["standing_found_rate"] == 0.0
    assert calls == [False] * 20 + [True] * 5  # RGB only on real2d / real3d; depth on rgbd_tue
    assert plot.stat().st_size > 10_000 and report["plot"] == str(plot)
    assert backends == ["onnxruntime"]

    argv = ["eval", "--real", str(root / "real3d"), "--json", "--sets", "real3d"]
    assert cli.main([*argv, "--lifter", "frontend"]) == 0
    only = json.loads(capsys.readouterr().out)
    assert only["sets"] == ["real3d"] and "real2d" not in only
    assert cli.main(["eval", "--real", str(root), "--sets", "real4d", "--lifter", "frontend"]) == 1
    assert "unknown sets" in capsys.readouterr().err
