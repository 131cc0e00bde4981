"""Train the depth refiners A (2D patches), B (skeleton) and C (point cloud) on synthetic frames.

`privpose train --refine A|B|C [--config config/train/refine_b.yaml]` (train_cmd dispatches to
:func:`run_refine_train`). Starting points are ground truth with Gaussian noise (A: pixels;
B: half lifted from noisy 2D joints, half noisy 3D; C: noisy 3D).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.refine.dataset import RefineFrames, lift_all, noisy_3d, noisy_px
from privpose_ros.refine.patches import PatchRefiner, PatchRefinerConfig, extract_depth_patches
from privpose_ros.refine.pointcloud import (
    PointCloudRefiner,
    PointCloudRefinerConfig,
    crop_joint_points,
)
from privpose_ros.refine.skeleton import (
    SkeletonRefiner,
    SkeletonRefinerConfig,
    fill_missing,
    skeleton_features,
)
from privpose_ros.refine.weights import save_refiner, weights_path

LOG = logging.getLogger(__name__)
CHUNK = 32  # frames per generator call
TRAIN_STREAM, VAL_STREAM = 1000, 2000  # generator seeds; evaluation uses 3000 (held out)
NETS = {
    "A": (PatchRefinerConfig, PatchRefiner),
    "B": (SkeletonRefinerConfig, SkeletonRefiner),
    "C": (PointCloudRefinerConfig, PointCloudRefiner),
}


@dataclass(frozen=True)
class RefineTrainConfig:
    """One refiner's recipe. ``noise_px`` / ``noise_m``: starting-point noise; ``lifted_fraction``
    (B): share of skeletons lifted from noisy 2D joints instead of noisy 3D; ``frames_per_step``:
    frames per optimiser step; ``net``: overrides of the module's network config."""

    module: str = "B"
    view: str = "mixed"
    width: int = 320
    height: int = 240
    num_train: int = 1500
    num_val: int = 150
    seed: int = 0
    epochs: int = 30
    frames_per_step: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    noise_px: float = 5.0
    noise_m: float = 0.05
    lifted_fraction: float = 0.5
    threads: int = 1
    net: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.module not in NETS:
            raise PrivposeInputError(f"module must be A, B or C, got {self.module!r}")

    def net_config(self) -> Any:
        config_cls = NETS[self.module][0]
        return config_cls(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in self.net.items()}
        )


