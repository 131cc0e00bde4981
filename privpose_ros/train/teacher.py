"""The depth teacher and the training network that holds it: everything of the privpose model
that sees privileged depth (METHODS.md section 1), kept out of the deployable model layer.

- :class:`DepthNet` (F_depth): a small CNN on the normalised depth crop;
- :func:`depth_crop_to_input`: metric depth crops -> F_depth's input and the person's zeta,
  and whether the crop has any depth in the person mask (no fallback);
- :func:`residual_depth_input`: the residual teacher's input (model/residual/net.py), depth
  relative to the front end's root with valid and person masks;
- :class:`PrivilegedPosenet`: the network of every training stage: ``depth`` (F_depth -> head),
  ``rgb`` (F_rgb -> head) and ``rgb_hall`` (F_rgb + F_hall -> Fusion -> head, with the frozen
  F_depth giving the privileged target ``depth_features``). Its RGB modules are the model
  layer's (:func:`~privpose_ros.model.posenet.net.build_posenet_modules`), under the same
  state-dict names, so a weights file it writes loads as the RGB
  :class:`~privpose_ros.model.posenet.net.Posenet` (which leaves ``f_depth.*`` out) and as this.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.model.posenet.codec import PosenetConfig, PosenetOutputs
from privpose_ros.model.posenet.landmark_prior import LandmarkPrior
from privpose_ros.model.posenet.layers import conv_bn
from privpose_ros.model.posenet.net import (
    ContextBlock,
    build_posenet_modules,
    posenet_maps,
    rgb_features,
    rgb_maps,
)
from privpose_ros.model.posenet.weights import read_posenet_weights


class DepthNet(nn.Module):
    """F_depth: (N, 2, S / 2, S / 2) normalised depth + valid fraction (depth_crop_to_input)
    -> (N, C, S / 4, S / 4) features."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv_bn(2, width, 3, 2), conv_bn(width, width, 3, 1))
        self.body = nn.Sequential(ContextBlock(width), ContextBlock(width))
        self.out = conv_bn(width, channels, 1)

    def forward(self, depth_input: Tensor) -> Tensor:
        return self.out(self.body(self.stem(depth_input)))


def depth_crop_to_input(
    crop_depth_m: Tensor, crop_k: Tensor, crop_mask: Tensor | None = None, clip: float = 2.0
) -> tuple[Tensor, Tensor, Tensor]:
    """(N, 1, S, S) metres (0 / NaN = no reading) -> F_depth input (N, 2, S / 2, S / 2), the
    crop's median person zeta (N,) metres and ``has_depth`` (N,) bool.

    Input = ((z - z_med) / zeta_med clipped to +-``clip``, valid), z_med the median valid depth
    over the person mask (over all valid pixels when no mask is given: real RGB-D crops),
    zeta_med = z_med * S / fx_crop: depth relative to the person in crop widths, the uz maps'
    unit (camera-agnostic); then 2 x 2 averaged (the mean of the valid readings, and the valid
    fraction): the teacher runs at half resolution, 7x cheaper to train than at full.

    No fallback: a crop with no reading inside its person mask (a person beyond the sensor's
    range, or fully hidden) has ``has_depth`` False, zeta NaN and an all-zero input; the
    training code leaves it out of every teacher loss and counts it (train/feature_cache.py).
    """
    z = crop_depth_m[:, 0]
    valid = torch.isfinite(z) & (z > 0)
    sel = valid if crop_mask is None else valid & crop_mask.reshape(z.shape).bool()
    has_depth = sel.flatten(1).any(1)
    nan = torch.full_like(z, float("nan"))
    z_med = torch.nanmedian(torch.where(sel, z, nan).flatten(1), dim=1).values
    z_med = torch.where(has_depth, z_med, torch.full_like(z_med, float("nan")))
    zeta_med = z_med * z.shape[-1] / crop_k[:, 0, 0]
    safe = torch.where(has_depth, z_med, torch.ones_like(z_med))  # unused where no depth
    safe_zeta = safe * z.shape[-1] / crop_k[:, 0, 0]
    norm = ((z - safe[:, None, None]) / safe_zeta[:, None, None]).clamp(-clip, clip)
    valid = valid & has_depth[:, None, None]
    norm = torch.where(valid, norm, torch.zeros_like(norm))
    frac = F.avg_pool2d(valid.to(z.dtype)[:, None], 2)
    mean = F.avg_pool2d(norm[:, None], 2) / frac.clamp(min=0.25)
    out = torch.cat([torch.where(frac > 0, mean, torch.zeros_like(mean)), frac], 1)
    return out, zeta_med, has_depth


