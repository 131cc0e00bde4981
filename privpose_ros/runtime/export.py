"""ONNX export of the deployable RGB model, with ``onnx.checker`` and numeric parity vs torch.

The graph has inputs ``rgb`` (N, 3, H, W) float32 in [0, 1] and ``k`` (N, 3, 3) float32
intrinsics of the network input, and outputs ``joints_cam_m`` (N, J, 3) metres,
``joints_px`` (N, J, 2) network-input pixels (read back as ModelOutputs.joints_canvas_px) and
``confidence`` (N, J): decoding is inside the graph.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from privpose_ros.core.errors import PrivposeInputError, optional_import
from privpose_ros.runtime.backend import INPUT_NAMES, OUTPUT_NAMES, ModelOutputs
from privpose_ros.runtime.engine_cache import atomic_write

LOG = logging.getLogger(__name__)

ONNX_OPSET = 17
PARITY_TOLERANCE_MM = 1.0
PARITY_MIN_FRACTION = 0.95


def example_k(input_hw: tuple[int, int], batch: int = 1) -> np.ndarray:
    """(batch, 3, 3) float32 intrinsics of a ~60 degree horizontal field of view at input_hw."""
    h, w = input_hw
    f = 0.87 * w
    k = np.array([[f, 0.0, (w - 1) / 2], [0.0, f, (h - 1) / 2], [0.0, 0.0, 1.0]], np.float32)
    return np.repeat(k[None], batch, axis=0)


def random_model_inputs(
    input_hw: tuple[int, int], batch: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Random images (uniform noise and smooth blobs) with jittered plausible intrinsics."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = input_hw
    rgb = rng.random((batch, 3, h, w), dtype=np.float32)
    for i in range(1, batch, 2):  # every other image smooth: large structures, clearer peaks
        rgb[i] = cv2.GaussianBlur(rgb[i].transpose(1, 2, 0), (0, 0), w / 16).transpose(2, 0, 1)
    k = example_k(input_hw, batch)
    k[:, 0, 0] *= rng.uniform(0.7, 1.4, batch).astype(np.float32)
    k[:, 1, 1] = k[:, 0, 0]
    k[:, :2, 2] += rng.uniform(-0.05, 0.05, (batch, 2)).astype(np.float32) * np.float32(w)
    return rgb, k


def model_fingerprint(model) -> str:  # noqa: ANN001 - a DeployableRGBModel
    """Hex SHA-256 of the model's config and every parameter/buffer (names, shapes, bytes)."""
    digest = hashlib.sha256(repr(model.config).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def export_onnx(model, onnx_path: Path, batch: int | None = 1, opset: int = ONNX_OPSET) -> Path:  # noqa: ANN001
    """Export ``model`` (a DeployableRGBModel) to ``onnx_path`` and run ``onnx.checker``.

    ``batch`` fixes the batch size; ``None`` exports a dynamic batch axis. The file is written
    atomically, so a concurrent reader never sees half a graph.
    """
    import io

    import torch

    onnx = optional_import("onnx", "pip install onnx")
    if batch is not None and int(batch) < 1:
        raise PrivposeInputError(f"batch must be >= 1 or None (dynamic), got {batch}")
    input_hw = tuple(model.config.input_hw)
    rgb, k = random_model_inputs(input_hw, batch or 2)
    dynamic_axes = None
    if batch is None:
        dynamic_axes = {name: {0: "batch"} for name in INPUT_NAMES + OUTPUT_NAMES}
    was_training = model.training
    model.eval()
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", category=DeprecationWarning)  # legacy exporter
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)  # shape checks
            torch.onnx.export(
                model,
                (torch.from_numpy(rgb), torch.from_numpy(k)),
                buffer,
                input_names=list(INPUT_NAMES),
                output_names=list(OUTPUT_NAMES),
                opset_version=opset,
                dynamic_axes=dynamic_axes,
                do_constant_folding=True,
                dynamo=False,  # the TorchScript exporter needs no onnxscript
            )
    finally:
        model.train(was_training)
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    onnx_path = Path(onnx_path)
    atomic_write(onnx_path, buffer.getvalue())
    LOG.info("exported %s (opset %d, batch %s)", onnx_path, opset, batch or "dynamic")
    return onnx_path


@dataclass(frozen=True)
class ParityReport:
    """Differences between torch eager and an exported backend over ``num_images`` inputs.

    Decoding picks the heatmap arg-max: on near-flat heatmaps (random or untrained weights,
    images without a person) float32-level differences can select another cell of the same
    height, moving that joint far. Such flips are counted, not hidden: ``ok`` requires at least
    ``min_fraction`` of all joints within ``tolerance_mm`` (a wrong export, e.g. swapped
    channels or a bad normalisation, moves nearly every joint).
    """

    num_images: int
    num_joints: int
    max_joint_error_mm: float
    median_joint_error_mm: float
    fraction_within_tolerance: float
    max_confidence_error: float
    tolerance_mm: float = PARITY_TOLERANCE_MM
    min_fraction: float = PARITY_MIN_FRACTION

    @property
    def ok(self) -> bool:
        return self.fraction_within_tolerance >= self.min_fraction

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def compare_outputs(reference: ModelOutputs, other: ModelOutputs) -> ParityReport:
    """Per-joint 3D distance (NaN in only one of them counts as infinitely far)."""
    diff = reference.joints_cam_m.astype(np.float64) - other.joints_cam_m
    both_nan = np.isnan(reference.joints_cam_m).all(-1) & np.isnan(other.joints_cam_m).all(-1)
    err_mm = np.where(both_nan, 0.0, np.linalg.norm(diff, axis=-1) * 1000.0)
    err_mm = np.nan_to_num(err_mm, nan=np.inf)
    diff_conf = np.abs(reference.confidence - other.confidence)
    return ParityReport(
        num_images=int(reference.confidence.shape[0]),
        num_joints=int(err_mm.size),
        max_joint_error_mm=float(err_mm.max(initial=0.0)),
        median_joint_error_mm=float(np.median(err_mm)) if err_mm.size else 0.0,
        fraction_within_tolerance=float(np.mean(err_mm <= PARITY_TOLERANCE_MM)),
        max_confidence_error=float(np.nan_to_num(diff_conf, nan=np.inf).max(initial=0.0)),
    )


def check_parity(
    model,  # noqa: ANN001 - a DeployableRGBModel
    onnx_path: Path,
    rgb_nchw: np.ndarray,
    k: np.ndarray,
    threads: int = 0,
) -> ParityReport:
    """Run ``model`` (torch eager, CPU) and the ONNX graph (ONNX Runtime, CPU) on the same batch.

    Images are fed one at a time when the graph has a fixed batch of 1.
    """
    from privpose_ros.runtime.ort_backend import OnnxRuntimeBackend
    from privpose_ros.runtime.torch_backend import TorchBackend

    reference = TorchBackend(model, device="cpu").infer(rgb_nchw, k)
    with OnnxRuntimeBackend(onnx_path, device="cpu", threads=threads) as session:
        step = session.fixed_batch or len(rgb_nchw)
        parts = [
            session.infer(rgb_nchw[i : i + step], k[i : i + step])
            for i in range(0, len(rgb_nchw), step)
        ]
    exported = ModelOutputs(
        joints_cam_m=np.concatenate([p.joints_cam_m for p in parts]),
        joints_canvas_px=np.concatenate([p.joints_canvas_px for p in parts]),
        confidence=np.concatenate([p.confidence for p in parts]),
    )
    return compare_outputs(reference, exported)
