"""The v2 model's configuration and its representation: labels <-> SPDH maps <-> metric joints.

See :mod:`privpose_ros.model.posenet.net` for the representation and the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import CANONICAL
from privpose_ros.model.posenet.heads import UZ_HEADS
from privpose_ros.model.posenet.spdh import SPDHConfig, refine_peak, scale_intrinsics

VARIANTS = ("depth", "rgb", "rgb_hall")
RGB_BACKBONES = ("blazepose_lite", "blazepose_full", "conv")
ROOT_JOINT = "pelvis"
# uv, uz (scaled softmax maps), uv_logits, uz_logits, zeta_m [, rgb_/hall_/depth_features]
PosenetOutputs = dict[str, Tensor]


@dataclass(frozen=True)
class PosenetConfig:
    """Sizes in pixels, ``rel_depth_*`` in crop widths (normalised), ``zeta_prior_m`` metres."""

    variant: str = "rgb_hall"
    crop_px: int = 256
    heatmap_px: int = 64
    n_joints: int = 26
    feature_channels: int = 32  # F_rgb's (BlazePose lite stride 4); F_depth and F_hall match it
    branch_width: int = 32  # inner width of F_depth and F_hall
    head_width: int = 64
    rel_depth_min: float = -1.0
    rel_depth_max: float = 1.0
    n_bins: int = 64
    sigma_px: float = 2.0
    zeta_prior_m: float = 2.0
    uz_head: str = "column"
    rgb_backbone: str = "blazepose_lite"
    train_rgb_backbone: bool = False
    landmark_prior: bool = True  # BlazePose's own landmarks bias the maps (model/landmark_prior)
    prior_sigma_px: float = 4.0  # heatmap pixels
    root_index: int = CANONICAL.index(ROOT_JOINT)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS or self.rgb_backbone not in RGB_BACKBONES:
            raise PrivposeInputError(
                f"variant must be one of {VARIANTS} and rgb_backbone one of {RGB_BACKBONES}, "
                f"got {self.variant!r}, {self.rgb_backbone!r}"
            )
        if self.uz_head not in UZ_HEADS:
            raise PrivposeInputError(f"uz_head must be one of {UZ_HEADS}, got {self.uz_head!r}")
        if self.landmark_prior and not self.rgb_backbone.startswith("blazepose"):
            raise PrivposeInputError("landmark_prior needs a BlazePose rgb_backbone")
        if self.rgb_backbone.startswith("blazepose") and self.crop_px != 256:
            raise PrivposeInputError(f"BlazePose needs 256 px crops, got {self.crop_px}")
        if self.crop_px % 4 or self.heatmap_px < 3 or self.n_bins < 3 or self.sigma_px <= 0:
            raise PrivposeInputError(f"bad sizes in {self}")
        if not self.rel_depth_min < 0.0 < self.rel_depth_max or self.zeta_prior_m <= 0:
            raise PrivposeInputError("need rel_depth_min < 0 < rel_depth_max, zeta_prior_m > 0")
        if not 0 <= self.root_index < self.n_joints:
            raise PrivposeInputError(f"root_index {self.root_index} not in [0, {self.n_joints})")

    @property
    def bin_step(self) -> float:
        """Normalised relative depth between neighbouring bins (crop widths)."""
        return (self.rel_depth_max - self.rel_depth_min) / (self.n_bins - 1)

    @property
    def map_mass(self) -> tuple[float, float]:
        """Sums of a whole target Gaussian over the uv and the uz grid (2 pi sigma_u sigma_v in
        grid cells): the network's softmax maps are scaled by them, so a perfect prediction
        equals the target and peaks at 1 (the peak value is the confidence)."""
        rows_per_px = 1.0 / (self.bin_step * self.heatmap_px)
        return 2.0 * math.pi * self.sigma_px**2, 2.0 * math.pi * self.sigma_px**2 * rows_per_px

    @property
    def spdh(self) -> SPDHConfig:
        """The SPDHHead's grid: (h, h) uv maps and ``n_bins`` uz rows (its metric z range is
        not used here)."""
        return SPDHConfig(heatmap_hw=(self.heatmap_px, self.heatmap_px), n_bins=self.n_bins)


class PosenetTargets(NamedTuple):
    uv: Tensor  # (N, J, h, h)
    uz: Tensor  # (N, J, B, h)
    zeta_m: Tensor  # (N,) root zeta
    rel_depth: Tensor  # (N, J) d = (z - z_root) / zeta, crop widths
    uv_hm_px: Tensor  # (N, J, 2) heatmap pixels
    weight: Tensor  # (N, J) 1 where the joint is finite, on the grid and in the bin range


def torch_normalized_to_depth(zeta_m: Tensor, crop_k: Tensor, crop_px: int) -> Tensor:
    """z_m = zeta_m * fx_crop / W_crop, as core.crop.normalized_to_depth, on tensors."""
    return zeta_m * crop_k[..., 0, 0] / crop_px


class PosenetCodec:
    """Labels <-> v2 targets and network outputs -> metric joints (see the module docstring)."""

    def __init__(self, config: PosenetConfig) -> None:
        self.config = config

    def heatmap_k(self, crop_k: Tensor) -> Tensor:
        c = self.config
        return scale_intrinsics(crop_k, (c.crop_px, c.crop_px), (c.heatmap_px, c.heatmap_px))

    def encode(self, joints_cam_m: Tensor, crop_k: Tensor) -> PosenetTargets:
        """Targets for joints (N, J, 3) metres in the camera optical frame, crop K (N, 3, 3)."""
        c = self.config
        if joints_cam_m.ndim != 3 or crop_k.shape != (joints_cam_m.shape[0], 3, 3):
            raise PrivposeInputError(
                f"need joints (N, J, 3) and crop_k (N, 3, 3), got {tuple(joints_cam_m.shape)}, "
                f"{tuple(crop_k.shape)}"
            )
        k_hm = self.heatmap_k(crop_k)
        root = joints_cam_m[:, c.root_index]
        root_ok = torch.isfinite(root).all(-1) & (root[:, 2] > 1e-3)
        z_root = torch.where(root_ok, root[:, 2], torch.ones_like(root[:, 2]))
        zeta = z_root * c.crop_px / crop_k[:, 0, 0]
        ok = (
            torch.isfinite(joints_cam_m).all(-1) & (joints_cam_m[..., 2] > 1e-3) & root_ok[:, None]
        )
        p = torch.where(ok[..., None], joints_cam_m, joints_cam_m.new_tensor([0.0, 0.0, 1.0]))
        pu = k_hm[:, 0, 0, None] * p[..., 0] / p[..., 2] + k_hm[:, 0, 2, None]
        pv = k_hm[:, 1, 1, None] * p[..., 1] / p[..., 2] + k_hm[:, 1, 2, None]
        rel = (p[..., 2] - z_root[:, None]) / zeta[:, None]
        h = c.heatmap_px
        on_grid = (pu > -0.5) & (pu < h - 0.5) & (pv > -0.5) & (pv < h - 0.5)
        in_bins = (rel >= c.rel_depth_min) & (rel <= c.rel_depth_max)
        weight = (ok & on_grid & in_bins).to(joints_cam_m.dtype)
        grid = torch.arange(h, dtype=p.dtype, device=p.device)
        bins = c.rel_depth_min + c.bin_step * torch.arange(
            c.n_bins, dtype=p.dtype, device=p.device
        )
        s2 = 2.0 * c.sigma_px**2
        gu = torch.exp(-((grid - pu[..., None]) ** 2) / s2)  # (N, J, h)
        gv = torch.exp(-((grid - pv[..., None]) ** 2) / s2)
        gd = torch.exp(-(((bins - rel[..., None]) * h) ** 2) / s2)  # (N, J, B)
        w4 = weight[..., None, None]
        uv = gv[..., :, None] * gu[..., None, :] * w4
        uz = gd[..., :, None] * gu[..., None, :] * w4
        return PosenetTargets(uv, uz, zeta, rel * ok, torch.stack([pu, pv], -1), weight)

    def decode(self, outputs: PosenetOutputs, crop_k: Tensor) -> tuple[Tensor, Tensor]:
        """Joints (N, J, 3) metres in the camera optical frame and confidence (N, J) in [0, 1].

        Peak decoding: arg-max + Newton step, exact for a sampled Gaussian."""
        uv, uz, zeta = outputs["uv"], outputs["uz"], outputs["zeta_m"]
        u, v, peak_uv = refine_peak(uv)
        row, peak_uz = refine_peak(uz)[1:]
        joints = self.back_project(u, v, row, zeta, crop_k)
        conf = torch.sqrt(peak_uv.clamp(0.0, 1.0) * peak_uz.clamp(0.0, 1.0))
        return joints, conf

    def rel_depth(self, row: Tensor) -> Tensor:
        """Fractional uz row -> normalised relative depth d (crop widths)."""
        return self.config.rel_depth_min + row * self.config.bin_step

    def back_project(
        self, u: Tensor, v: Tensor, row: Tensor, zeta: Tensor, crop_k: Tensor
    ) -> Tensor:
        """Heatmap pixel (u, v), uz row and root zeta (N,) -> joints (N, J, 3) metres."""
        k_hm = self.heatmap_k(crop_k)
        z_root = torch_normalized_to_depth(zeta, crop_k, self.config.crop_px)
        z = z_root[:, None] + self.rel_depth(row) * zeta[:, None]
        x = (u - k_hm[:, 0, 2, None]) / k_hm[:, 0, 0, None] * z
        y = (v - k_hm[:, 1, 2, None]) / k_hm[:, 1, 1, None] * z
        return torch.stack([x, y, z], dim=-1)
