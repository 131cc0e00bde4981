"""Two-stage privileged training: stage "depth" trains F_depth; stages "rgb" (baseline) and
"rgb_hall" train the RGB model, the latter with the frozen teacher's features as targets.

This module is the only place where privileged depth meets the RGB model. Single-process CPU
by default; under torchrun every rank trains on its slice of each epoch (DistributedDataParallel).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from privpose_ros.model.deployable import DeployableRGBModel, SPDHModel, save_deployable
from privpose_ros.model.spdh import scale_intrinsics
from privpose_ros.model.teacher import DepthTeacher, load_teacher
from privpose_ros.train.checkpoint import load_checkpoint, save_checkpoint
from privpose_ros.train.config import STAGES, TrainConfig
from privpose_ros.train.data_io import LetterboxedBatch
from privpose_ros.train.evaluate import model_inputs

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """Where this process trains: its rank among ``world`` processes and its device."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_runtime(device: str) -> Runtime:
    """Join the torchrun process group when WORLD_SIZE > 1 (nccl on CUDA, gloo on CPU)."""
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    dev = "cpu"
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        dev = f"cuda:{local}"
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
    return Runtime(rank=rank, world=world, device=dev)


def barrier(rt: Runtime) -> None:
    if rt.world > 1:
        torch.distributed.barrier()


class _Trainable(nn.Module):
    """The trained network as one module so DDP sees a single forward."""

    def __init__(self, net: SPDHModel) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        return self.net.forward_heatmaps(x)


def augment_rgb(rgb: Tensor, gen: torch.Generator) -> Tensor:
    """Photometric jitter of (B, 3, H, W) in [0, 1]: brightness, contrast, colour gain, noise."""
    b = rgb.shape[0]

    def u(lo: float, hi: float, *shape: int) -> Tensor:
        return (lo + (hi - lo) * torch.rand(b, *shape, generator=gen)).to(rgb.device)

    mean = rgb.mean(dim=(1, 2, 3), keepdim=True)
    out = (rgb - mean) * u(0.7, 1.3, 1, 1, 1) + mean * u(0.7, 1.3, 1, 1, 1)
    out = out * u(0.9, 1.1, 3, 1, 1)
    noise = torch.randn(rgb.shape, generator=gen).to(rgb.device)
    return (out + noise * u(0.0, 0.03, 1, 1, 1)).clamp(0.0, 1.0)


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 2 % of the peak."""
    warm = max(1, cfg.optim.warmup_steps)
    if step < warm:
        return cfg.optim.lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return cfg.optim.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def build_net(cfg: TrainConfig, stage: str, frames: LetterboxedBatch) -> SPDHModel:
    """The stage's network; RGB models record the training focal length (px at the network
    input, median over ``frames``) so that other cameras' depth is rescaled at inference."""
    torch.manual_seed(cfg.seed + STAGES.index(stage))
    mcfg = cfg.model_for(stage)
    if stage == "depth":
        return DepthTeacher(mcfg)
    focal_px = float(np.median(0.5 * (frames.k[:, 0, 0] + frames.k[:, 1, 1])))
    return DeployableRGBModel(mcfg.replace(reference_focal_px=focal_px))


def init_from_teacher(net: SPDHModel, teacher: DepthTeacher) -> int:
    """Copy F_depth's weights into F_hall wherever shapes agree (all but the first stem conv,
    which sees 3 RGB channels instead of 2 depth channels); returns the number of tensors."""
    hall = net.f_hall.state_dict()
    same = {
        k: v
        for k, v in teacher.f_depth.state_dict().items()
        if k in hall and hall[k].shape == v.shape
    }
    net.f_hall.load_state_dict(same, strict=False)
    return len(same)


def weighted_mse(pred: Tensor, target: Tensor, fg_weight: float) -> Tensor:
    """MSE with pixel weights 1 + fg_weight * target: the few pixels near a joint count more,
    so the sparse maps do not collapse to zero early in training."""
    return ((1.0 + fg_weight * target) * (pred - target) ** 2).mean()


