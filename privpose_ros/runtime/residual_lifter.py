"""The residual privpose lifter: the front end's own 3D, corrected by the privpose model.

Base = the front end, exactly: every person is first placed by
:class:`~privpose_ros.runtime.placement.MonocularLifter` (``model: blazepose``). The person's
crop is the front end's own rotated ROI (:meth:`~privpose_ros.core.landmarks.Landmarks.
crop_roi`), a pinhole camera rolled about the optical axis
(:func:`~privpose_ros.core.crop.rotated_crop_camera`). F_rgb is BlazePose's stride-4 feature
map of that crop (:class:`~privpose_ros.model.blazepose_torch.BlazePoseTorch`, the variant the
weights were trained with, frozen); the residual network
(:class:`~privpose_ros.model.residual.net.ResidualNet`) predicts the 2D, per-joint depth and
log root residuals (:mod:`~privpose_ros.model.residual.geometry`) for all persons in one batch.

With zero residuals (an untrained network: its last layers start at zero) every output equals
the MonocularLifter's bit for bit: ``joints_cam_m``, ``joints_px`` and ``confidence``
(test/runtime/test_runtime_residual_lifter.py). Persons without landmarks or whose base could
not be placed (NaN root) are returned as the base gives them.

F_rgb here is a second BlazePose pass per person on the front end's ROI crop, inside the
exported graph (backbone + head, :func:`~privpose_ros.runtime.export.export_residual_onnx`):
the front end's landmark graph does not hand its feature map out (runtime/landmarks.py keeps
only landmarks, world points and heatmaps). Distortion is ignored as in the base.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from privpose_ros.core.cache import default_cache_dir
from privpose_ros.core.crop import RotatedCropCamera, rotated_crop_camera
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.landmarks import LANDMARK_CROP_PX
from privpose_ros.core.pose import PersonPose
from privpose_ros.model.residual.geometry import ROOT_INDEX, apply_residuals, base_inputs
from privpose_ros.runtime.engine_cache import temporary_export_dir, writable_dir
from privpose_ros.runtime.export import (
    RESIDUAL_INPUT_NAMES,
    RESIDUAL_OUTPUT_NAMES,
    export_key,
    export_residual_onnx,
    residual_export_error,
)
from privpose_ros.runtime.graph import open_graph
from privpose_ros.runtime.placement import MonocularLifter
from privpose_ros.runtime.runner import RunnerConfig

LOG = logging.getLogger(__name__)
RESIDUAL_PARITY = 1e-3  # output-scale units (runtime/export.py residual_export_error)


def person_crop_camera(person: PersonPose, frame: RGBDFrame) -> RotatedCropCamera:
    """The rotated crop camera of a front-end person (its landmarks' ROI)."""
    if person.landmarks is None:
        raise PrivposeInputError("the residual lifter needs the front end's landmarks")
    roi = person.landmarks.crop_roi()
    return rotated_crop_camera(roi.crop_to_image(), LANDMARK_CROP_PX, frame.intrinsics)


class ResidualLifter:
    """Front-end persons -> the front end's 3D plus the privpose model's residuals. ``net``: a
    :class:`~privpose_ros.model.residual.net.ResidualNet` (rgb or rgb_hall), or
    ``weights_path`` of one. ``runner``: backend "torch" runs the torch modules; otherwise the
    backbone + head graph is exported to ONNX once (cached under ``cache_dir/residual_onnx``,
    keyed like the v2 export, checked against torch) and runs on ONNX Runtime or TensorRT.
    Not thread-safe."""

    def __init__(
        self,
        weights_path: Path | None = None,
        net=None,  # noqa: ANN001 - a ResidualNet (torch stays lazily imported)
        world_scale: float = 1.1,
        runner: RunnerConfig | None = None,
        max_persons: int = 6,
    ) -> None:
        import torch

        from privpose_ros.model.blazepose_torch import load_blazepose
        from privpose_ros.model.residual.net import ResidualDeployable, load_residual_weights

        run = runner or RunnerConfig(backend="torch")
        if net is None:
            if weights_path is None:
                raise PrivposeInputError("give the residual lifter a net or a weights_path")
            net, _ = load_residual_weights(weights_path)
        if net.config.variant == "depth":
            raise PrivposeInputError(
                "the depth teacher needs depth and is not deployable; use rgb or rgb_hall"
            )
        self._torch = torch
        self.device = run.device
        self.max_persons = int(max_persons)
        self.model = ResidualDeployable(net, load_blazepose(net.config.backbone))
        self.n_joints = net.config.n_joints
        self.base = MonocularLifter(world_scale)
        self.last_ms = 0.0
        self.last_residuals: list[tuple[np.ndarray, np.ndarray, float]] = []
        self.onnx_path: Path | None = None
        self._runner = None
        if run.backend == "torch":
            if run.threads > 0:
                torch.set_num_threads(run.threads)
            self.model = self.model.to(run.device)
            self.backend_name = "torch"
            return
        self.onnx_path = self._export(weights_path, run)
        n = self.max_persons
        j = self.n_joints
        shapes = {
            "crop_rgb": ((1, 256, 256, 3), (min(4, n), 256, 256, 3), (n, 256, 256, 3)),
            "uv01": ((1, j, 2), (min(4, n), j, 2), (n, j, 2)),
            "desc": ((1, j, 3), (min(4, n), j, 3), (n, j, 3)),
            "glob": ((1, 1), (min(4, n), 1), (n, 1)),
        }
        self._runner = open_graph(
            self.onnx_path, run.backend, run.device, run.threads, run.enable_fp16,
            run.cache_dir, shapes,
        )
        self.backend_name = self._runner.name

    def _export(self, weights_path: Path | None, run: RunnerConfig) -> Path:
        """The cached ONNX export of the backbone + head (a fresh one is checked)."""
        if weights_path is None:
            directory = temporary_export_dir()
            path = directory / f"residual_untrained_{id(self):x}.onnx"
        else:
            cache = Path(run.cache_dir) if run.cache_dir is not None else default_cache_dir()
            directory = cache / "residual_onnx"
            path = directory / f"residual_{export_key(Path(weights_path))}.onnx"
            if path.is_file():
                return path
            why = writable_dir(directory)
            if why is not None:
                path = temporary_export_dir() / path.name
                LOG.warning("residual ONNX cache %s is not writable (%s); using %s",
                            directory, why, path)
                if path.is_file():
                    return path
        export_residual_onnx(self.model, path)
        error = residual_export_error(self.model, path, threads=run.threads)
        if not error <= RESIDUAL_PARITY:
            path.unlink(missing_ok=True)
            raise RuntimeError(f"the residual ONNX export disagrees with torch by {error:.2e}")
        LOG.info("exported the residual model to %s (parity %.1e)", path, error)
        return path

    def residuals(
        self, crops: np.ndarray, uv: np.ndarray, desc: np.ndarray, glob: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(uv_px (N, J, 2), dz_m (N, J), log_root (N,)) float64 for model inputs: crops
        (N, 256, 256, 3) float32 RGB in [0, 1] and :func:`base_inputs` stacked, in batches of
        at most ``max_persons``."""
        parts = []
        for i in range(0, len(crops), self.max_persons):
            feeds = [a[i : i + self.max_persons] for a in (crops, uv, desc, glob)]
            if self._runner is not None:
                out = self._runner.run(dict(zip(RESIDUAL_INPUT_NAMES, feeds, strict=True)))
                parts.append([out[n] for n in RESIDUAL_OUTPUT_NAMES])
                continue
            torch, dev = self._torch, self.device
            with torch.no_grad():
                outs = self.model(*(torch.from_numpy(a).to(dev) for a in feeds))
            parts.append([o.cpu().numpy() for o in outs])
        if not parts:
            j = self.n_joints
            return np.zeros((0, j, 2)), np.zeros((0, j)), np.zeros(0)
        return tuple(  # type: ignore[return-value]
            np.concatenate(p).astype(np.float64) for p in zip(*parts, strict=True)
        )

    def lift(self, frame: RGBDFrame, persons: tuple[PersonPose, ...]) -> tuple[PersonPose, ...]:
        """``persons`` of ``frame`` placed by the front end and corrected by the model (metres,
        optical frame of ``frame.intrinsics``); times the call in ``last_ms``."""
        from privpose_ros.runtime.landmarks import crop

        t0 = time.perf_counter()
        base = self.base.lift(frame, persons)
        todo, cams, crops, inputs = [], [], [], []
        for i, person in enumerate(base):
            if person.landmarks is None or not np.isfinite(person.joints_cam_m[ROOT_INDEX]).all():
                continue
            cam = person_crop_camera(person, frame)
            todo.append(i)
            cams.append(cam)
            crops.append(crop(frame.rgb, person.landmarks.crop_roi()))
            inputs.append(base_inputs(person.joints_cam_m, person.confidence, cam))
        stacked = [np.stack(x) for x in zip(*inputs, strict=True)] if inputs else [None] * 3
        if todo:
            du, dz, log_root = self.residuals(np.stack(crops), *stacked)
        out = list(base)
        self.last_residuals = []
        for n, i in enumerate(todo):
            person, cam = base[i], cams[n]
            self.last_residuals.append((du[n], dz[n], float(log_root[n])))
            joints = apply_residuals(person.joints_cam_m, cam, du[n], dz[n], float(log_root[n]))
            joints_px = person.joints_px
            if joints_px is not None:
                joints_px = joints_px + du[n] @ cam.crop_to_src[:, :2].T
            out[i] = replace(person, joints_cam_m=joints, joints_px=joints_px)
        self.last_ms = (time.perf_counter() - t0) * 1e3
        return tuple(out)

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()

    def __enter__(self) -> ResidualLifter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
