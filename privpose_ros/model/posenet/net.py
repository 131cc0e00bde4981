"""Privileged-information model v2: top-down, one person crop in, metric 3D joints out.

Three branches (METHODS.md section 1): F_rgb (BlazePose stride-4 features of the 256 crop,
frozen by default), F_depth (a small CNN on the normalised depth crop: the training-only teacher)
and F_hall (a small CNN on F_rgb's features trained to reproduce F_depth's features: the
privileged loss). Variants: ``depth`` (F_depth -> head), ``rgb`` (F_rgb -> head) and
``rgb_hall`` (F_rgb + F_hall -> Fusion -> head); the deployable (:class:`PosenetDeployable`) takes
the RGB crop and the crop intrinsics only.

Representation (all camera-agnostic, see :mod:`privpose_ros.core.crop`):

- ``uv`` (N, J, h, h): a Gaussian (``sigma_px`` heatmap pixels) at each joint's crop projection,
  on the heatmap grid (the crop resized to h x h, intrinsics from :func:`scale_intrinsics`);
- ``uz`` (N, J, B, h): rows are bins of the *normalised relative depth*
  d = (z_j - z_root) / zeta_root (crop widths, bins from ``rel_depth_min`` to ``rel_depth_max``),
  columns the heatmap column u; an isotropic Gaussian in heatmap pixels (d * h);
- ``zeta_m`` (N,): the root's normalised depth zeta = z_root * W_crop / fx_crop (the crop's
  metric width at the root), regressed as ``zeta_prior_m * exp(raw)``.

The network's maps are a softmax over each map's cells scaled by the target's mass
(``PosenetConfig.map_mass``): a distribution (trained with a KL divergence to the normalised
target,
train/posenet_losses.py, which learns far faster than an MSE on mostly-zero maps) that equals the
Gaussian target when perfect, so the peak value stays a confidence in [0, 1].

Decoding: z_root = zeta * fx_crop / W_crop (core.crop.normalized_to_depth), z_j = z_root +
d_j * zeta, (x, y) = z_j K_hm^-1 [u, v, 1]. Nothing depends on the source camera: two cameras
seeing the same person at the same place give the same crop K, targets and joints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.model.blazepose_torch import FEATURE_NODES, load_blazepose
from privpose_ros.model.posenet.codec import PosenetCodec, PosenetConfig, PosenetOutputs
from privpose_ros.model.posenet.heads import Fusion, SPDHHead
from privpose_ros.model.posenet.landmark_prior import (
    LandmarkPrior,
    PriorBias,
    canonical_prior,
    geometric_zeta_m,
)
from privpose_ros.model.posenet.layers import BasicBlock, conv_bn


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

    def features_and_prior(self, crop_rgb_nhwc: Tensor) -> tuple[Tensor, LandmarkPrior]:
        """The stride-4 features and the canonical landmark prior of one forward pass."""
        names = (FEATURE_NODES["stride4"][0], "landmarks", "world_landmarks", "pose_flag")
        out = self.net.run(names, self.net._check(crop_rgb_nhwc))
        return out[names[0]], canonical_prior(*(out[n] for n in names[1:]))


class DepthNet(nn.Module):
    """F_depth: (N, 2, S / 2, S / 2) normalised depth + valid fraction (depth_crop_to_input)
    -> (N, C, S / 4, S / 4) features."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv_bn(2, width, 3, 2), conv_bn(width, width, 3, 1))
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
    """(N, 1, S, S) metres (0 / NaN = no reading) -> F_depth input (N, 2, S / 2, S / 2) and the
    crop's median person zeta (N,) metres.

    Input = ((z - z_med) / zeta_med clipped to +-``clip``, valid), z_med the median valid depth
    over the person mask (over all valid pixels where a mask has none), zeta_med = z_med * S /
    fx_crop: depth relative to the person in crop widths, the uz maps' unit (camera-agnostic);
    then 2 x 2 averaged (the mean of the valid readings, and the valid fraction): the teacher
    runs at half resolution, 7x cheaper to train than at full.
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
    frac = F.avg_pool2d(valid.to(z.dtype)[:, None], 2)
    mean = F.avg_pool2d(norm[:, None], 2) / frac.clamp(min=0.25)
    return torch.cat([torch.where(frac > 0, mean, torch.zeros_like(mean)), frac], 1), zeta_med


def _scaled_softmax(logits: Tensor, mass: float) -> Tensor:
    """Softmax over each map's cells (N, J, H, W), times ``mass`` (PosenetConfig.map_mass)."""
    n, j = logits.shape[:2]
    return mass * torch.softmax(logits.reshape(n, j, -1), dim=-1).reshape(logits.shape)


