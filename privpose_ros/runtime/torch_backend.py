"""PyTorch eager backend (CPU or CUDA): the reference every exported backend is compared to."""

from __future__ import annotations

import contextlib
import logging

import numpy as np

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.runtime.backend import Backend, ModelOutputs

LOG = logging.getLogger(__name__)


class TorchBackend(Backend):
    """Runs a DeployableRGBModel in eval mode under ``torch.inference_mode``.

    ``threads`` > 0 sets torch's intra-op thread count (process wide); ``enable_fp16`` uses CUDA
    autocast (ignored with a warning on CPU, where float16 convolutions are slow).
    """

    name = "torch"

    def __init__(
        self, model, device: str = "cpu", enable_fp16: bool = False, threads: int = 0
    ) -> None:  # noqa: ANN001 - a DeployableRGBModel (torch imported lazily)
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} requested but torch sees no CUDA GPU")
        if not (device == "cpu" or device.startswith("cuda")):
            raise PrivposeInputError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
        if threads > 0:
            torch.set_num_threads(threads)
        use_fp16 = enable_fp16 and device.startswith("cuda")
        if enable_fp16 and not use_fp16:
            LOG.warning("enable_fp16 ignored by the torch backend on CPU (running float32)")
        super().__init__(tuple(model.config.input_hw), device, "fp16" if use_fp16 else "fp32")
        self._torch = torch
        self._model = model.eval().to(device)

    def _autocast(self):  # noqa: ANN202 - a context manager
        if self.precision == "fp16":
            return self._torch.autocast(device_type="cuda", dtype=self._torch.float16)
        return contextlib.nullcontext()

    def _infer(self, rgb_nchw: np.ndarray, k: np.ndarray) -> ModelOutputs:
        torch = self._torch
        with torch.inference_mode(), self._autocast():
            rgb_t = torch.from_numpy(rgb_nchw).to(self.device, non_blocking=True)
            k_t = torch.from_numpy(k).to(self.device, non_blocking=True)
            joints_cam_m, joints_canvas_px, confidence = self._model(rgb_t, k_t)
        return ModelOutputs(
            joints_cam_m=joints_cam_m.float().cpu().numpy(),
            joints_canvas_px=joints_canvas_px.float().cpu().numpy(),
            confidence=confidence.float().cpu().numpy(),
        )

    def close(self) -> None:
        self._model = None
