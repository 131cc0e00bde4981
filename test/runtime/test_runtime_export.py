"""ONNX export of the deployable v2 model (runtime/export.py): checker, graph contract, parity
with torch, and a wrong graph caught by the parity check."""

from __future__ import annotations

import copy

import numpy as np
import onnx
import torch

from privpose_ros.runtime.export import (
    INPUT_NAMES,
    ONNX_OPSET,
    OUTPUT_NAMES,
    PARITY_TOLERANCE_M,
    export_error_m,
    export_posenet_onnx,
)


def _dims(value_info) -> list:
    return [d.dim_value or d.dim_param for d in value_info.type.tensor_type.shape.dim]


def test_graph_contract_and_checker(tiny_onnx, tiny_model) -> None:
    proto = onnx.load(str(tiny_onnx))
    onnx.checker.check_model(proto, full_check=True)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == ONNX_OPSET
    assert tuple(i.name for i in proto.graph.input) == INPUT_NAMES
    assert tuple(o.name for o in proto.graph.output) == OUTPUT_NAMES
    s = tiny_model.config.crop_px
    assert _dims(proto.graph.input[0]) == ["n", s, s, 3]  # dynamic batch of NHWC crops
    assert _dims(proto.graph.input[1]) == ["n", 3, 3]
    joints = _dims(proto.graph.output[0])  # (n, J, 3); J is symbolic in the traced graph
    assert len(joints) == 3 and joints[0] == "n" and joints[2] == 3


def test_parity_with_torch_on_random_crops(tiny_model, tiny_onnx) -> None:
    error = export_error_m(tiny_model, tiny_onnx, crops=3)
    assert 0.0 <= error <= PARITY_TOLERANCE_M
    assert error < 1e-4  # measured: float32 noise, far below the tolerance


def test_parity_detects_a_wrong_graph(tiny_model, tmp_path) -> None:
    """A graph of another model (different weights) fails the check."""
    other = copy.deepcopy(tiny_model)
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(1.5)
    wrong = export_posenet_onnx(other, tmp_path / "wrong.onnx")
    assert export_error_m(tiny_model, wrong) > 10 * PARITY_TOLERANCE_M


def test_export_writes_atomically_and_replaces_an_old_file(tiny_model, tmp_path) -> None:
    path = tmp_path / "sub" / "v2.onnx"
    path.parent.mkdir()
    path.write_bytes(b"half a graph")
    assert export_posenet_onnx(tiny_model, path) == path
    onnx.checker.check_model(onnx.load(str(path)))
    assert sorted(p.name for p in path.parent.iterdir()) == ["v2.onnx"]  # no temporary left
    assert np.isfinite(export_error_m(tiny_model, path))
