"""Privileged-information model v2: top-down, one person crop in, metric 3D joints out.

Three branches (METHODS.md section 1): F_rgb (BlazePose stride-4 features of the 256 crop,
frozen by default), F_depth (a small CNN on the normalised depth crop: the training-only teacher)
and F_hall (a small CNN on F_rgb's features trained to reproduce F_depth's features: the
privileged loss). Variants: ``depth`` (F_depth -> head), ``rgb`` (F_rgb -> head) and
``rgb_hall`` (F_rgb + F_hall -> Fusion -> head); the deployable (:class:`V2Deployable`) takes
the RGB crop and the crop intrinsics only.

Representation (all camera-agnostic, see :mod:`privpose_ros.core.crop`):

- ``uv`` (N, J, h, h): a Gaussian (``sigma_px`` heatmap pixels) at each joint's crop projection,
  on the heatmap grid (the crop resized to h x h, intrinsics from :func:`scale_intrinsics`);
- ``uz`` (N, J, B, h): rows are bins of the *normalised relative depth*
  d = (z_j - z_root) / zeta_root (crop widths, bins from ``rel_depth_min`` to ``rel_depth_max``),
  columns the heatmap column u; an isotropic Gaussian in heatmap pixels (d * h);
- ``zeta_m`` (N,): the root's normalised depth zeta = z_root * W_crop / fx_crop (the crop's
  metric width at the root), regressed as ``zeta_prior_m * exp(raw)``.

Decoding: z_root = zeta * fx_crop / W_crop (core.crop.normalized_to_depth), z_j = z_root +
d_j * zeta, (x, y) = z_j K_hm^-1 [u, v, 1]. Nothing depends on the source camera: two cameras
seeing the same person at the same place give the same crop K, targets and joints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import CANONICAL
from privpose_ros.model.blazepose_torch import load_blazepose
from privpose_ros.model.heads import UZ_HEADS, Fusion, SPDHHead
from privpose_ros.model.hrnet import BasicBlock, conv_bn
from privpose_ros.model.spdh import SPDHConfig, refine_peak, scale_intrinsics, soft_argmax

VARIANTS = ("depth", "rgb", "rgb_hall")
RGB_BACKBONES = ("blazepose_lite", "blazepose_full", "conv")
ROOT_JOINT = "pelvis"
V2Outputs = dict[str, Tensor]  # uv, uz, zeta_m [, rgb_features, hall_features, depth_features]


@dataclass(frozen=True)
class V2Config:
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
    zeta_prior_m: float = 1.5
    softmax_beta: float = 20.0
    uz_head: str = "column"
    rgb_backbone: str = "blazepose_lite"
    train_rgb_backbone: bool = False
    root_index: int = CANONICAL.index(ROOT_JOINT)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS or self.rgb_backbone not in RGB_BACKBONES:
            raise PrivposeInputError(
                f"variant must be one of {VARIANTS} and rgb_backbone one of {RGB_BACKBONES}, "
                f"got {self.variant!r}, {self.rgb_backbone!r}"
            )
        if self.uz_head not in UZ_HEADS:
            raise PrivposeInputError(f"uz_head must be one of {UZ_HEADS}, got {self.uz_head!r}")
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
    def spdh(self) -> SPDHConfig:
        """The SPDHHead's grid: (h, h) uv maps and ``n_bins`` uz rows (its metric z range is
        not used here)."""
        return SPDHConfig(heatmap_hw=(self.heatmap_px, self.heatmap_px), n_bins=self.n_bins)


class V2Targets(NamedTuple):
    uv: Tensor  # (N, J, h, h)
    uz: Tensor  # (N, J, B, h)
    zeta_m: Tensor  # (N,) root zeta
    rel_depth: Tensor  # (N, J) d = (z - z_root) / zeta, crop widths
    uv_hm_px: Tensor  # (N, J, 2) heatmap pixels
    weight: Tensor  # (N, J) 1 where the joint is finite, on the grid and in the bin range


def torch_normalized_to_depth(zeta_m: Tensor, crop_k: Tensor, crop_px: int) -> Tensor:
    """z_m = zeta_m * fx_crop / W_crop, as core.crop.normalized_to_depth, on tensors."""
    return zeta_m * crop_k[..., 0, 0] / crop_px


class V2Codec:
    """Labels <-> v2 targets and network outputs -> metric joints (see the module docstring)."""

    def __init__(self, config: V2Config) -> None:
        self.config = config

    def heatmap_k(self, crop_k: Tensor) -> Tensor:
        c = self.config
        return scale_intrinsics(crop_k, (c.crop_px, c.crop_px), (c.heatmap_px, c.heatmap_px))

    def encode(self, joints_cam_m: Tensor, crop_k: Tensor) -> V2Targets:
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
        return V2Targets(uv, uz, zeta, rel * ok, torch.stack([pu, pv], -1), weight)

    def decode(
        self, outputs: V2Outputs, crop_k: Tensor, integral: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Joints (N, J, 3) metres in the camera optical frame and confidence (N, J) in [0, 1].

        Peak decoding (arg-max + Newton step, exact for a sampled Gaussian) unless ``integral``
        (soft-argmax, differentiable: what the coordinate loss trains)."""
        uv, uz, zeta = outputs["uv"], outputs["uz"], outputs["zeta_m"]
        u, v, peak_uv = refine_peak(uv)
        row, peak_uz = refine_peak(uz)[1:]
        if integral:
            u, v = soft_argmax(uv, self.config.softmax_beta)
            row = soft_argmax(uz, self.config.softmax_beta)[1]
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


