"""BlazePose's own landmarks as a prior for the v2 maps (model/posenet/net.py, ``landmark_prior``).

F_rgb is the BlazePose landmark network; besides its stride-4 features the same forward pass
gives 2D landmarks, their visibility and metric world points (hip-centred, metres, the crop's
axes: x right, y down, z away from the camera). Mapped onto the canonical joints
(core.blazepose's matrix, the front end's map) they are a real-world-trained first guess the v2
heads refine instead of learning 2D and 3D from synthetic crops alone:

- ``uv`` logits get a per-joint bias -a_j * c_j * d^2 / (2 s^2): d the distance (heatmap
  pixels) from the prior's 2D joint, c_j its confidence, s = ``prior_sigma_px``, a_j >= 0 learnt;
- the root zeta starts from the geometric estimate zeta_geom = W * sum |dxy_world| /
  sum |duv_crop| over the long bones (a bone of metric extent dxy at depth z spans
  f_crop * dxy / z crop pixels, so z / f_crop = dxy / duv and zeta = z * W / f_crop), which is
  how the front end places its skeleton; the zeta head learns a correction factor;
- ``uz`` logits get the same kind of bias around (u_prior, d_prior), d_prior = (z_world_j -
  z_world_root) / zeta the prior's relative depth in crop widths.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from privpose_ros.core.blazepose import CANONICAL_FROM_BLAZEPOSE, NUM_LANDMARKS
from privpose_ros.core.joints import CANONICAL, CANONICAL_BONES
from privpose_ros.model.posenet.codec import PosenetConfig

# long bones for the geometric zeta: torso, shoulders, arms, hips, legs (face, hand and foot
# bones are short and their world points least reliable)
_SHORT = {"head", "head_top", "nose", "left_eye", "right_eye", "left_ear", "right_ear"}
_SHORT |= {"left_hand", "right_hand", "left_foot", "right_foot"}
ZETA_BONES = tuple(bone for bone in CANONICAL_BONES if not _SHORT & set(bone))
_BONE_INDEX = torch.tensor([[CANONICAL.index(a), CANONICAL.index(b)] for a, b in ZETA_BONES])


class LandmarkPrior(NamedTuple):
    """Canonical joints of BlazePose's landmarks on one batch of crops."""

    uv_crop_px: Tensor  # (N, J, 2) crop pixels, pixel-centre convention
    confidence: Tensor  # (N, J) in [0, 1]: the least visible landmark used, 0 without a person
    world_m: Tensor  # (N, J, 3) metres, hip-centred, the crop's axes


def canonical_prior(
    landmarks: Tensor, world_landmarks: Tensor, pose_flag: Tensor
) -> LandmarkPrior:
    """BlazePose outputs (N, 195), (N, 117), (N, 1) -> the canonical prior (see the module
    docstring); x and y of ``landmarks`` are in crop pixels with the corner convention."""
    n = landmarks.shape[0]
    mix = landmarks.new_tensor(CANONICAL_FROM_BLAZEPOSE)  # (J, 33)
    lm = landmarks.reshape(n, -1, 5)[:, :NUM_LANDMARKS]
    world = world_landmarks.reshape(n, -1, 3)[:, :NUM_LANDMARKS]
    uv = torch.einsum("cl,nld->ncd", mix, lm[..., :2] - 0.5)
    vis = torch.sigmoid(lm[..., 3])  # (N, 33)
    used = (mix != 0)[None]  # (1, J, 33)
    conf = torch.where(used, vis[:, None, :], torch.ones_like(vis[:, None, :])).amin(-1)
    conf = conf * (pose_flag.reshape(n, 1) > 0.5).to(conf.dtype)
    return LandmarkPrior(uv, conf, torch.einsum("cl,nld->ncd", mix, world))


def geometric_zeta_m(prior: LandmarkPrior, crop_px: int, fallback_m: float) -> Tensor:
    """(N,) zeta_geom = W * sum_b w_b |dxy_world_b| / sum_b w_b |duv_crop_b| (metres), w_b the
    lesser confidence of the bone's joints; ``fallback_m`` where no bone is confident."""
    a, b = _BONE_INDEX[:, 0].to(prior.uv_crop_px.device), _BONE_INDEX[:, 1]
    b = b.to(prior.uv_crop_px.device)
    w = torch.minimum(prior.confidence[:, a], prior.confidence[:, b])
    d_world = (prior.world_m[:, a, :2] - prior.world_m[:, b, :2]).norm(dim=-1)
    d_crop = (prior.uv_crop_px[:, a] - prior.uv_crop_px[:, b]).norm(dim=-1)
    num, den = (w * d_world).sum(-1), (w * d_crop).sum(-1)
    ok = (w.sum(-1) > 0.5) & (den > 1.0) & (num > 1e-3)
    zeta = crop_px * num / den.clamp(min=1.0)
    return torch.where(ok, zeta, torch.full_like(zeta, fallback_m))


def gaussian_log_bias(
    grid_u: Tensor, grid_v: Tensor, centre_u: Tensor, centre_v: Tensor, sigma_px: float
) -> Tensor:
    """-(du^2 + dv^2) / (2 sigma^2) on a (H, W) grid (``grid_v`` (H, 1) and ``grid_u`` (1, W)
    in heatmap pixels) around per-joint centres (N, J) -> (N, J, H, W)."""
    du = grid_u - centre_u[..., None, None]
    dv = grid_v - centre_v[..., None, None]
    return -(du * du + dv * dv) / (2.0 * sigma_px**2)


class PriorBias(nn.Module):
    """Adds the prior's per-joint log-Gaussian biases to the head's uv and uz logits (see the
    module docstring); the gains a_j = softplus(raw) start at 1."""

    def __init__(self, config: PosenetConfig) -> None:
        super().__init__()
        self.config = config
        start = math.log(math.e - 1.0)  # softplus(start) = 1
        self.raw_gain = nn.Parameter(torch.full((2, config.n_joints), start))

    def forward(
        self, uv_logits: Tensor, uz_logits: Tensor, prior: LandmarkPrior, zeta_geom_m: Tensor
    ) -> tuple[Tensor, Tensor]:
        c = self.config
        h, s = c.heatmap_px, c.prior_sigma_px
        gain = F.softplus(self.raw_gain)[:, None, :] * prior.confidence[None]  # (2, N, J)
        uv_hm = (prior.uv_crop_px + 0.5) * (h / c.crop_px) - 0.5
        cells = torch.arange(h, dtype=uv_logits.dtype, device=uv_logits.device)
        bias_uv = gaussian_log_bias(cells[None], cells[:, None], uv_hm[..., 0], uv_hm[..., 1], s)
        root = prior.world_m[:, c.root_index : c.root_index + 1, 2]
        rel = (prior.world_m[..., 2] - root) / zeta_geom_m[:, None]
        row_px = (rel - c.rel_depth_min) / c.bin_step * (c.bin_step * h)  # rows in heatmap px
        rows = torch.arange(c.n_bins, dtype=uv_logits.dtype, device=uv_logits.device)
        bias_uz = gaussian_log_bias(
            cells[None], (rows * c.bin_step * h)[:, None], uv_hm[..., 0], row_px, s
        )
        return (
            uv_logits + gain[0][..., None, None] * bias_uv,
            uz_logits + gain[1][..., None, None] * bias_uz,
        )