def residual_depth_input(
    crop_depth_m: Tensor,
    crop_mask: Tensor,
    root_z_m: Tensor,
    min_valid_fraction: float = 0.2,
    clip: float = 0.5,
) -> tuple[Tensor, Tensor, Tensor]:
    """The residual teacher's input: depth crops (N, 1, D, D) metres (0 / NaN = no reading)
    cut along the front end's ROI, person masks (N, D, D) and the front end's root depth
    (N,) metres (its pelvis z in the crop camera) -> (input (N, 3, D, D), has_depth (N,) bool,
    valid fraction (N,) of the mask's pixels with a reading).

    Channels: (z - z_root) / z_root clipped to +-``clip`` where there is a reading (0 elsewhere):
    the depth surface relative to the front end's root, so it shows the front end's distance
    error directly (a correct root puts the body's surface near 0); the valid mask; the person
    mask. No fallback: a crop whose mask has under ``min_valid_fraction`` of its pixels with a
    reading (or no mask pixel) has ``has_depth`` False and is left out of every teacher loss.
    """
    z = crop_depth_m[:, 0]
    if z.ndim != 3 or crop_mask.shape != z.shape or root_z_m.shape != z.shape[:1]:
        raise PrivposeInputError(
            f"expected depth (N, 1, D, D), mask (N, D, D), root (N,); got "
            f"{tuple(crop_depth_m.shape)}, {tuple(crop_mask.shape)}, {tuple(root_z_m.shape)}"
        )
    valid = torch.isfinite(z) & (z > 0)
    mask = crop_mask.bool()
    n_mask = mask.flatten(1).sum(1)
    fraction = (valid & mask).flatten(1).sum(1) / n_mask.clamp(min=1)
    has_depth = (n_mask > 0) & (fraction >= min_valid_fraction) & (root_z_m > 0)
    root = torch.where(root_z_m > 0, root_z_m, torch.ones_like(root_z_m))[:, None, None]
    rel = ((torch.nan_to_num(z) - root) / root).clamp(-clip, clip)
    rel = torch.where(valid, rel, torch.zeros_like(rel))
    out = torch.stack([rel, valid.to(z.dtype), mask.to(z.dtype)], 1)
    return out, has_depth, fraction


class PrivilegedPosenet(nn.Module):
    """The training network of ``config.variant`` (see the module docstring);
    :meth:`forward_train` gives the maps and features the losses need, :meth:`forward` metric
    joints and confidence."""

    def __init__(self, config: PosenetConfig) -> None:
        super().__init__()
        build_posenet_modules(self, config, rgb=config.variant != "depth")
        ch, width = config.feature_channels, config.branch_width
        self.f_depth = DepthNet(ch, width) if config.variant != "rgb" else None

    def train(self, mode: bool = True) -> PrivilegedPosenet:
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
            depth_in, zeta_med, _ = depth_crop_to_input(crop_depth_m, crop_k, crop_mask)
        if crop_rgb_nhwc is not None and self.f_rgb is not None:
            rgb, prior = rgb_features(self, crop_rgb_nhwc)
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
                    **posenet_maps(self, depth_feats, crop_k, zeta_med_m),
                    "depth_features": depth_feats,
                }
            with torch.no_grad():
                depth_feats = self.f_depth(depth_input)
        if self.config.variant == "depth" or rgb_features is None:
            raise PrivposeInputError(f"variant {self.config.variant} needs its input image")
        if self.prior_bias is not None and prior is None:
            raise PrivposeInputError("this model needs the landmark prior of its F_rgb")
        out = rgb_maps(self, rgb_features, crop_k, prior)
        return out if depth_feats is None else {**out, "depth_features": depth_feats}

    def decode(self, outputs: PosenetOutputs, crop_k: Tensor) -> tuple[Tensor, Tensor]:
        """Joints (N, J, 3) metres (camera optical frame) and confidence (N, J)."""
        return self.codec.decode(outputs, crop_k)

    def forward(self, crop: Tensor, crop_k: Tensor) -> tuple[Tensor, Tensor]:
        """``crop``: RGB (N, S, S, 3) in [0, 1], or depth (N, 1, S, S) metres for ``depth``."""
        if self.config.variant == "depth":
            return self.decode(self.forward_train(crop_k, crop_depth_m=crop), crop_k)
        return self.decode(self.forward_train(crop_k, crop_rgb_nhwc=crop), crop_k)


def load_training_weights(path: str | Path) -> PrivilegedPosenet:
    """The training network of a weights file of any stage (depth teacher included), in eval
    mode."""
    config, state, _ = read_posenet_weights(path)
    net = PrivilegedPosenet(config)
    net.load_state_dict(state)
    return net.eval()
