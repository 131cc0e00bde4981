"""ONNX export of a tiny random DeployableRGBModel: checker, graph contract, parity with torch."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from privpose_ros.data.synth import SynthConfig, SyntheticGenerator
from privpose_ros.runtime.backend import INPUT_NAMES, OUTPUT_NAMES, ModelOutputs
from privpose_ros.runtime.export import (
    ONNX_OPSET,
    check_parity,
    compare_outputs,
    export_onnx,
    model_fingerprint,
    random_model_inputs,
)
from privpose_ros.runtime.preprocess import letterbox_rgb


def _dims(value_info) -> list:
    return [d.dim_value or d.dim_param for d in value_info.type.tensor_type.shape.dim]


@pytest.mark.parametrize("fixture", ["tiny_onnx_b1", "tiny_onnx_dynamic"])
def test_graph_contract_and_checker(request, fixture: str, tiny_model) -> None:
    proto = onnx.load(str(request.getfixturevalue(fixture)))
    onnx.checker.check_model(proto, full_check=True)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == ONNX_OPSET
    assert tuple(i.name for i in proto.graph.input) == INPUT_NAMES
    assert tuple(o.name for o in proto.graph.output) == OUTPUT_NAMES
    batch = 1 if fixture == "tiny_onnx_b1" else "batch"
    assert _dims(proto.graph.input[0]) == [batch, 3, *tiny_model.config.input_hw]
    assert _dims(proto.graph.input[1]) == [batch, 3, 3]


def _assert_parity(report, num_images: int) -> None:
    # Flat heatmaps of a random network can flip an arg-max on float32 noise (ParityReport);
    # everything else must agree to a small fraction of the 1 mm tolerance.
    assert report.num_images == num_images and report.num_joints == num_images * 26
    assert report.ok and report.fraction_within_tolerance >= 0.95, report
    assert report.median_joint_error_mm < 0.05, report
    assert report.max_confidence_error < 1e-4, report


def test_parity_on_random_inputs(tiny_model, tiny_onnx_b1, tiny_onnx_dynamic) -> None:
    rgb, k = random_model_inputs(tiny_model.config.input_hw, 6, seed=11)
    for path in (tiny_onnx_b1, tiny_onnx_dynamic):  # fixed batch is fed image by image
        _assert_parity(check_parity(tiny_model, path, rgb, k), 6)


def test_parity_on_generator_frames(tiny_model, tiny_onnx_dynamic) -> None:
    frames = SyntheticGenerator(SynthConfig(width=320, height=240, block_size=4)).batch(4, seed=3)
    blobs, ks = [], []
    for i in range(len(frames)):
        blob, k_input, _ = letterbox_rgb(frames.rgb[i], frames.intrinsics(i), (32, 48))
        blobs.append(blob[0])
        ks.append(k_input.k.astype(np.float32))
    _assert_parity(check_parity(tiny_model, tiny_onnx_dynamic, np.stack(blobs), np.stack(ks)), 4)


def test_parity_detects_a_wrong_graph(tiny_model, tmp_path) -> None:
    """A graph of another model (different weights) fails the check."""
    import copy

    import torch

    other = copy.deepcopy(tiny_model)
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(1.5)
    wrong = export_onnx(other, tmp_path / "wrong.onnx", batch=1)
    rgb, k = random_model_inputs(tiny_model.config.input_hw, 4, seed=2)
    report = check_parity(tiny_model, wrong, rgb, k)
    assert not report.ok and report.fraction_within_tolerance < 0.5, report


def test_compare_outputs_counts_differences() -> None:
    rng = np.random.default_rng(0)
    a = ModelOutputs(
        rng.random((2, 5, 3), dtype=np.float32),
        rng.random((2, 5, 2), dtype=np.float32),
        rng.random((2, 5), dtype=np.float32),
    )
    shifted = a.joints_cam_m.copy()
    shifted[0, :3] += np.float32(0.002)  # 3 of 10 joints moved by 2 * sqrt(3) mm
    report = compare_outputs(a, ModelOutputs(shifted, a.joints_canvas_px, a.confidence))
    assert report.max_joint_error_mm == pytest.approx(2.0 * np.sqrt(3), rel=1e-3)
    assert report.fraction_within_tolerance == pytest.approx(0.7)
    assert report.median_joint_error_mm == 0.0 and not report.ok
    one_nan = a.joints_cam_m.copy()
    one_nan[0, 0] = np.nan
    report = compare_outputs(a, ModelOutputs(one_nan, a.joints_canvas_px, a.confidence))
    assert report.max_joint_error_mm == float("inf") and report.fraction_within_tolerance == 0.9
    assert compare_outputs(
        ModelOutputs(one_nan, a.joints_canvas_px, a.confidence),
        ModelOutputs(one_nan, a.joints_canvas_px, a.confidence),
    ).ok


def test_fingerprint_changes_with_weights(tiny_model) -> None:
    import copy

    import torch

    other = copy.deepcopy(tiny_model)
    assert model_fingerprint(other) == model_fingerprint(tiny_model)
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)
    assert model_fingerprint(other) != model_fingerprint(tiny_model)
