"""Losses and parameter groups of the v2 privileged-information model (model/v2_net.py).

- heatmap loss: per-joint MSE of the ``uv`` and ``uz`` maps against the Gaussian targets;
- coordinate loss (integral regression): soft-argmax uv (L1, heatmap widths), soft-argmax uz row
  as normalised relative depth (L1, crop widths) and the root zeta (L1, metres);
- privileged loss: L2 between F_hall's features and F_depth's (detached) features.

Stage 1 trains the depth variant on heatmap + coordinate losses. Stage 2 loads F_depth from
stage 1, freezes it and trains rgb_hall with all three: :func:`stage2_parameters` is what its
optimiser gets (never F_depth; F_rgb only with ``train_rgb_backbone``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.model.spdh import soft_argmax
from privpose_ros.model.v2_net import V2Codec, V2Net, V2Outputs, V2Targets


@dataclass(frozen=True)
class V2LossWeights:
    heatmap: float = 1.0
    uv: float = 1.0
    rel_depth: float = 1.0
    zeta: float = 1.0
    privileged: float = 1.0
    heatmap_gain: float = 100.0  # the Gaussian maps are mostly zero: MSE is tiny unscaled


def _weighted_mean(per_joint: Tensor, weight: Tensor) -> Tensor:
    return (per_joint * weight).sum() / weight.sum().clamp(min=1.0)


def heatmap_loss(outputs: V2Outputs, targets: V2Targets) -> Tensor:
    """Mean over weighted joints of the per-map MSE of ``uv`` plus that of ``uz``."""
    mse_uv = ((outputs["uv"] - targets.uv) ** 2).mean(dim=(2, 3))
    mse_uz = ((outputs["uz"] - targets.uz) ** 2).mean(dim=(2, 3))
    return _weighted_mean(mse_uv + mse_uz, targets.weight)


def coordinate_losses(outputs: V2Outputs, targets: V2Targets, codec: V2Codec) -> dict[str, Tensor]:
    """L1 of the soft-argmax uv (heatmap widths) and relative depth (crop widths), and of the
    root zeta (metres, every sample with a root)."""
    c = codec.config
    u, v = soft_argmax(outputs["uv"], c.softmax_beta)
    row = soft_argmax(outputs["uz"], c.softmax_beta)[1]
    uv_err = (torch.stack([u, v], -1) - targets.uv_hm_px).abs().sum(-1) / c.heatmap_px
    rel_err = (codec.rel_depth(row) - targets.rel_depth).abs()
    has_root = targets.weight.any(dim=1).to(targets.zeta_m.dtype)
    zeta_err = (outputs["zeta_m"] - targets.zeta_m).abs()
    return {
        "uv": _weighted_mean(uv_err, targets.weight),
        "rel_depth": _weighted_mean(rel_err, targets.weight),
        "zeta": _weighted_mean(zeta_err, has_root),
    }


def privileged_loss(hall_features: Tensor, depth_features: Tensor) -> Tensor:
    """MSE between F_hall's features and F_depth's, the latter detached (the teacher is fixed)."""
    if hall_features.shape != depth_features.shape:
        raise PrivposeInputError(
            f"F_hall features {tuple(hall_features.shape)} must match F_depth's "
            f"{tuple(depth_features.shape)}"
        )
    return F.mse_loss(hall_features, depth_features.detach())


def v2_loss(
    outputs: V2Outputs,
    targets: V2Targets,
    codec: V2Codec,
    weights: V2LossWeights | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Weighted total and its parts (floats, for logging). The privileged term is added when
    the outputs hold both ``hall_features`` and ``depth_features`` (stage 2)."""
    w = weights or V2LossWeights()
    parts = {"heatmap": w.heatmap_gain * heatmap_loss(outputs, targets)}
    parts.update(coordinate_losses(outputs, targets, codec))
    if "hall_features" in outputs and "depth_features" in outputs:
        parts["privileged"] = privileged_loss(outputs["hall_features"], outputs["depth_features"])
    scale = {
        "heatmap": w.heatmap,
        "uv": w.uv,
        "rel_depth": w.rel_depth,
        "zeta": w.zeta,
        "privileged": w.privileged,
    }
    total = sum(scale[k] * v for k, v in parts.items())
    assert isinstance(total, Tensor)
    return total, {k: float(v.detach()) for k, v in parts.items()}


def stage2_parameters(model: V2Net) -> list[nn.Parameter]:
    """The parameters stage 2 trains: everything but F_depth, and F_rgb only when
    ``config.train_rgb_backbone``. Also freezes F_depth (requires_grad off) so no gradient
    is computed for it."""
    if model.config.variant == "depth":
        raise PrivposeInputError("stage 2 trains the rgb / rgb_hall variants, not the teacher")
    if model.f_depth is not None:
        model.f_depth.requires_grad_(False)
    skip = {id(p) for p in model.f_depth.parameters()} if model.f_depth is not None else set()
    if model.f_rgb is not None and not model.config.train_rgb_backbone:
        skip |= {id(p) for p in model.f_rgb.parameters()}
    return [p for p in model.parameters() if id(p) not in skip]