def load_train_config(path: Path | None, **overrides: Any) -> RefineTrainConfig:
    """Recipe from a YAML file (keys = RefineTrainConfig fields) with non-None ``overrides``."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    raw.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(raw) - {f.name for f in dataclasses.fields(RefineTrainConfig)}
    if unknown:
        raise PrivposeInputError(f"unknown refine training keys {sorted(unknown)} in {path}")
    return RefineTrainConfig(**raw)


def generate_frames(
    view: str, count: int, seed: int, width: int = 320, height: int = 240, with_rgb: bool = False
) -> tuple[RefineFrames, np.ndarray | None]:
    """Frames 0 .. ``count`` of the generator stream ``seed`` for ``view`` (side, top, mixed);
    different seeds give disjoint streams (training 1000+, validation 2000+, tests 3000+).
    Returns the frames and, with ``with_rgb``, their (N, H, W, 3) uint8 images."""
    from privpose_ros.data.synth import SynthConfig, SyntheticGenerator

    generator = SyntheticGenerator(SynthConfig(width=width, height=height, view=view))
    parts: dict[str, list] = {
        "depth": [],
        "joints": [],
        "px": [],
        "vis": [],
        "intr": [],
        "rgb": [],
    }
    for start in range(0, count, CHUNK):
        n = min(CHUNK, count - start)
        batch = generator.batch(n, seed, start)
        parts["depth"].append(np.asarray(batch.depth_mm, dtype=np.uint16))
        parts["joints"].append(np.asarray(batch.joints_cam_m, dtype=np.float64))
        parts["px"].append(np.asarray(batch.joints_px, dtype=np.float64))
        parts["vis"].append(np.asarray(batch.visible, dtype=bool))
        parts["intr"].extend(batch.intrinsics(i) for i in range(n))
        if with_rgb:
            parts["rgb"].append(batch.rgb)
        LOG.info("generated %d/%d %s frames", start + n, count, view)
    frames = RefineFrames(
        depth_mm=np.concatenate(parts["depth"]),
        joints_cam_m=np.concatenate(parts["joints"]),
        joints_px=np.concatenate(parts["px"]),
        visible=np.concatenate(parts["vis"]),
        intrinsics=tuple(parts["intr"]),
    )
    return frames, (np.concatenate(parts["rgb"]) if with_rgb else None)


def _subset(frames: RefineFrames, index: np.ndarray) -> RefineFrames:
    return RefineFrames(
        frames.depth_mm[index],
        frames.joints_cam_m[index],
        frames.joints_px[index],
        frames.visible[index],
        tuple(frames.intrinsics[i] for i in index),
    )


def skeleton_loss(
    net: SkeletonRefiner, frames: RefineFrames, rng: np.random.Generator, cfg: RefineTrainConfig
) -> tuple[torch.Tensor, float, float]:
    """Module B: mean joint error (metres) after refining noisy / lifted skeletons."""
    lifted, conf = lift_all(frames, noisy_px(frames, cfg.noise_px, rng))
    use_lifted = rng.random(len(frames)) < cfg.lifted_fraction
    start = np.where(use_lifted[:, None, None], lifted, noisy_3d(frames, cfg.noise_m, rng))
    conf = np.where(use_lifted[:, None], conf, 1.0)
    start = fill_missing(start)
    offsets = net(torch.from_numpy(skeleton_features(start, conf)))
    pred = torch.from_numpy(start.astype(np.float32)) + offsets
    gt = torch.from_numpy(frames.joints_cam_m.astype(np.float32))
    loss = torch.linalg.norm(pred - gt, dim=-1).mean()
    before = float(np.linalg.norm(start - frames.joints_cam_m, axis=-1).mean())
    return loss, before, float(loss.detach())


def patch_loss(
    net: PatchRefiner, frames: RefineFrames, rng: np.random.Generator, cfg: RefineTrainConfig
) -> tuple[torch.Tensor, float, float]:
    """Module A: mean 2D error (pixels) of in-image joints after refining noisy 2D joints."""
    start = noisy_px(frames, cfg.noise_px, rng)
    finite = np.isfinite(start).all(-1).reshape(-1)  # joints behind the camera have no pixel
    start = np.nan_to_num(start, nan=-1e4)  # far outside the image: an empty patch
    patches = np.concatenate(
        [
            extract_depth_patches(frames.depth_mm[i], start[i], net.config)
            for i in range(len(frames))
        ]
    )
    index = torch.arange(net.config.num_joints).repeat(len(frames))
    pred = torch.from_numpy(start.reshape(-1, 2).astype(np.float32)) + net(
        torch.from_numpy(patches), index
    )
    gt = frames.joints_px.reshape(-1, 2)
    height, width = frames.depth_mm.shape[1:]
    inside = (gt[:, 0] >= 0) & (gt[:, 0] < width) & (gt[:, 1] >= 0) & (gt[:, 1] < height)
    inside &= finite
    keep = torch.from_numpy(inside)
    # no NaN anywhere in the graph (a NaN outside ``keep`` would still poison the gradients)
    gt = np.nan_to_num(gt, nan=0.0)
    err = torch.linalg.norm(pred - torch.from_numpy(gt.astype(np.float32)), dim=-1)[keep]
    before = float(np.linalg.norm(start.reshape(-1, 2) - gt, axis=-1)[inside].mean())
    return err.mean(), before, float(err.mean().detach())


def pointcloud_loss(
    net: PointCloudRefiner, frames: RefineFrames, rng: np.random.Generator, cfg: RefineTrainConfig
) -> tuple[torch.Tensor, float, float]:
    """Module C: mean joint error (metres) after refining noisy 3D joints with local points."""
    start = noisy_3d(frames, cfg.noise_m, rng)
    crops = [
        crop_joint_points(frames.depth_mm[i], frames.intrinsics[i], start[i], net.config, seed=i)
        for i in range(len(frames))
    ]
    points = torch.from_numpy(np.concatenate([c.points for c in crops]))
    half = torch.from_numpy(np.concatenate([c.half_m for c in crops]).astype(np.float32))
    index = torch.arange(net.config.num_joints).repeat(len(frames))
    usable = torch.from_numpy(np.concatenate([c.count > 0 for c in crops]))
    offsets = net(points, index, half) * usable[:, None]
    pred = torch.from_numpy(start.reshape(-1, 3).astype(np.float32)) + offsets
    gt = torch.from_numpy(frames.joints_cam_m.reshape(-1, 3).astype(np.float32))
    loss = torch.linalg.norm(pred - gt, dim=-1).mean()
    before = float(np.linalg.norm(start - frames.joints_cam_m, axis=-1).mean())
    return loss, before, float(loss.detach())


LOSSES = {"A": patch_loss, "B": skeleton_loss, "C": pointcloud_loss}


def train_refiner(
    cfg: RefineTrainConfig, train: RefineFrames, val: RefineFrames, output: Path
) -> dict[str, Any]:
    """Train one module, save its weights to ``output`` and return the validation summary."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    net_cfg = cfg.net_config()
    net = NETS[cfg.module][1](net_cfg)
    loss_fn = LOSSES[cfg.module]
    steps = cfg.epochs * max(1, len(train) // cfg.frames_per_step)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
    rng = np.random.default_rng(cfg.seed)
    started, step = time.perf_counter(), 0
    for epoch in range(cfg.epochs):
        net.train()
        order = rng.permutation(len(train))
        losses = []
        for lo in range(0, len(order) - cfg.frames_per_step + 1, cfg.frames_per_step):
            batch = _subset(train, order[lo : lo + cfg.frames_per_step])
            loss, _, _ = loss_fn(net, batch, rng, cfg)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss))
            step += 1
        LOG.info(
            "refine %s epoch %d/%d train loss %.4f (%.0f s)",
            cfg.module,
            epoch + 1,
            cfg.epochs,
            np.mean(losses),
            time.perf_counter() - started,
        )
    summary = evaluate_refiner(net, cfg, val)
    summary.update(train_seconds=round(time.perf_counter() - started, 1), steps=step)
    save_refiner(net, net_cfg, output, extra={"train": dataclasses.asdict(cfg), "val": summary})
    LOG.info("refine %s validation %s -> %s", cfg.module, json.dumps(summary), output)
    return summary


