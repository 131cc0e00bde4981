"""The residual privpose network: features sampled at the front end's joints -> residuals.

Every variant shares one head (:class:`ResidualHead`): per joint, the feature vectors at the
base joint's crop position (bilinear, ``grid_sample``), a learnt joint embedding and the base
descriptors (:func:`~privpose_ros.model.residual.geometry.base_inputs`) go through a shared MLP
to the 2D residual (crop pixels) and the depth residual (metres); the mean of the hidden
vectors with the base's log zeta and the pooled features gives the log root ratio. The last
layers start at zero, so an untrained network outputs exactly zero residuals and the lifter
reproduces the front end bit for bit (runtime/residual_lifter.py).

Variants (METHODS.md section 1):
- ``depth``: the teacher; F_depth (:class:`DepthEncoder`) on the depth crop normalised to the
  front end's root (train/teacher.py ``residual_depth_input``: relative depth, valid and person
  masks), plus the depth evidence itself (the surface at each joint, the mask's mean relative
  depth and reading fraction) -> the head; its log root starts from log(1 + the mask's mean
  relative depth), what the depth measures, plus the head's correction. Training only.
- ``rgb``: F_rgb (BlazePose full's stride-4 features of the same ROI crop, frozen, computed
  outside this module) -> the head. The RGB-only baseline.
- ``rgb_hall``: F_rgb and F_hall(F_rgb) (:class:`HallEncoder`, trained to mimic F_depth's
  standardised features) -> the head. RGB only at inference.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.model.residual.geometry import N_DESC, N_GLOBAL

VARIANTS = ("depth", "rgb", "rgb_hall")
WEIGHTS_FORMAT = "privpose-residual-weights-v1"


@dataclass(frozen=True)
class ResidualConfig:
    """``rgb_channels``: F_rgb's channels (48: BlazePose full stride 4); ``depth_channels``:
    F_depth's and F_hall's; ``width``: the head's hidden size; ``depth_px``: the teacher's
    input side; ``*_scale``: the size of one unit of the raw outputs (crop px, metres, log)."""

    variant: str = "rgb_hall"
    n_joints: int = 26
    backbone: str = "full"
    crop_px: int = 256
    rgb_channels: int = 48
    depth_channels: int = 32
    width: int = 128
    depth_px: int = 128
    uv_scale_px: float = 4.0
    dz_scale_m: float = 0.05
    root_scale: float = 0.05

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise PrivposeInputError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if self.backbone not in ("full", "lite"):
            raise PrivposeInputError(f"backbone must be full or lite, got {self.backbone!r}")


def sample_at(features: Tensor, uv01: Tensor) -> Tensor:
    """(N, C, h, w) features at (N, J, 2) positions ((crop pixels + 0.5) / crop size: 0 and 1
    are the crop's outer edges) -> (N, J, C), bilinear, zero outside."""
    grid = (uv01 * 2.0 - 1.0)[:, :, None, :]  # align_corners=False: 0..1 spans the raster
    out = F.grid_sample(features, grid, mode="bilinear", align_corners=False)
    return out[..., 0].transpose(1, 2)


class ResidualHead(nn.Module):
    def __init__(self, in_channels: int, config: ResidualConfig, n_global: int = N_GLOBAL) -> None:
        super().__init__()
        w, j = config.width, config.n_joints
        self.embed = nn.Parameter(torch.zeros(j, w))
        nn.init.normal_(self.embed, std=0.1)
        self.inp = nn.Linear(in_channels + N_DESC + 2, w)
        self.mid = nn.Sequential(nn.ReLU(), nn.Linear(w, w), nn.ReLU())
        self.out = nn.Linear(w, 3)
        self.root_in = nn.Linear(w + in_channels + n_global, w)
        self.root_out = nn.Linear(w, 1)
        for layer in (self.out, self.root_out):  # zero residuals until trained
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.scales = (config.uv_scale_px, config.dz_scale_m, config.root_scale)

    def forward(
        self, sampled: Tensor, pooled: Tensor, uv01: Tensor, desc: Tensor, glob: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        x = torch.cat([sampled, uv01, desc], -1)
        h = self.mid(self.inp(x) + self.embed)
        raw = self.out(h)
        weight = desc[..., 1:2] * desc[..., 2:3] + 1e-3
        hm = (h * weight).sum(1) / weight.sum(1)
        r = F.relu(self.root_in(torch.cat([hm, pooled, glob], -1)))
        s_uv, s_dz, s_root = self.scales
        return raw[..., :2] * s_uv, raw[..., 2] * s_dz, self.root_out(r)[:, 0] * s_root


class DepthEncoder(nn.Module):
    """F_depth: (N, 3, D, D) teacher input -> (N, C, 64, 64) at D = 128 (stride 2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()

        def block(i: int, o: int, s: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(i, o, 3, s, 1), nn.BatchNorm2d(o), nn.ReLU())

        self.net = nn.Sequential(
            block(3, 32, 2), block(32, 32, 1), block(32, 48, 2), block(48, 48, 1),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(48, channels, 3, 1, 1),
        )

    def forward(self, depth_input: Tensor) -> Tensor:
        return self.net(depth_input)


class HallEncoder(nn.Module):
    """F_hall: F_rgb's features (N, C_rgb, 64, 64) -> (N, C_depth, 64, 64), shaped like
    F_depth's standardised features."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(c_in, 48, 1), nn.BatchNorm2d(48), nn.ReLU(),
            nn.Conv2d(48, 48, 3, 1, 2, dilation=2), nn.BatchNorm2d(48), nn.ReLU(),
            nn.Conv2d(48, c_out, 1),
        )

    def forward(self, rgb_features: Tensor) -> Tensor:
        return self.net(rgb_features)


def standardise(features: Tensor) -> Tensor:
    """Per-sample, per-channel standardised features (the privileged target's scale)."""
    mean = features.mean((2, 3), keepdim=True)
    std = features.std((2, 3), keepdim=True).clamp(min=1e-3)
    return (features - mean) / std


class ResidualNet(nn.Module):
    """The network of ``config.variant``; :meth:`forward` gives (uv_px, dz_m, log_root) and
    :meth:`forward_all` also the branch features the losses need."""

    def __init__(self, config: ResidualConfig) -> None:
        super().__init__()
        self.config = config
        c_rgb, c_d = config.rgb_channels, config.depth_channels
        self.f_depth = DepthEncoder(c_d) if config.variant == "depth" else None
        self.f_hall = HallEncoder(c_rgb, c_d) if config.variant == "rgb_hall" else None
        c_in = {"depth": c_d + 2, "rgb": c_rgb, "rgb_hall": c_rgb + c_d}[config.variant]
        n_global = N_GLOBAL + (2 if config.variant == "depth" else 0)
        self.head = ResidualHead(c_in, config, n_global)

    def forward_all(
        self, features: Tensor, uv01: Tensor, desc: Tensor, glob: Tensor
    ) -> dict[str, Tensor]:
        """``features``: the teacher input (depth) or F_rgb's features (rgb variants)."""
        out: dict[str, Tensor] = {}
        if self.f_depth is not None:
            feats = self.f_depth(features)
            out["depth_features"] = feats
            # the depth evidence itself: the surface at each joint (relative depth, valid) and
            # the person's mean relative depth and reading fraction over its mask
            surface = sample_at(features[:, :2], uv01)
            seen = features[:, 1] * features[:, 2]
            n_seen = seen.flatten(1).sum(1).clamp(min=1.0)
            mean_rel = (features[:, 0] * seen).flatten(1).sum(1) / n_seen
            frac = n_seen / features[:, 2].flatten(1).sum(1).clamp(min=1.0)
            glob = torch.cat([glob, mean_rel[:, None], frac[:, None]], 1)
            sampled = torch.cat([sample_at(feats, uv01), surface], -1)
            pooled = feats.mean((2, 3))
            pooled = torch.cat([pooled, surface.new_zeros(pooled.shape[0], 2)], 1)
            uv_px, dz_m, log_root = self.head(sampled, pooled, uv01, desc, glob)
            # the teacher's root starts from what the depth measures: the mask's mean surface
            # relative to the front end's root (+ a learnt correction: body depth, clipping)
            measured = torch.log1p(mean_rel.clamp(min=-0.45))
            out["uv_px"], out["dz_m"], out["log_root"] = uv_px, dz_m, measured + log_root
            return out
        if self.f_hall is not None:
            hall = self.f_hall(features)
            out["hall_features"] = hall
            feats = torch.cat([features, hall], 1)
        else:
            feats = features
        sampled = sample_at(feats, uv01)
        pooled = feats.mean((2, 3))
        out["uv_px"], out["dz_m"], out["log_root"] = self.head(sampled, pooled, uv01, desc, glob)
        return out

    def forward(
        self, features: Tensor, uv01: Tensor, desc: Tensor, glob: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        out = self.forward_all(features, uv01, desc, glob)
        return out["uv_px"], out["dz_m"], out["log_root"]


def write_residual_weights(
    path: str | Path, net: ResidualNet, extra: dict[str, str] | None = None
) -> None:
    """``net``'s state dict as safetensors with its config (``residual_config``) in the
    metadata, written atomically."""
    from privpose_ros.model.posenet.weights import write_state_dict

    meta = {"residual_config": json.dumps(asdict(net.config)), "stage": net.config.variant}
    write_state_dict(path, net, {**(extra or {}), "format": WEIGHTS_FORMAT, **meta})


def is_residual_weights(path: str | Path) -> bool:
    """Whether ``path`` is a residual weights file (False for v2 files and non-files)."""
    from safetensors import safe_open

    if not Path(path).is_file():
        return False
    try:
        with safe_open(str(path), framework="pt") as f:
            return (f.metadata() or {}).get("format") == WEIGHTS_FORMAT
    except Exception:  # noqa: BLE001 - not a safetensors file at all
        return False


def load_residual_weights(path: str | Path) -> tuple[ResidualNet, dict[str, str]]:
    """The eval-mode network of a residual weights file and its metadata."""
    from safetensors import safe_open

    if not is_residual_weights(path):
        raise PrivposeInputError(
            f"{path} is not a privpose residual weights file (train one with "
            "`privpose_ros.train.posenet_residual_train`)"
        )
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open API
    net = ResidualNet(ResidualConfig(**json.loads(meta["residual_config"])))
    net.load_state_dict(state)
    return net.eval(), meta


class ResidualDeployable(nn.Module):
    """What runs at inference: the frozen BlazePose backbone (F_rgb, stride 4) and an rgb or
    rgb_hall :class:`ResidualNet`, one graph: (crop_rgb (N, 256, 256, 3) in [0, 1], uv01
    (N, J, 2), desc (N, J, 3), glob (N, 1)) -> (uv_px (N, J, 2), dz_m (N, J), log_root (N,))."""

    def __init__(self, net: ResidualNet, backbone: nn.Module) -> None:
        super().__init__()
        if net.config.variant == "depth":
            raise PrivposeInputError("the depth teacher is not deployable (it needs depth)")
        self.config = net.config
        self.net = net.eval()
        self.backbone = backbone.eval()
        for p in self.backbone.parameters():
            p.requires_grad_(False)

    def forward(
        self, crop_rgb: Tensor, uv01: Tensor, desc: Tensor, glob: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        feats = self.backbone.features(crop_rgb, "stride4")
        return self.net(feats, uv01, desc, glob)
