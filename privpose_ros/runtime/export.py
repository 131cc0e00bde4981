"""ONNX export of the deployable privpose model: the graph contract (input and output names,
opset), the export itself (checked by ``onnx.checker``, written atomically), the key that names
an export in the cache, and the parity check against torch.

Used by the lifter's cached export (:mod:`privpose_ros.runtime.lifter`) and by
``privpose export`` (:mod:`privpose_ros.apps.export_cmd`).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import numpy as np

from privpose_ros.core.errors import optional_import
from privpose_ros.runtime.engine_cache import atomic_write, code_version, file_sha256
from privpose_ros.runtime.graph import open_graph

ONNX_OPSET = 17
INPUT_NAMES = ("crop_rgb", "crop_k")
OUTPUT_NAMES = ("joints_cam_m", "confidence")
PARITY_TOLERANCE_M = 1e-3  # a fresh export must match torch this closely on random crops


def export_key(weights: Path) -> str:
    """24 hex digits naming the export of ``weights``: its bytes, the code, torch, the opset."""
    import torch

    text = f"{file_sha256(weights)}|{code_version()}|{torch.__version__}|{ONNX_OPSET}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def export_posenet_onnx(model, path: Path) -> Path:  # noqa: ANN001 - a PosenetDeployable
    """Export ``model`` with a dynamic batch axis to ``path`` (checked, written atomically)."""
    import torch

    s = model.config.crop_px
    rgb = torch.rand(2, s, s, 3, generator=torch.Generator().manual_seed(0))
    k = torch.tensor([[s, 0.0, (s - 1) / 2], [0.0, s, (s - 1) / 2], [0.0, 0.0, 1.0]])
    return _export(model, (rgb, k.repeat(2, 1, 1)), path, INPUT_NAMES, OUTPUT_NAMES)


def _export(model, example: tuple, path: Path, inputs: tuple, outputs: tuple) -> Path:  # noqa: ANN001 - a torch module
    """Trace ``model`` on ``example`` into an ONNX graph with a dynamic batch axis on every
    named input and output; checked, written to ``path`` atomically."""
    import torch

    onnx = optional_import("onnx", "pip install onnx")
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", category=DeprecationWarning)  # legacy exporter
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)  # shape checks
        warnings.filterwarnings("ignore", "Constant folding", UserWarning)  # Slice steps
        torch.onnx.export(
            model,
            example,
            buffer,
            opset_version=ONNX_OPSET,
            dynamo=False,
            input_names=list(inputs),
            output_names=list(outputs),
            dynamic_axes={n: {0: "n"} for n in inputs + outputs},
        )
    onnx.checker.check_model(onnx.load_from_string(buffer.getvalue()))
    atomic_write(Path(path), buffer.getvalue())
    return Path(path)


def export_error_m(model, path: Path, crops: int = 2, threads: int = 0) -> float:  # noqa: ANN001 - a PosenetDeployable
    """Largest joint distance (metres) between the ONNX graph at ``path`` (ONNX Runtime, CPU)
    and ``model`` (torch, CPU) on ``crops`` random crops with a centred pinhole camera."""
    import torch

    rng = np.random.default_rng(1)
    s = model.config.crop_px
    rgb = rng.random((crops, s, s, 3), dtype=np.float32)
    k = np.tile(np.array([[s, 0, s / 2], [0, s, s / 2], [0, 0, 1]], np.float32), (crops, 1, 1))
    runner = open_graph(path, "onnxruntime", "cpu", threads)
    got = runner.run(dict(zip(INPUT_NAMES, (rgb, k), strict=True)))
    runner.close()
    model = model.to("cpu")
    with torch.no_grad():
        want = model(torch.from_numpy(rgb), torch.from_numpy(k))[0].numpy()
    return float(np.max(np.abs(got["joints_cam_m"] - want)))


RESIDUAL_INPUT_NAMES = ("crop_rgb", "uv01", "desc", "glob")
RESIDUAL_OUTPUT_NAMES = ("uv_px", "dz_m", "log_root")


def _residual_example(model, n: int, seed: int) -> tuple[np.ndarray, ...]:  # noqa: ANN001
    rng = np.random.default_rng(seed)
    j = model.config.n_joints
    return (
        rng.random((n, 256, 256, 3), dtype=np.float32),
        rng.uniform(0.1, 0.9, (n, j, 2)).astype(np.float32),
        np.concatenate(
            [rng.normal(0, 0.1, (n, j, 1)), rng.uniform(0, 1, (n, j, 1)), np.ones((n, j, 1))], 2
        ).astype(np.float32),
        np.full((n, 1), np.log(2.5), np.float32),
    )


def export_residual_onnx(model, path: Path) -> Path:  # noqa: ANN001 - a ResidualDeployable
    """Export a :class:`~privpose_ros.model.residual.net.ResidualDeployable` (backbone + residual
    head, one graph) with a dynamic batch axis to ``path`` (checked, written atomically)."""
    import torch

    example = tuple(torch.from_numpy(a) for a in _residual_example(model, 2, 0))
    return _export(model.eval(), example, path, RESIDUAL_INPUT_NAMES, RESIDUAL_OUTPUT_NAMES)


def residual_export_error(model, path: Path, crops: int = 2, threads: int = 0) -> float:  # noqa: ANN001
    """Largest difference between the ONNX graph at ``path`` (ONNX Runtime, CPU) and ``model``
    (torch) on random inputs, in output-scale units (crop px / 4 px, metres / 5 cm, log / 0.05
    for the default scales: every output divided by its scale)."""
    import torch

    feeds = _residual_example(model, crops, 1)
    runner = open_graph(path, "onnxruntime", "cpu", threads)
    got = runner.run(dict(zip(RESIDUAL_INPUT_NAMES, feeds, strict=True)))
    runner.close()
    c = model.config
    with torch.no_grad():
        want = model.to("cpu")(*(torch.from_numpy(a) for a in feeds))
    scales = (c.uv_scale_px, c.dz_scale_m, c.root_scale)
    return max(
        float(np.max(np.abs(got[n] - w.numpy()))) / s
        for n, w, s in zip(RESIDUAL_OUTPUT_NAMES, want, scales, strict=True)
    )
