"""The privpose network, RGB side: top-down, one person crop in, metric 3D joints out.

Branches (METHODS.md section 1): F_rgb (BlazePose stride-4 features of the 256 crop, frozen by
default) and F_hall (a small CNN on F_rgb's features trained to reproduce the depth teacher's
features: the privileged loss). Variants here: ``rgb`` (F_rgb -> head) and ``rgb_hall`` (F_rgb +
F_hall -> Fusion -> head); :class:`Posenet` and the deployable (:class:`PosenetDeployable`) take
the RGB crop and the crop intrinsics only. The depth teacher (F_depth, variant ``depth``) and its
input preparation are training-only: :mod:`privpose_ros.train.teacher`, whose
``PrivilegedPosenet`` builds the same modules under the same state-dict names
(:func:`build_posenet_modules`) plus ``f_depth``.

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


class ContextBlock(nn.Module):
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


class HallNet(nn.Module):
    """F_hall: F_rgb features (N, C, h, h) -> hallucinated F_depth-like features, same shape."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.inp = conv_bn(channels, width, 1)
        self.body = nn.Sequential(ContextBlock(width), ContextBlock(width))
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


def _scaled_softmax(logits: Tensor, mass: float) -> Tensor:
    """Softmax over each map's cells (N, J, H, W), times ``mass`` (PosenetConfig.map_mass)."""
    n, j = logits.shape[:2]
    return mass * torch.softmax(logits.reshape(n, j, -1), dim=-1).reshape(logits.shape)


def posenet_maps(
    m: nn.Module,
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


def rgb_maps(
    m: nn.Module, rgb: Tensor, crop_k: Tensor, prior: LandmarkPrior | None = None
) -> PosenetOutputs:
    """F_rgb's features (N, C, h, h) [-> F_hall -> Fusion] -> head: the deployable path."""
    out: PosenetOutputs = {"rgb_features": rgb}
    feats = rgb
    if m.f_hall is not None and m.fusion is not None:
        out["hall_features"] = hall = m.f_hall(rgb)
        feats = m.fusion(rgb, hall)
    base = crop_k.new_tensor(m.config.zeta_prior_m)
    return {**out, **posenet_maps(m, feats, crop_k, base, prior)}


def rgb_features(
    m: nn.Module, crop_rgb_nhwc: Tensor
) -> tuple[Tensor, LandmarkPrior | None]:
    """F_rgb's features and, with ``landmark_prior``, BlazePose's canonical landmarks."""
    assert m.f_rgb is not None
    with torch.set_grad_enabled(torch.is_grad_enabled() and m.config.train_rgb_backbone):
        if m.config.landmark_prior:
            return m.f_rgb.features_and_prior(crop_rgb_nhwc)
        return m.f_rgb(crop_rgb_nhwc), None


def build_posenet_modules(m: nn.Module, config: PosenetConfig, rgb: bool = True) -> None:
    """Give ``m`` the modules every variant shares, under the state-dict names of the weights
    files: ``codec``, ``f_rgb`` (None without ``rgb``), ``f_hall`` and ``fusion`` (rgb_hall),
    ``head``, ``zeta`` and ``prior_bias`` (with the landmark prior and ``rgb``)."""
    c = config
    m.config, m.codec = c, PosenetCodec(c)
    ch = c.feature_channels
    m.f_rgb = None
    if rgb:
        m.f_rgb = ConvRGB(ch) if c.rgb_backbone == "conv" else BlazePoseRGB(c.rgb_backbone[10:])
        if not c.train_rgb_backbone:
            m.f_rgb.requires_grad_(False)
    m.f_hall = HallNet(ch, c.branch_width) if c.variant == "rgb_hall" else None
    m.fusion = Fusion(ch) if c.variant == "rgb_hall" else None
    m.head = SPDHHead(ch, c.head_width, c.n_joints, c.spdh, c.uz_head)
    m.zeta = ZetaHead(ch, c.head_width)
    with_prior = c.landmark_prior and rgb
    m.prior_bias = PriorBias(c) if with_prior else None
    if with_prior:  # the maps start as the prior's: zero logits from the head
        last = [m.head.post[-1]] + ([m.head.column.column[-1]] if m.head.column else [])
        for conv in last:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)