def _maps(
    m: Posenet | PosenetDeployable,
    feats: Tensor,
    crop_k: Tensor,
    base_m: Tensor,
    prior: LandmarkPrior | None = None,
) -> PosenetOutputs:
    """Head logits [+ the landmark prior's biases] -> uv / uz maps (softmax over each map,
    scaled to the target's mass) and the root zeta (``base_m`` times the learnt factor; with a
    prior the base is its geometric zeta)."""
    uv_logits, uz_logits = m.head(feats)
    if prior is not None and m.prior_bias is not None:
        base_m = geometric_zeta_m(prior, m.config.crop_px, m.config.zeta_prior_m)
        uv_logits, uz_logits = m.prior_bias(uv_logits, uz_logits, prior, base_m)
    mass_uv, mass_uz = m.config.map_mass
    return {
        "uv": _scaled_softmax(uv_logits, mass_uv),
        "uz": _scaled_softmax(uz_logits, mass_uz),
        "uv_logits": uv_logits,
        "uz_logits": uz_logits,
        "zeta_m": m.zeta(feats, crop_k, m.config.crop_px, base_m),
    }


def _rgb_maps(
    m: Posenet | PosenetDeployable, rgb: Tensor, crop_k: Tensor, prior: LandmarkPrior | None = None
) -> PosenetOutputs:
    """F_rgb's features (N, C, h, h) [-> F_hall -> Fusion] -> head: the deployable path."""
    out: PosenetOutputs = {"rgb_features": rgb}
    feats = rgb
    if m.f_hall is not None and m.fusion is not None:
        out["hall_features"] = hall = m.f_hall(rgb)
        feats = m.fusion(rgb, hall)
    base = crop_k.new_tensor(m.config.zeta_prior_m)
    return {**out, **_maps(m, feats, crop_k, base, prior)}


def _rgb_features(
    m: Posenet | PosenetDeployable, crop_rgb_nhwc: Tensor
) -> tuple[Tensor, LandmarkPrior | None]:
    """F_rgb's features and, with ``landmark_prior``, BlazePose's canonical landmarks."""
    assert m.f_rgb is not None
    with torch.set_grad_enabled(torch.is_grad_enabled() and m.config.train_rgb_backbone):
        if m.config.landmark_prior:
            return m.f_rgb.features_and_prior(crop_rgb_nhwc)
        return m.f_rgb(crop_rgb_nhwc), None