def stage_loss(
    cfg: TrainConfig,
    net: SPDHModel,
    out: tuple[Tensor, Tensor, Tensor | None],
    joints: Tensor,
    k: Tensor,
    teacher_feats: Tensor | None,
) -> tuple[Tensor, dict[str, float]]:
    """Heatmap MSE against SPDH targets (+ coord_weight * L1 of soft-argmax joints, metres)
    (+ hall_weight * feature MSE for stage rgb_hall)."""
    uv, uz, hall = out
    k_hm = scale_intrinsics(k, net.config.input_hw, net.config.spdh.heatmap_hw)
    with torch.no_grad():
        t_uv, t_uz = net.codec.encode(joints, k_hm)
    hm = cfg.heatmap_scale * (
        weighted_mse(uv, t_uv, cfg.fg_weight) + weighted_mse(uz, t_uz, cfg.fg_weight)
    )
    parts = {"heatmap": float(hm.detach())}
    loss = hm
    if cfg.coord_weight > 0:
        pred = net.codec.decode_integral(uv, uz, k_hm)
        ok = torch.isfinite(joints).all(-1)
        coord = (pred - torch.nan_to_num(joints)).abs().sum(-1)[ok].mean()
        parts["coord_m"] = float(coord.detach())
        loss = loss + cfg.coord_weight * coord
    if teacher_feats is None or hall is None:
        return loss, parts
    hall_loss = F.mse_loss(hall, teacher_feats)
    parts["hall"] = float(hall_loss.detach())
    return loss + cfg.hall_weight * hall_loss, parts


def train_stage(cfg: TrainConfig, stage: str, frames: LetterboxedBatch, rt: Runtime) -> Path:
    """Train one stage (resuming from its checkpoint) and write its final weights."""
    from tqdm import tqdm

    torch.set_num_threads(cfg.threads)
    net = build_net(cfg, stage, frames).to(rt.device)
    teacher = None
    if stage == "rgb_hall":
        teacher = load_teacher(cfg.weights_path("depth")).to(rt.device).requires_grad_(False)
        if cfg.hall_init_from_teacher:
            init_from_teacher(net, teacher)
    trainable: nn.Module = _Trainable(net)
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay
    )
    ckpt = cfg.checkpoint_path(stage)
    start_epoch = load_checkpoint(ckpt, net, optimizer) if ckpt.is_file() else 0
    if start_epoch:
        LOG.info("%s: resuming after epoch %d from %s", stage, start_epoch, ckpt)
    if rt.world > 1:
        ids = None if rt.device == "cpu" else [torch.device(rt.device).index]
        trainable = nn.parallel.DistributedDataParallel(trainable, device_ids=ids)
    epochs = cfg.optim.epochs.get(stage, 1)
    per_rank = len(frames) // rt.world
    steps = max(1, per_rank // cfg.optim.batch_size)
    for epoch in range(start_epoch, epochs):
        net.train()
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(frames))
        mine = order[rt.rank :: rt.world][:per_rank]
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + epoch * 17 + rt.rank)
        totals: dict[str, float] = {}
        bar = tqdm(
            range(steps),
            desc=f"{stage} {epoch + 1}/{epochs}",
            disable=not rt.is_main,
            mininterval=10.0,
        )
        for step in bar:
            idx = np.sort(mine[step * cfg.optim.batch_size : (step + 1) * cfg.optim.batch_size])
            x = model_inputs(frames, idx, "depth" if stage == "depth" else "rgb")
            if stage != "depth" and cfg.augment:
                x = augment_rgb(x, gen)
            joints = torch.from_numpy(frames.joints_cam_m[idx]).to(rt.device)
            k = torch.from_numpy(frames.k[idx]).to(rt.device)
            feats = None
            if teacher is not None:
                with torch.no_grad():
                    feats = teacher.features(model_inputs(frames, idx, "depth").to(rt.device))
            for group in optimizer.param_groups:
                group["lr"] = lr_at(epoch * steps + step, epochs * steps, cfg)
            loss, parts = stage_loss(cfg, net, trainable(x.to(rt.device)), joints, k, feats)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for name, value in parts.items():
                totals[name] = totals.get(name, 0.0) + value / steps
            bar.set_postfix({k_: f"{v:.4f}" for k_, v in parts.items()}, refresh=False)
        if rt.is_main:
            LOG.info(
                "%s epoch %d/%d: %s",
                stage,
                epoch + 1,
                epochs,
                ", ".join(f"{k_} {v:.5f}" for k_, v in totals.items()),
            )
            save_checkpoint(ckpt, net, optimizer, epoch + 1)
        barrier(rt)
    out = cfg.weights_path(stage)
    if rt.is_main:
        save_deployable(net.cpu().eval(), out)
        LOG.info("%s: wrote %s", stage, out)
    barrier(rt)
    return out
