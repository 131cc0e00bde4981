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

F_rgb here is a second BlazePose pass per person on the front end's ROI crop: the front end's
landmark graph does not hand its feature map out (runtime/landmarks.py keeps only landmarks,
world points and heatmaps). Distortion is ignored as in the base (rectified images).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from privpose_ros.core.crop import RotatedCropCamera, rotated_crop_camera
from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.frame import RGBDFrame
from privpose_ros.core.landmarks import LANDMARK_CROP_PX
from privpose_ros.core.pose import PersonPose
from privpose_ros.model.residual.geometry import ROOT_INDEX, apply_residuals, base_inputs
from privpose_ros.runtime.placement import MonocularLifter

LOG = logging.getLogger(__name__)
FEATURE_LEVEL = "stride4"


def person_crop_camera(person: PersonPose, frame: RGBDFrame) -> RotatedCropCamera:
    """The rotated crop camera of a front-end person (its landmarks' ROI)."""
    if person.landmarks is None:
        raise PrivposeInputError("the residual lifter needs the front end's landmarks")
    roi = person.landmarks.crop_roi()
    return rotated_crop_camera(roi.crop_to_image(), LANDMARK_CROP_PX, frame.intrinsics)


class ResidualLifter:
    """Front-end persons -> the front end's 3D plus the privpose model's residuals. ``net``: a
    :class:`~privpose_ros.model.residual.net.ResidualNet` (rgb or rgb_hall), or
    ``weights_path`` of one. Not thread-safe."""

    backend_name = "torch"

    def __init__(
        self,
        weights_path: Path | None = None,
        net=None,  # noqa: ANN001 - a ResidualNet (torch stays lazily imported)
        world_scale: float = 1.1,
        device: str = "cpu",
        threads: int = 0,
    ) -> None:
        import torch

        from privpose_ros.model.blazepose_torch import load_blazepose
        from privpose_ros.model.residual.net import load_residual_weights

        if net is None:
            if weights_path is None:
                raise PrivposeInputError("give the residual lifter a net or a weights_path")
            net, _ = load_residual_weights(weights_path)
        if net.config.variant == "depth":
            raise PrivposeInputError(
                "the depth teacher needs depth and is not deployable; use rgb or rgb_hall"
            )
        if threads > 0:
            torch.set_num_threads(threads)
        self._torch = torch
        self.device = device
        self.net = net.eval().to(device)
        self.backbone = load_blazepose(net.config.backbone).eval().to(device)
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.base = MonocularLifter(world_scale)
        self.last_ms = 0.0
        self.last_residuals: list[tuple[np.ndarray, np.ndarray, float]] = []

    def residuals(
        self, crops: np.ndarray, uv: np.ndarray, desc: np.ndarray, glob: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(uv_px (N, J, 2), dz_m (N, J), log_root (N,)) float64 for model inputs: crops
        (N, 256, 256, 3) float32 RGB in [0, 1] and :func:`base_inputs` stacked."""
        torch, dev = self._torch, self.device
        if len(crops) == 0:
            j = self.net.config.n_joints
            return np.zeros((0, j, 2)), np.zeros((0, j)), np.zeros(0)
        with torch.no_grad():
            feats = self.backbone.features(torch.from_numpy(crops).to(dev), FEATURE_LEVEL)
            args = (torch.from_numpy(a).to(dev) for a in (uv, desc, glob))
            out = self.net(feats, *args)
        return tuple(o.cpu().numpy().astype(np.float64) for o in out)  # type: ignore[return-value]

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
        """Nothing to release (torch modules)."""

    def __enter__(self) -> ResidualLifter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
