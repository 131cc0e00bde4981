"""Losses and parameter groups of the v2 privileged-information model (model/posenet/net.py).

- heatmap loss: per-joint KL divergence of the ``uv`` and ``uz`` softmax maps from the
  normalised Gaussian targets (nats);
- coordinate loss (integral regression): the expected uv under the softmax map (L1, heatmap
  widths), the expected uz row as normalised relative depth (L1, crop widths) and the root zeta
  (L1, metres);
- distillation loss (optional targets): the expected uv against the frozen front end's 2D on the
  same crop (L1, heatmap widths, weighted by its confidence), on synthetic and real crops;
- privileged loss: L2 between F_hall's features and F_depth's (detached) features.

Stage 1 trains the depth variant on heatmap + coordinate losses. Stage 2 loads F_depth from
stage 1, freezes it and trains rgb_hall with all three: :func:`stage2_parameters` is what its
optimiser gets (never F_depth; F_rgb only with ``train_rgb_backbone``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.model.posenet.codec import PosenetCodec, PosenetOutputs, PosenetTargets
from privpose_ros.model.posenet.spdh import soft_argmax
from privpose_ros.train.teacher import PrivilegedPosenet


@dataclass(frozen=True)
class LossWeights:
    heatmap: float = 1.0
    uv: float = 1.0
    rel_depth: float = 1.0
    zeta: float = 1.0
    privileged: float = 1.0
    distill: float = 0.5


def _weighted_mean(per_joint: Tensor, weight: Tensor) -> Tensor:
    return (per_joint * weight).sum() / weight.sum().clamp(min=1.0)


def _kl(logits: Tensor, target: Tensor) -> Tensor:
    """(N, J) KL(target / sum || softmax(logits)) over each map's cells."""
    t = target.flatten(2)
    t = t / t.sum(-1, keepdim=True).clamp(min=1e-12)
    log_p = torch.log_softmax(logits.flatten(2), dim=-1)
    return (t * (torch.log(t.clamp(min=1e-12)) - log_p)).sum(-1)


def heatmap_loss(outputs: PosenetOutputs, targets: PosenetTargets) -> Tensor:
    """Mean over weighted joints of the KL divergence of ``uv`` plus that of ``uz``."""
    kl = _kl(outputs["uv_logits"], targets.uv) + _kl(outputs["uz_logits"], targets.uz)
    return _weighted_mean(kl, targets.weight)


def expected_uv(outputs: PosenetOutputs) -> Tensor:
    """(N, J, 2) heatmap pixels: the mean (u, v) under each softmax uv map."""
    u, v = soft_argmax(outputs["uv_logits"], 1.0)
    return torch.stack([u, v], -1)


def distill_loss(uv_pred: Tensor, uv_hm_px: Tensor, weight: Tensor, heatmap_px: int) -> Tensor:
    """L1 (heatmap widths) of the expected uv (N, J, 2) (:func:`expected_uv`) against the
    front end's 2D (N, J, 2) heatmap pixels, weighted (N, J) by its confidence (0: no target)."""
    err = (uv_pred - uv_hm_px).abs().sum(-1) / heatmap_px
    return _weighted_mean(torch.nan_to_num(err), weight)


def coordinate_losses(
    outputs: PosenetOutputs, targets: PosenetTargets, codec: PosenetCodec, uv_pred: Tensor
) -> dict[str, Tensor]:
    """L1 of the expected uv ``uv_pred`` (:func:`expected_uv`, heatmap widths) and relative
    depth (crop widths), and of the root zeta (metres, every sample with a root)."""
    c = codec.config
    row = soft_argmax(outputs["uz_logits"], 1.0)[1]
    uv_err = (uv_pred - targets.uv_hm_px).abs().sum(-1) / c.heatmap_px
    rel_err = (codec.rel_depth(row) - targets.rel_depth).abs()
    has_root = targets.weight.any(dim=1).to(targets.zeta_m.dtype)
    zeta_err = (outputs["zeta_m"] - targets.zeta_m).abs()
    return {
        "uv": _weighted_mean(uv_err, targets.weight),
        "rel_depth": _weighted_mean(rel_err, targets.weight),
        "zeta": _weighted_mean(zeta_err, has_root),
    }


def privileged_loss(
    hall_features: Tensor, depth_features: Tensor, has_depth: Tensor | None = None
) -> Tensor:
    """MSE between F_hall's features and F_depth's, the latter detached (the teacher is fixed),
    over the crops with depth (``has_depth`` (N,), None: all); 0 when none has depth."""
    if hall_features.shape != depth_features.shape:
        raise PrivposeInputError(
            f"F_hall features {tuple(hall_features.shape)} must match F_depth's "
            f"{tuple(depth_features.shape)}"
        )
    per_crop = (hall_features - depth_features.detach()).pow(2).flatten(1).mean(1)
    if has_depth is None:
        return per_crop.mean()
    keep = has_depth.to(per_crop.dtype)
    return (per_crop * keep).sum() / keep.sum().clamp(min=1.0)


def v2_loss(
    outputs: PosenetOutputs,
    targets: PosenetTargets,
    codec: PosenetCodec,
    weights: LossWeights | None = None,
    distill: tuple[Tensor, Tensor] | None = None,
    has_depth: Tensor | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Weighted total and its parts (floats, for logging). The privileged term is added when
    the outputs hold both ``hall_features`` and ``depth_features`` (stage 2), over the crops
    of ``has_depth`` (N,) only; the distillation term when ``distill`` = (front-end uv
    (N, J, 2) heatmap pixels, confidence (N, J)) is given. The depth stage never sees a crop
    without depth (train/posenet_train.py leaves them out of its batches)."""
    w = weights or LossWeights()
    parts = {"heatmap": heatmap_loss(outputs, targets)}
    uv_pred = expected_uv(outputs)  # once: the coordinate and distillation terms share it
    parts.update(coordinate_losses(outputs, targets, codec, uv_pred))
    if distill is not None:
        parts["distill"] = distill_loss(uv_pred, *distill, codec.config.heatmap_px)
    if "hall_features" in outputs and "depth_features" in outputs:
        parts["privileged"] = privileged_loss(
            outputs["hall_features"], outputs["depth_features"], has_depth
        )
    scale = {
        "heatmap": w.heatmap,
        "uv": w.uv,
        "rel_depth": w.rel_depth,
        "zeta": w.zeta,
        "privileged": w.privileged,
        "distill": w.distill,
    }
    total = sum(scale[k] * v for k, v in parts.items())
    assert isinstance(total, Tensor)
    return total, {k: float(v.detach()) for k, v in parts.items()}


def stage2_parameters(model: PrivilegedPosenet) -> list[nn.Parameter]:
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
