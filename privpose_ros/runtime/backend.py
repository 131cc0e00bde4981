"""The one interface every inference backend (torch, onnxruntime, tensorrt) implements.

Like Polygraphy runners: a backend is created ready to run (engine/session built or loaded in
the constructor), ``infer`` is called any number of times from one thread, ``close`` releases
it. Backends only run the deployable model; pre- and post-processing live in the estimator.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from privpose_ros.core.errors import PrivposeInputError

# Automatic selection tries these in order (EstimatorConfig.backend = "auto").
BACKEND_ORDER: tuple[str, ...] = ("tensorrt", "onnxruntime", "torch")

# Tensor names of the exported graph (and of the TensorRT engine built from it). The graph's
# "joints_px" output is ModelOutputs.joints_canvas_px (network-input pixels); the tensor keeps its
# name so that exported .onnx files and cached engines stay valid.
INPUT_NAMES: tuple[str, str] = ("rgb", "k")
OUTPUT_NAMES: tuple[str, str, str] = ("joints_cam_m", "joints_px", "confidence")


@dataclass(frozen=True)
class ModelOutputs:
    """Decoded model outputs for a batch of N network inputs.

    ``joints_cam_m`` (N, J, 3) metres in the camera optical frame, ``joints_canvas_px`` (N, J, 2)
    pixels of the letterboxed network input (the canvas, not the source image: the estimator
    maps them to source pixels, PersonPose.joints_px), ``confidence`` (N, J) in [0, 1]; all
    float32 numpy arrays.
    """

    joints_cam_m: np.ndarray
    joints_canvas_px: np.ndarray
    confidence: np.ndarray

    def __post_init__(self) -> None:
        n, j = self.confidence.shape[:2] if self.confidence.ndim == 2 else (-1, -1)
        px_shape = self.joints_canvas_px.shape
        if n < 0 or self.joints_cam_m.shape != (n, j, 3) or px_shape != (n, j, 2):
            raise PrivposeInputError(
                "model outputs must be joints_cam_m (N, J, 3), joints_px (N, J, 2), confidence "
                f"(N, J); got {self.joints_cam_m.shape}, {px_shape}, "
                f"{self.confidence.shape}: re-export the model with `privpose export`"
            )


def check_model_inputs(
    rgb_nchw: np.ndarray, k: np.ndarray, input_hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a batch: rgb (N, 3, H, W) float32 in [0, 1] at ``input_hw``, k (N, 3, 3)."""
    rgb_nchw = np.asarray(rgb_nchw)
    k = np.asarray(k)
    expected = (3, *input_hw)
    if rgb_nchw.ndim != 4 or tuple(rgb_nchw.shape[1:]) != expected:
        raise PrivposeInputError(
            f"rgb must be (N, 3, {input_hw[0]}, {input_hw[1]}) float32, got {rgb_nchw.shape}; "
            "letterbox images with privpose_ros.runtime.preprocess.letterbox_rgb"
        )
    if k.shape != (rgb_nchw.shape[0], 3, 3):
        raise PrivposeInputError(
            f"k must be (N, 3, 3) intrinsics of the network input with N = {rgb_nchw.shape[0]}, "
            f"got {k.shape}"
        )
    return (
        np.ascontiguousarray(rgb_nchw, dtype=np.float32),
        np.ascontiguousarray(k, dtype=np.float32),
    )


class Backend(ABC):
    """A loaded model ready for inference on one device."""

    name: str = ""

    def __init__(self, input_hw: tuple[int, int], device: str, precision: str) -> None:
        self.input_hw = (int(input_hw[0]), int(input_hw[1]))
        self.device = device
        self.precision = precision

    def infer(self, rgb_nchw: np.ndarray, k: np.ndarray) -> ModelOutputs:
        """Run the model on rgb (N, 3, H, W) float32 in [0, 1] with input intrinsics k (N, 3, 3).

        Returns the decoded :class:`ModelOutputs`.
        """
        rgb_nchw, k = check_model_inputs(rgb_nchw, k, self.input_hw)
        return self._infer(rgb_nchw, k)

    @abstractmethod
    def _infer(self, rgb_nchw: np.ndarray, k: np.ndarray) -> ModelOutputs:
        """Run validated, contiguous float32 inputs."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to free
        """Release sessions, engines and device memory."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