class Posenet(nn.Module):
    """The v2 model of ``config.variant``; :meth:`forward_train` gives the maps and features the
    losses need, :meth:`forward` metric joints and confidence."""

    def __init__(self, config: PosenetConfig) -> None:
        super().__init__()
        self.config = c = config
        self.codec = PosenetCodec(config)
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
        with_prior = c.landmark_prior and c.variant != "depth"
        self.prior_bias = PriorBias(c) if with_prior else None
        if with_prior:  # the maps start as the prior's: zero logits from the head
            last = [self.head.post[-1]] + (
                [self.head.column.column[-1]] if self.head.column else []
            )
            for conv in last:
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)

    def train(self, mode: bool = True) -> Posenet:
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
    ) -> PosenetOutputs:
        """Maps ``uv``, ``uz``, ``zeta_m`` (and logits) and the branch features. RGB
        (N, S, S, 3) in [0, 1]; depth (N, 1, S, S) metres, for the depth variant and (no grad)
        as the privileged target ``depth_features`` of rgb_hall; ``crop_mask`` (N, S, S) the
        person's pixels."""
        depth_in = zeta_med = rgb = prior = None
        if crop_depth_m is not None and self.f_depth is not None:
            depth_in, zeta_med = depth_crop_to_input(crop_depth_m, crop_k, crop_mask)
        if crop_rgb_nhwc is not None and self.f_rgb is not None:
            rgb, prior = _rgb_features(self, crop_rgb_nhwc)
        return self.forward_features(crop_k, rgb, depth_in, zeta_med, prior)

    def forward_features(
        self,
        crop_k: Tensor,
        rgb_features: Tensor | None = None,
        depth_input: Tensor | None = None,
        zeta_med_m: Tensor | None = None,
        prior: LandmarkPrior | None = None,
    ) -> PosenetOutputs:
        """:meth:`forward_train` from F_rgb's features (N, C, h, h) and landmark prior and
        F_depth's input with its median zeta (:func:`depth_crop_to_input`) computed beforehand
        (train/feature_cache.py)."""
        depth_feats = None
        if depth_input is not None and zeta_med_m is not None and self.f_depth is not None:
            if self.config.variant == "depth":
                depth_feats = self.f_depth(depth_input)
                return {
                    **_maps(self, depth_feats, crop_k, zeta_med_m),
                    "depth_features": depth_feats,
                }
            with torch.no_grad():
                depth_feats = self.f_depth(depth_input)
        if self.config.variant == "depth" or rgb_features is None:
            raise PrivposeInputError(f"variant {self.config.variant} needs its input image")
        if self.prior_bias is not None and prior is None:
            raise PrivposeInputError("this model needs the landmark prior of its F_rgb")
        out = _rgb_maps(self, rgb_features, crop_k, prior)
        return out if depth_feats is None else {**out, "depth_features": depth_feats}

    def decode(self, outputs: PosenetOutputs, crop_k: Tensor) -> tuple[Tensor, Tensor]:
        """Joints (N, J, 3) metres (camera optical frame) and confidence (N, J)."""
        return self.codec.decode(outputs, crop_k)

    def forward(self, crop: Tensor, crop_k: Tensor) -> tuple[Tensor, Tensor]:
        """``crop``: RGB (N, S, S, 3) in [0, 1], or depth (N, 1, S, S) metres for ``depth``."""
        if self.config.variant == "depth":
            return self.decode(self.forward_train(crop_k, crop_depth_m=crop), crop_k)
        return self.decode(self.forward_train(crop_k, crop_rgb_nhwc=crop), crop_k)


class PosenetDeployable(nn.Module):
    """RGB crop (N, S, S, 3) in [0, 1] + crop K (N, 3, 3) -> joints (N, J, 3) m, confidence
    (N, J): the rgb / rgb_hall model without F_depth (shares the trained modules)."""

    def __init__(self, net: Posenet) -> None:
        super().__init__()
        if net.config.variant == "depth" or net.f_rgb is None:
            raise PrivposeInputError("the depth teacher is not deployable (it needs depth)")
        self.config, self.codec = net.config, net.codec
        self.f_rgb, self.f_hall, self.fusion = net.f_rgb, net.f_hall, net.fusion
        self.head, self.zeta, self.prior_bias = net.head, net.zeta, net.prior_bias

    def forward(self, crop_rgb_nhwc: Tensor, crop_k: Tensor) -> tuple[Tensor, Tensor]:
        rgb, prior = _rgb_features(self, crop_rgb_nhwc)
        return self.codec.decode(_rgb_maps(self, rgb, crop_k, prior), crop_k)