class Posenet(nn.Module):
    """The RGB model of ``config.variant`` (rgb or rgb_hall); :meth:`forward_train` gives the
    maps and features the losses need, :meth:`forward` metric joints and confidence. Training
    with the depth teacher uses ``privpose_ros.train.teacher.PrivilegedPosenet`` (same names)."""

    def __init__(self, config: PosenetConfig) -> None:
        if config.variant not in ("rgb", "rgb_hall"):
            raise PrivposeInputError(
                f"Posenet holds the RGB variants (rgb, rgb_hall), got {config.variant!r}; the "
                "depth teacher is training-only: privpose_ros.train.teacher.PrivilegedPosenet"
            )
        super().__init__()
        build_posenet_modules(self, config)

    def train(self, mode: bool = True) -> Posenet:
        """F_rgb stays in eval mode (its BatchNorm statistics never move) unless
        ``train_rgb_backbone``."""
        super().train(mode)
        if self.f_rgb is not None and not self.config.train_rgb_backbone:
            self.f_rgb.eval()
        return self

    def forward_train(self, crop_k: Tensor, crop_rgb_nhwc: Tensor) -> PosenetOutputs:
        """Maps ``uv``, ``uz``, ``zeta_m`` (and logits) and the branch features of RGB crops
        (N, S, S, 3) in [0, 1] with their intrinsics (N, 3, 3)."""
        rgb, prior = rgb_features(self, crop_rgb_nhwc)
        return self.forward_features(crop_k, rgb, prior=prior)

    def forward_features(
        self, crop_k: Tensor, rgb_features: Tensor, prior: LandmarkPrior | None = None
    ) -> PosenetOutputs:
        """:meth:`forward_train` from F_rgb's features (N, C, h, h) and landmark prior computed
        beforehand (train/feature_cache.py)."""
        if self.prior_bias is not None and prior is None:
            raise PrivposeInputError("this model needs the landmark prior of its F_rgb")
        return rgb_maps(self, rgb_features, crop_k, prior)

    def decode(self, outputs: PosenetOutputs, crop_k: Tensor) -> tuple[Tensor, Tensor]:
        """Joints (N, J, 3) metres (camera optical frame) and confidence (N, J)."""
        return self.codec.decode(outputs, crop_k)

    def forward(self, crop: Tensor, crop_k: Tensor) -> tuple[Tensor, Tensor]:
        """``crop``: RGB (N, S, S, 3) in [0, 1]."""
        return self.decode(self.forward_train(crop_k, crop), crop_k)


class PosenetDeployable(nn.Module):
    """RGB crop (N, S, S, 3) in [0, 1] + crop K (N, 3, 3) -> joints (N, J, 3) m, confidence
    (N, J): the rgb / rgb_hall modules of a trained net (a :class:`Posenet`, or a training net
    whose F_depth it leaves out), shared, not copied."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        if net.config.variant == "depth" or net.f_rgb is None:
            raise PrivposeInputError("the depth teacher is not deployable (it needs depth)")
        self.config, self.codec = net.config, net.codec
        self.f_rgb, self.f_hall, self.fusion = net.f_rgb, net.f_hall, net.fusion
        self.head, self.zeta, self.prior_bias = net.head, net.zeta, net.prior_bias

    def forward(self, crop_rgb_nhwc: Tensor, crop_k: Tensor) -> tuple[Tensor, Tensor]:
        rgb, prior = rgb_features(self, crop_rgb_nhwc)
        return self.codec.decode(rgb_maps(self, rgb, crop_k, prior), crop_k)
