"""Three-stage training of the residual model (model/residual/net.py) on the residual cache.

    run_residual_recipe(ResidualRecipe.from_yaml("config/train/residual.yaml"),
                        PeopleEstimator(FrontEndConfig(detect_every_n=1)), MonocularLifter(1.1))

(the layers above train build the front end: docs/model.md has the driver.)

1. ``depth`` (the teacher): F_depth on the depth crop relative to the front end's root
   (train/teacher.py ``residual_depth_input``) -> residuals, trained only on crops with depth
   (``has_depth``; the others are left out of its batches and counted).
2. ``rgb``: F_rgb (BlazePose full's frozen stride-4 features) -> residuals. The RGB-only
   baseline: the same recipe without F_hall.
3. ``rgb_hall``: F_rgb + F_hall, the teacher frozen: the hallucination loss pulls F_hall towards
   the teacher's standardised F_depth features and the distillation loss pulls the outputs
   towards the teacher's, both on crops with depth only.

Every stage: L1 of the residuals in units of the output scales (2D and relative depth only
where the front end succeeded, ``pose_ok``; the root only on adult-sized people, ``adult``),
plus an L2 shrinkage of the outputs towards zero (the front end is the prior). AdamW, cosine
decay, seeded; weights as safetensors with the config and the recipe.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import Tensor

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.model.residual.geometry import ROOT_INDEX, apply_residuals
from privpose_ros.model.residual.net import (
    ResidualConfig,
    ResidualNet,
    load_residual_weights,
    standardise,
    write_residual_weights,
)
from privpose_ros.train.posenet_residual_data import (
    ResidualCache,
    ResidualDataConfig,
    build_residual_cache,
)

LOG = logging.getLogger(__name__)
STAGES = ("depth", "rgb", "rgb_hall")


@dataclass(frozen=True)
class ResidualRecipe:
    out_dir: str = "runs/residual"
    seed: int = 0
    threads: int = 2
    stages: tuple[str, ...] = STAGES
    steps: dict[str, int] = field(default_factory=lambda: {s: 300 for s in STAGES})
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    shrink: float = 0.01
    hall: float = 1.0
    distill: float = 1.0
    train: ResidualDataConfig = field(default_factory=ResidualDataConfig)
    val: ResidualDataConfig = field(default_factory=lambda: ResidualDataConfig(frames=32,
                                                                             seed=90001))
    net: dict[str, float] = field(default_factory=dict)

    @staticmethod
    def from_yaml(path: str | Path) -> ResidualRecipe:
        raw = yaml.safe_load(Path(path).read_text()) or {}
        if raw.pop("model", "residual") != "residual":
            raise PrivposeInputError(f"{path}: not a residual recipe (model: residual)")
        for key in ("train", "val"):
            if key in raw:
                raw[key] = ResidualDataConfig(**raw[key])
        if "stages" in raw:
            raw["stages"] = tuple(raw["stages"])
        unknown = set(raw) - set(ResidualRecipe.__dataclass_fields__)
        if unknown:
            raise PrivposeInputError(f"{path}: unknown recipe keys {sorted(unknown)}")
        return ResidualRecipe(**raw)

    def path(self, name: str, suffix: str = ".safetensors") -> Path:
        return Path(self.out_dir) / f"{name}{suffix}"

    def net_config(self, stage: str) -> ResidualConfig:
        return ResidualConfig(variant=stage, backbone=self.train.backbone, **self.net)


def label_loss(
    out: dict[str, Tensor], t: dict[str, Tensor], cfg: ResidualConfig, all_roots: bool = False
) -> Tensor:
    """L1 of the residuals in output-scale units: 2D and depth where ``pose_ok``, the root
    where ``adult`` (every sample with ``all_roots``: the teacher measures the distance, it
    needs no size prior); samples without either add nothing."""
    ok = t["pose_ok"]
    adult = torch.ones_like(t["adult"]) if all_roots else t["adult"]
    uv = ((out["uv_px"] - t["target_uv_px"]).abs().sum(-1) / cfg.uv_scale_px).mean(1)
    dz = ((out["dz_m"] - t["target_dz_m"]).abs() / cfg.dz_scale_m).mean(1)
    root = (out["log_root"] - t["target_log_root"]).abs() / cfg.root_scale
    pose = ((uv + dz) * ok).sum() / ok.sum().clamp(min=1.0)
    return pose + (root * adult).sum() / adult.sum().clamp(min=1.0)


def shrink_loss(out: dict[str, Tensor], cfg: ResidualConfig) -> Tensor:
    """Mean squared residual in output-scale units (towards the front end)."""
    return (
        (out["uv_px"] / cfg.uv_scale_px).pow(2).mean()
        + (out["dz_m"] / cfg.dz_scale_m).pow(2).mean()
        + (out["log_root"] / cfg.root_scale).pow(2).mean()
    )


def teacher_terms(
    out: dict[str, Tensor],
    teacher: dict[str, Tensor],
    has_depth: Tensor,
    cfg: ResidualConfig,
    root_ok: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """(hallucination, distillation) losses over the crops with depth only: MSE of F_hall to
    the teacher's standardised F_depth features; L1 of the outputs to the teacher's (its root
    only where ``root_ok`` (N,), e.g. adult-sized people: the root is distilled where a root
    label would be used)."""
    has = has_depth.bool()
    if root_ok is not None:
        out = {**out, "log_root": torch.where(root_ok.bool(), out["log_root"],
                                              teacher["log_root"].detach())}
    if not bool(has.any()):
        zero = out["uv_px"].sum() * 0.0
        return zero, zero
    o = {k: v[has] for k, v in out.items()}
    t = {k: v[has] for k, v in teacher.items()}
    hall = (o["hall_features"] - standardise(t["depth_features"]).detach()).pow(2).mean()
    d = (
        ((o["uv_px"] - t["uv_px"]).abs().sum(-1) / cfg.uv_scale_px).mean(1)
        + ((o["dz_m"] - t["dz_m"]).abs() / cfg.dz_scale_m).mean(1)
        + (o["log_root"] - t["log_root"]).abs() / cfg.root_scale
    )
    return hall, d.mean()


def _inputs(net: ResidualNet, t: dict[str, Tensor]) -> dict[str, Tensor]:
    x = t["depth_input"] if net.config.variant == "depth" else t["rgb_features"]
    return net.forward_all(x, t["uv01"], t["desc"], t["glob"])


def train_stage(recipe: ResidualRecipe, stage: str, cache: ResidualCache) -> Path:
    torch.manual_seed(recipe.seed + STAGES.index(stage))
    net = ResidualNet(recipe.net_config(stage))
    teacher = None
    if stage == "rgb_hall":
        teacher, _ = load_residual_weights(recipe.path("depth"))
        teacher.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    pool = np.nonzero(cache.has_depth)[0] if stage == "depth" else np.arange(len(cache))
    LOG.info("%s: %d of %d crops (%d without depth left out)", stage, len(pool), len(cache),
             len(cache) - len(pool) if stage == "depth" else 0)
    rng = np.random.default_rng(recipe.seed + 17 * STAGES.index(stage))
    total = int(recipe.steps.get(stage, 0))
    log = recipe.path(stage, ".log.jsonl")
    log.parent.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    with log.open("w") as f:
        net.train()
        for step in range(total):
            for g in opt.param_groups:
                g["lr"] = recipe.lr * 0.5 * (1 + math.cos(math.pi * step / max(total, 1)))
            idx = rng.choice(pool, size=min(recipe.batch_size, len(pool)), replace=False)
            t = cache.tensors(np.sort(idx))
            out = _inputs(net, t)
            parts = {"label": label_loss(out, t, net.config, all_roots=stage == "depth"),
                     "shrink": recipe.shrink * shrink_loss(out, net.config)}
            if teacher is not None:
                with torch.no_grad():
                    tout = teacher.forward_all(t["depth_input"], t["uv01"], t["desc"], t["glob"])
                hall, distill = teacher_terms(out, tout, t["has_depth"], net.config, t["adult"])
                parts.update(hall=recipe.hall * hall, distill=recipe.distill * distill)
            loss = sum(parts.values())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            row = {"step": step, "loss": float(loss), **{k: float(v) for k, v in parts.items()}}
            f.write(json.dumps(row) + "\n")
            if step % 50 == 0 or step + 1 == total:
                LOG.info("%s step %d/%d loss %.4f", stage, step + 1, total, row["loss"])
    seconds = time.perf_counter() - t_start
    path = recipe.path(stage)
    extra = {"recipe": json.dumps(asdict(recipe), default=str), "steps": str(total),
             "train_seconds": f"{seconds:.1f}"}
    write_residual_weights(path, net.eval(), extra)
    LOG.info("%s: wrote %s (%.0f s)", stage, path, seconds)
    return path


def predict(net: ResidualNet, cache: ResidualCache) -> tuple[np.ndarray, ...]:
    """Residual outputs (uv (M, J, 2), dz (M, J), log_root (M,)) for every cache entry."""
    outs = []
    with torch.no_grad():
        for i in range(0, len(cache), 64):
            t = cache.tensors(np.arange(i, min(i + 64, len(cache))))
            o = _inputs(net.eval(), t)
            outs.append([o["uv_px"].numpy(), o["dz_m"].numpy(), o["log_root"].numpy()])
    return tuple(np.concatenate(parts).astype(np.float64) for parts in zip(*outs, strict=True))


def evaluate(cache: ResidualCache, residuals: tuple[np.ndarray, ...] | None) -> dict[str, float]:
    """MPJPE (mm, absolute), pelvis-relative MPJPE (mm) and pelvis error (% of distance) of the
    base (``residuals`` None) or the corrected skeletons, all entries and split by depth."""
    abs_e, rel_e, pel = [], [], []
    for i in range(len(cache)):
        base, gt = cache.base_cam_m[i], cache.gt_cam_m[i]
        pred = base
        if residuals is not None:
            du, dz, lr = (r[i] for r in residuals)
            pred = apply_residuals(base, cache.camera(i), du, dz, float(lr))
        r = ROOT_INDEX
        abs_e.append(np.linalg.norm(pred - gt, axis=1).mean() * 1e3)
        rel_e.append(np.linalg.norm((pred - pred[r]) - (gt - gt[r]), axis=1).mean() * 1e3)
        pel.append(100 * np.linalg.norm(pred[r] - gt[r]) / np.linalg.norm(gt[r]))
    arr = {k: np.array(v) for k, v in (("mpjpe", abs_e), ("rel", rel_e), ("pelvis", pel))}
    out: dict[str, float] = {"n": len(cache), "n_depth": int(cache.has_depth.sum())}
    for split, sel in (("all", np.ones(len(cache), bool)), ("depth", cache.has_depth),
                       ("no_depth", ~cache.has_depth)):
        if sel.any():
            out[f"{split}_mpjpe_mm"] = round(float(arr["mpjpe"][sel].mean()), 1)
            out[f"{split}_rel_mpjpe_mm"] = round(float(arr["rel"][sel].mean()), 1)
            out[f"{split}_pelvis_pct"] = round(float(arr["pelvis"][sel].mean()), 2)
    return out


def load_or_build(cfg: ResidualDataConfig, path: Path, frontend, lifter) -> ResidualCache:  # noqa: ANN001
    if path.is_file():
        return ResidualCache.load(path)
    cache = build_residual_cache(cfg, frontend, lifter)
    cache.save(path)
    return cache


def run_residual_recipe(recipe: ResidualRecipe, frontend, lifter) -> dict[str, object]:  # noqa: ANN001
    """Build (or reuse) the caches, train ``recipe.stages`` and evaluate each on the validation
    cache beside the front end; writes ``<out_dir>/report.json`` and returns it. ``frontend``
    / ``lifter``: see :func:`~privpose_ros.train.posenet_residual_data.build_residual_cache`."""
    torch.set_num_threads(recipe.threads)
    t0 = time.perf_counter()
    train = load_or_build(recipe.train, recipe.path("cache_train", ".npz"), frontend, lifter)
    val = load_or_build(recipe.val, recipe.path("cache_val", ".npz"), frontend, lifter)
    LOG.info("caches: %d train, %d val crops (%.0f s)", len(train), len(val),
             time.perf_counter() - t0)
    report: dict[str, object] = {"front_end": evaluate(val, None)}
    for stage in recipe.stages:
        net, _ = load_residual_weights(train_stage(recipe, stage, train))
        report[stage] = evaluate(val, predict(net, val))
    report["seconds"] = round(time.perf_counter() - t0, 1)
    recipe.path("report", ".json").write_text(json.dumps(report, indent=1))
    return report


def is_residual_yaml(path: str | Path) -> bool:
    """Whether ``path`` is a residual recipe (a top-level ``model: residual``)."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(raw, dict) and raw.get("model") == "residual"
