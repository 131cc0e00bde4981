"""BlazePose heavy (``frontend.landmark_model: heavy``): shipped, selectable everywhere full is,
the same graph interface as full, and a person on a real photo.

Parity of the shipped file with TF Lite is checked with full and lite in
test_runtime_frontend_parity.py (its golden outputs hold heavy too). The real photo is read in
place from ../shared/data; that test skips with a reason when the folder is absent.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from privpose_ros.apps import bench_cmd, eval_cmd, infer_cmd
from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.joints import CANONICAL_JOINTS
from privpose_ros.ros.params import LANDMARK_MODELS as NODE_LANDMARK_MODELS
from privpose_ros.ros.params import FrontendParams
from privpose_ros.runtime.graph import open_graph
from privpose_ros.runtime.people import (
    LANDMARK_MODELS,
    WEIGHTS_DIR,
    FrontEndConfig,
    PeopleEstimator,
    landmark_file,
)
from privpose_ros.runtime.runner import RunnerConfig

pytest.importorskip("onnxruntime", reason="onnxruntime runs the shipped front-end graphs")

ROOT = Path(__file__).resolve().parents[2]
DIR_COCO = ROOT.parent / "shared" / "data" / "real2d" / "coco"
PHOTO = "000000000785.jpg"  # one person, all 17 keypoints labelled
LIMBS = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
LIMB_NAMES = tuple(f"{side}_{part}" for part in LIMBS for side in ("left", "right"))
COCO_LIMBS = tuple(range(5, 17))  # COCO-17: the same 12 joints in the same order
HEAVY_MAX_BYTES = 30 * 1024 * 1024  # what the repository may carry


def _io(path: Path) -> tuple[dict, dict]:
    runner = open_graph(path, backend="onnxruntime")
    try:
        session = runner._session
        inputs = {i.name: (i.type, i.shape[1:]) for i in session.get_inputs()}
        outputs = {o.name: (o.type, o.shape[1:]) for o in session.get_outputs()}
        dynamic = [v.shape[0] for v in [*session.get_inputs(), *session.get_outputs()]]
    finally:
        runner.close()
    assert all(isinstance(d, str) for d in dynamic), f"{path.name}: batch must be dynamic"
    return inputs, outputs


def test_heavy_is_shipped_with_the_interface_of_full():
    heavy = WEIGHTS_DIR / landmark_file("heavy")
    assert heavy.is_file() and heavy.stat().st_size < HEAVY_MAX_BYTES
    assert _io(heavy) == _io(WEIGHTS_DIR / landmark_file("full"))
    sources = json.loads((WEIGHTS_DIR / "FRONTEND_SOURCES.json").read_text())
    assert sources["files"][heavy.name]["from"] == "@mediapipe/pose/pose_landmark_heavy.tflite"
    assert "weights/" + heavy.name in (ROOT / "setup.py").read_text()  # installed


def test_heavy_is_selectable_wherever_full_is():
    assert "heavy" in LANDMARK_MODELS and set(NODE_LANDMARK_MODELS) == set(LANDMARK_MODELS)
    assert FrontEndConfig(landmark_model="heavy").landmark_model == "heavy"
    assert FrontendParams(landmark_model="heavy").landmark_model == "heavy"
    for module in (bench_cmd, infer_cmd, eval_cmd):
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        (action,) = [a for a in parser._actions if a.dest == "landmark_model"]
        assert set(action.choices) == set(LANDMARK_MODELS), module.__name__
    parser = argparse.ArgumentParser()
    eval_cmd.add_arguments(parser)
    assert parser.parse_args(["--landmark-model", "heavy"]).landmark_model == "heavy"
    assert parser.parse_args([]).landmark_model is None  # the front end's default


@pytest.mark.skipif(
    not (DIR_COCO / "test_coco.json").is_file(), reason=f"real COCO photos not found at {DIR_COCO}"
)
def test_heavy_finds_the_person_on_a_real_photo(tmp_path):
    ann = json.loads((DIR_COCO / "test_coco.json").read_text())
    (image,) = [i for i in ann["images"] if i["file_name"] == PHOTO]
    (person,) = [a for a in ann["annotations"] if a["image_id"] == image["id"]]
    rgb = np.ascontiguousarray(cv2.imread(str(DIR_COCO / PHOTO))[..., ::-1])
    h, w = rgb.shape[:2]
    k = CameraIntrinsics(float(w), float(w), (w - 1) / 2, (h - 1) / 2, w, h)
    runner = RunnerConfig(backend="onnxruntime", cache_dir=tmp_path)
    config = FrontEndConfig(runner=runner, landmark_model="heavy", detect_every_n=1)
    with PeopleEstimator(config) as estimator:
        found = estimator.find_persons(RGBDFrame(rgb, k, None))
    assert len(found) == 1, f"{PHOTO}: {len(found)} persons"
    truth = np.asarray(person["keypoints"], dtype=np.float64).reshape(17, 3)[list(COCO_LIMBS)]
    ours = found[0].joints_px[[CANONICAL_JOINTS.index(n) for n in LIMB_NAMES]]
    error = np.linalg.norm(ours - truth[:, :2], axis=1).mean()
    scale = math.sqrt(person["bbox"][2] * person["bbox"][3])
    assert error < 0.1 * scale, f"mean limb error {error:.1f} px, box scale {scale:.0f} px"
