"""The shipped front-end ONNX graphs reproduce the original runtimes (TF Lite, TF.js).

``frontend_golden.npz`` (written by tools/pretrained/convert.py) holds seeded base images and the
outputs the ORIGINAL runtimes gave for them: 32x32 uint8 noise upsampled x8 (np.repeat) to
256x256 / 255 for the BlazePose landmark models full, lite and heavy (TF Lite), and 16x16 /
12x16 noise upsampled x16 / x32 to int32 MoveNet inputs (TF.js). ONNX Runtime on the shipped
files must give the same numbers; the tool measured <= 0.0025 px on the landmarks and 1.7e-6 on
MoveNet.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from privpose_ros.runtime.graph import OrtGraphRunner, open_graph
from privpose_ros.runtime.people import DETECTOR_FILE, WEIGHTS_DIR, landmark_file

pytest.importorskip("onnxruntime", reason="onnxruntime is needed to run the shipped graphs")

GOLDEN = WEIGHTS_DIR / "frontend_golden.npz"
SOURCES = WEIGHTS_DIR / "FRONTEND_SOURCES.json"
VARIANTS = ("full", "lite", "heavy")
N_LANDMARKS_OUT = 39  # 33 body + 6 alignment points
LM_UP = 8
MN_INPUTS = {"256x256": 16, "384x512": 32}  # golden key -> upsampling factor

XY_TOL_PX = 0.05
WORLD_TOL_M = 1e-3
POSE_FLAG_TOL = 1e-3
HEATMAP_TOL = 1e-2
MOVENET_TOL = 1e-3
MAX_NODE_BYTES = 40 * 1024 * 1024


def _upsample(base: np.ndarray, factor: int) -> np.ndarray:
    return np.repeat(np.repeat(base, factor, axis=1), factor, axis=2)


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture(scope="module")
def crops(golden) -> np.ndarray:
    base = golden["lm_base"]
    assert base.shape == (4, 32, 32, 3) and base.dtype == np.uint8
    out = _upsample(base, LM_UP).astype(np.float32) / 255.0
    assert out.shape == (4, 256, 256, 3)
    return out


@pytest.fixture(scope="module", params=VARIANTS)
def landmark_run(request, crops):
    """(variant, runner, batched outputs on the 4 golden crops)."""
    runner = open_graph(WEIGHTS_DIR / landmark_file(request.param), backend="onnxruntime")
    yield request.param, runner, runner.run({"crop_rgb": crops})
    runner.close()


def test_landmark_graph_has_documented_names_and_shapes(landmark_run):
    _, runner, _ = landmark_run
    assert isinstance(runner, OrtGraphRunner)
    assert runner.input_names == ("crop_rgb",)
    assert set(runner.output_names) == {"landmarks", "pose_flag", "heatmaps", "world_landmarks"}
    session = runner._session
    (inp,) = session.get_inputs()
    assert inp.type == "tensor(float)"
    assert isinstance(inp.shape[0], str), f"batch must be dynamic, got {inp.shape}"
    assert inp.shape[1:] == [256, 256, 3]
    shapes = {o.name: o.shape for o in session.get_outputs()}
    assert shapes["landmarks"][1:] == [N_LANDMARKS_OUT * 5]
    assert shapes["pose_flag"][1:] == [1]
    assert shapes["heatmaps"][1:] == [64, 64, N_LANDMARKS_OUT]
    assert shapes["world_landmarks"][1:] == [N_LANDMARKS_OUT * 3]
    assert all(isinstance(s[0], str) for s in shapes.values())


def test_landmarks_match_tflite(landmark_run, golden):
    variant, _, out = landmark_run
    got = out["landmarks"].reshape(4, N_LANDMARKS_OUT, 5)
    ref = golden[f"lm_{variant}_landmarks"].reshape(4, N_LANDMARKS_OUT, 5)
    err = np.abs(got[..., :2] - ref[..., :2]).max()
    assert err <= XY_TOL_PX, f"{variant}: landmark xy off by {err} px"
    # the reference is not degenerate: the 4 crops give landmarks far apart, so a wrong input
    # order (or a wrong pre-processing) could not pass the tolerance
    spread = np.abs(ref[1:, :, :2] - ref[:1, :, :2]).max()
    assert spread > 100 * XY_TOL_PX
    assert np.abs(got[..., 2:] - ref[..., 2:]).max() < 0.02  # z and the two logits


def test_world_landmarks_match_tflite(landmark_run, golden):
    variant, _, out = landmark_run
    ref = golden[f"lm_{variant}_world_landmarks"]
    err = np.abs(out["world_landmarks"] - ref).max()
    assert err <= WORLD_TOL_M, f"{variant}: world landmarks off by {err} m"
    assert np.abs(ref).max() > 0.1  # metres of a body, not zeros


def test_pose_flag_and_heatmap_peaks_match_tflite(landmark_run, golden):
    variant, _, out = landmark_run
    assert out["pose_flag"].shape == (4, 1)
    flag_err = np.abs(out["pose_flag"] - golden[f"lm_{variant}_pose_flag"]).max()
    assert flag_err <= POSE_FLAG_TOL
    assert out["heatmaps"].shape == (4, 64, 64, N_LANDMARKS_OUT)
    peak = out["heatmaps"].reshape(4, -1, N_LANDMARKS_OUT).max(axis=1)
    ref = golden[f"lm_{variant}_heatmap_peak"]
    assert np.abs(peak - ref).max() <= HEATMAP_TOL
    assert np.ptp(ref) > 100 * HEATMAP_TOL  # the peaks differ per landmark and crop


def test_batch_of_four_equals_four_single_runs(landmark_run, crops):
    _, runner, batched = landmark_run
    singles = [runner.run({"crop_rgb": crops[i : i + 1]}) for i in range(len(crops))]
    for name, value in batched.items():
        assert value.shape[0] == 4
        stacked = np.concatenate([s[name] for s in singles])
        np.testing.assert_allclose(value, stacked, rtol=0, atol=1e-4, err_msg=name)
    # and the batch is not four copies of one crop
    lm = batched["landmarks"]
    assert np.abs(lm[0] - lm[1]).max() > 1.0


@pytest.mark.parametrize("key", sorted(MN_INPUTS))
def test_movenet_matches_tfjs(golden, key):
    runner = open_graph(WEIGHTS_DIR / DETECTOR_FILE, backend="onnxruntime")
    try:
        assert runner.input_names == ("image",) and runner.output_names == ("people",)
        image = _upsample(golden[f"mn_base_{key}"], MN_INPUTS[key]).astype(np.int32)
        h, w = (int(s) for s in key.split("x"))
        assert image.shape == (1, h, w, 3)
        people = runner.run({"image": image})["people"]
    finally:
        runner.close()
    ref = golden[f"mn_people_{key}"]
    assert people.shape == ref.shape == (1, 6, 56)
    err = np.abs(people - ref).max()
    assert err <= MOVENET_TOL, f"MoveNet {key}: off by {err}"
    assert np.abs(ref).max() > 0.1  # keypoint coordinates in [0, 1], not all zero


def test_provenance_hashes_match_the_shipped_files():
    sources = json.loads(SOURCES.read_text())
    files = sources["files"]
    expected = {landmark_file(v) for v in VARIANTS} | {DETECTOR_FILE, GOLDEN.name}
    assert expected <= set(files)
    for name, entry in files.items():
        path = WEIGHTS_DIR / name
        assert path.is_file(), f"{name} is listed in FRONTEND_SOURCES.json but not shipped"
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], f"{name} changed"
        assert len(data) == entry["bytes"]
    # the recorded parity is the tool's measurement and within the tolerances used here
    parity = sources["parity_against_original_runtime"]
    for variant in VARIANTS:
        assert parity[landmark_file(variant)]["landmark_xy_max_abs_px"] <= 0.0025
    assert parity[DETECTOR_FILE]["max_abs"] <= MOVENET_TOL


def test_node_models_are_small():
    needed = [WEIGHTS_DIR / DETECTOR_FILE, WEIGHTS_DIR / landmark_file("full")]
    total = sum(p.stat().st_size for p in needed)
    assert total < MAX_NODE_BYTES, f"detector + full landmark model are {total / 2**20:.1f} MiB"