class _Context(nn.Module):
    """Residual block at stride 4 plus a stride-8 branch added back (a two-branch HRNet stage)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.local = BasicBlock(width)
        self.down = nn.Sequential(conv_bn(width, 2 * width, 3, 2), BasicBlock(2 * width))
        self.up = conv_bn(2 * width, width, 1, relu=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.local(x)
        up = F.interpolate(self.up(self.down(x)), size=x.shape[-2:], mode="bilinear")
        return F.relu(x + up)


class ConvRGB(nn.Module):
    """A small stride-4 RGB backbone (tests, ablations): NHWC [0, 1] -> (N, C, S / 4, S / 4)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn(3, 16, 3, 2), conv_bn(16, channels, 3, 2), BasicBlock(channels)
        )

    def forward(self, crop_rgb_nhwc: Tensor) -> Tensor:
        return self.body(crop_rgb_nhwc.permute(0, 3, 1, 2))


class BlazePoseRGB(nn.Module):
    """F_rgb: BlazePose's stride-4 decoder features of the 256 crop (NHWC RGB in [0, 1])."""

    def __init__(self, variant: str) -> None:
        super().__init__()
        self.net = load_blazepose(variant)

    def forward(self, crop_rgb_nhwc: Tensor) -> Tensor:
        return self.net.features(crop_rgb_nhwc, "stride4")


class DepthNet(nn.Module):
    """F_depth: (N, 2, S, S) normalised depth + valid -> (N, C, S / 4, S / 4) features."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv_bn(2, width, 3, 2), conv_bn(width, width, 3, 2))
        self.body = nn.Sequential(_Context(width), _Context(width))
        self.out = conv_bn(width, channels, 1)

    def forward(self, depth_input: Tensor) -> Tensor:
        return self.out(self.body(self.stem(depth_input)))


class HallNet(nn.Module):
    """F_hall: F_rgb features (N, C, h, h) -> hallucinated F_depth-like features, same shape."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.inp = conv_bn(channels, width, 1)
        self.body = nn.Sequential(_Context(width), _Context(width))
        self.out = conv_bn(width, channels, 1)

    def forward(self, rgb_features: Tensor) -> Tensor:
        return self.out(self.body(self.inp(rgb_features)))