@torch.no_grad()
def evaluate_refiner(
    net: torch.nn.Module, cfg: RefineTrainConfig, val: RefineFrames
) -> dict[str, Any]:
    """Error before / after refinement on ``val`` with a fixed noise seed (px for A, m else)."""
    net.eval()
    _, before, after = LOSSES[cfg.module](net, val, np.random.default_rng(12345), cfg)
    unit = "px" if cfg.module == "A" else "m"
    return {
        "module": cfg.module,
        "unit": unit,
        "val_frames": len(val),
        "val_error_before": round(before, 5),
        "val_error_after": round(after, 5),
    }


def add_refine_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `privpose train --refine A|B|C` beyond the shared --config and --json."""
    parser.add_argument("--output", type=Path, help="refiner weights file (default: shipped)")
    parser.add_argument("--epochs", type=int, help="refiner: override the YAML's epochs")
    parser.add_argument("--num-train", type=int, help="refiner: generated training frames")
    parser.add_argument("--view", choices=("side", "top", "mixed"), help="refiner: camera views")


def run_refine_train(args: argparse.Namespace) -> int:
    """Generate frames, train the chosen module, save weights; returns the exit status."""
    cfg = load_train_config(
        Path(args.config) if args.config else None,
        module=args.refine,
        epochs=args.epochs,
        num_train=args.num_train,
        view=args.view,
    )
    train, _ = generate_frames(
        cfg.view, cfg.num_train, TRAIN_STREAM + cfg.seed, cfg.width, cfg.height
    )
    val, _ = generate_frames(cfg.view, cfg.num_val, VAL_STREAM + cfg.seed, cfg.width, cfg.height)
    summary = train_refiner(cfg, train, val, args.output or weights_path(cfg.module))
    print(json.dumps(summary) if args.json else summary)
    return 0