class ZetaHead(nn.Module):
    """Root zeta (N,) metres = prior * exp(raw), raw from pooled features and the crop's centre
    ray (x / z, y / z) so off-axis crops can be told apart; starts at the prior."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.reduce = conv_bn(channels, width, 3, 2)
        self.mlp = nn.Sequential(nn.Linear(2 * width + 2, width), nn.ReLU(), nn.Linear(width, 1))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, features: Tensor, crop_k: Tensor, crop_px: int, prior_m: Tensor) -> Tensor:
        x = self.reduce(features)
        centre = 0.5 * (crop_px - 1)
        ray = (centre - crop_k[:, :2, 2]) / torch.diagonal(crop_k, dim1=1, dim2=2)[:, :2]
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3)), ray.to(x.dtype)], dim=1)
        return prior_m * torch.exp(self.mlp(pooled)[:, 0].clamp(-4.0, 4.0))


def depth_crop_to_input(
    crop_depth_m: Tensor, crop_k: Tensor, crop_mask: Tensor | None = None, clip: float = 2.0
) -> tuple[Tensor, Tensor]:
    """(N, 1, S, S) metres (0 / NaN = no reading) -> F_depth input (N, 2, S, S) and the crop's
    median person zeta (N,) metres.

    Input = ((z - z_med) / zeta_med clipped to +-``clip``, valid), z_med the median valid depth
    over the person mask (over all valid pixels where a mask has none), zeta_med = z_med * S /
    fx_crop: depth relative to the person in crop widths, the uz maps' unit (camera-agnostic).
    """
    z = crop_depth_m[:, 0]
    valid = torch.isfinite(z) & (z > 0)
    sel = valid if crop_mask is None else valid & crop_mask.reshape(z.shape).bool()
    sel = torch.where(sel.flatten(1).any(1)[:, None, None], sel, valid)
    nan = torch.full_like(z, float("nan"))
    z_med = torch.nanmedian(torch.where(sel, z, nan).flatten(1), dim=1).values
    z_med = torch.where(torch.isfinite(z_med), z_med, torch.ones_like(z_med))
    zeta_med = z_med * z.shape[-1] / crop_k[:, 0, 0]
    norm = ((z - z_med[:, None, None]) / zeta_med[:, None, None]).clamp(-clip, clip)
    norm = torch.where(valid, norm, torch.zeros_like(norm))
    return torch.stack([norm, valid.to(z.dtype)], dim=1), zeta_med


def _maps(m: V2Net | V2Deployable, feats: Tensor, crop_k: Tensor, prior_m: Tensor) -> V2Outputs:
    uv, uz = m.head(feats)
    return {"uv": uv, "uz": uz, "zeta_m": m.zeta(feats, crop_k, m.config.crop_px, prior_m)}


def _rgb_maps(m: V2Net | V2Deployable, crop_rgb_nhwc: Tensor, crop_k: Tensor) -> V2Outputs:
    """F_rgb [-> F_hall -> Fusion] -> head: the deployable path, shared by both classes."""
    assert m.f_rgb is not None
    with torch.set_grad_enabled(torch.is_grad_enabled() and m.config.train_rgb_backbone):
        rgb = m.f_rgb(crop_rgb_nhwc)
    out: V2Outputs = {"rgb_features": rgb}
    feats = rgb
    if m.f_hall is not None and m.fusion is not None:
        out["hall_features"] = hall = m.f_hall(rgb)
        feats = m.fusion(rgb, hall)
    return {**out, **_maps(m, feats, crop_k, crop_k.new_tensor(m.config.zeta_prior_m))}


class V2Net(nn.Module):
    """The v2 model of ``config.variant``; :meth:`forward_train` gives the maps and features the
    losses need, :meth:`forward` metric joints and confidence."""

    def __init__(self, config: V2Config) -> None:
        super().__init__()
        self.config = c = config
        self.codec = V2Codec(config)
        ch = c.feature_channels
        self.f_rgb: nn.Module | None = None
        if c.variant != "depth":
            backbone = c.rgb_backbone
            self.f_rgb = ConvRGB(ch) if backbone == "conv" else BlazePoseRGB(backbone[10:])
            if not c.train_rgb_backbone:
                self.f_rgb.requires_grad_(False)
        self.f_depth = DepthNet(ch, c.branch_width) if c.variant != "rgb" else None
        self.f_hall = HallNet(ch, c.branch_width) if c.variant == "rgb_hall" else None
        self.fusion = Fusion(ch) if c.variant == "rgb_hall" else None
        self.head = SPDHHead(ch, c.head_width, c.n_joints, c.spdh, c.uz_head)
        self.zeta = ZetaHead(ch, c.head_width)

    def train(self, mode: bool = True) -> V2Net:
        """Frozen parts stay in eval mode (their BatchNorm statistics never move): F_depth
        outside the depth variant, F_rgb unless ``train_rgb_backbone``."""
        super().train(mode)
        if self.f_depth is not None and self.config.variant != "depth":
            self.f_depth.eval()
        if self.f_rgb is not None and not self.config.train_rgb_backbone:
            self.f_rgb.eval()
        return self

    def forward_train(
        self,
        crop_k: Tensor,
        crop_rgb_nhwc: Tensor | None = None,
        crop_depth_m: Tensor | None = None,
        crop_mask: Tensor | None = None,
    ) -> V2Outputs:
        """Maps ``uv``, ``uz``, ``zeta_m`` and the branch features. RGB (N, S, S, 3) in [0, 1];
        depth (N, 1, S, S) metres, for the depth variant and (no grad) as the privileged target
        ``depth_features`` of rgb_hall; ``crop_mask`` (N, S, S) the person's pixels."""
        depth_feats = None
        if crop_depth_m is not None and self.f_depth is not None:
            depth_in, zeta_med = depth_crop_to_input(crop_depth_m, crop_k, crop_mask)
            if self.config.variant == "depth":
                depth_feats = self.f_depth(depth_in)
                return {
                    **_maps(self, depth_feats, crop_k, zeta_med),
                    "depth_features": depth_feats,
                }
            with torch.no_grad():
                depth_feats = self.f_depth(depth_in)
        if self.config.variant == "depth" or crop_rgb_nhwc is None:
            raise PrivposeInputError(f"variant {self.config.variant} needs its input image")
        out = _rgb_maps(self, crop_rgb_nhwc, crop_k)
        return out if depth_feats is None else {**out, "depth_features": depth_feats}

    def decode(self, outputs: V2Outputs, crop_k: Tensor) -> tuple[Tensor, Tensor]:
        """Joints (N, J, 3) metres (camera optical frame) and confidence (N, J)."""
        return self.codec.decode(outputs, crop_k)

    def forward(self, crop: Tensor, crop_k: Tensor) -> tuple[Tensor, Tensor]:
        """``crop``: RGB (N, S, S, 3) in [0, 1], or depth (N, 1, S, S) metres for ``depth``."""
        if self.config.variant == "depth":
            return self.decode(self.forward_train(crop_k, crop_depth_m=crop), crop_k)
        return self.decode(self.forward_train(crop_k, crop_rgb_nhwc=crop), crop_k)


class V2Deployable(nn.Module):
    """RGB crop (N, S, S, 3) in [0, 1] + crop K (N, 3, 3) -> joints (N, J, 3) m, confidence
    (N, J): the rgb / rgb_hall model without F_depth (shares the trained modules)."""

    def __init__(self, net: V2Net) -> None:
        super().__init__()
        if net.config.variant == "depth" or net.f_rgb is None:
            raise PrivposeInputError("the depth teacher is not deployable (it needs depth)")
        self.config, self.codec = net.config, net.codec
        self.f_rgb, self.f_hall, self.fusion = net.f_rgb, net.f_hall, net.fusion
        self.head, self.zeta = net.head, net.zeta

    def forward(self, crop_rgb_nhwc: Tensor, crop_k: Tensor) -> tuple[Tensor, Tensor]:
        return self.codec.decode(_rgb_maps(self, crop_rgb_nhwc, crop_k), crop_k)
