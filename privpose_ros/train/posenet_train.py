"""The v2 two-stage privileged-information recipe (config/train/v2.yaml).

Stage ``depth`` trains the teacher (train/teacher.py) on depth crops with the heatmap +
coordinate losses. Stage ``rgb_hall`` loads F_depth from the stage-1 weights, freezes it
(:func:`stage2_parameters`: never in the optimiser, eval-mode BatchNorm) and trains F_hall,
Fusion and the heads with heatmap + coordinate + privileged losses. Stage ``rgb`` is the
RGB-only baseline: the identical recipe without F_hall (so without the privileged term).

Every stage trains on one cache of crops with the frozen F_rgb's features
(train/feature_cache.py, ``<out_dir>/cache.npz``, built on the first run; stage 2 adds the
distillation term towards F_rgb's own BlazePose 2D on synthetic and real crops). A run is
seeded (the same
recipe gives the same loss curve and weights), checkpoints every ``optim.checkpoint_every``
steps and resumes from ``<out_dir>/<stage>.ckpt.safetensors``; a stage whose weights exist is
skipped. Outputs per stage: ``<stage>.safetensors`` (Posenet state dict; metadata: the
PosenetConfig
JSON, the recipe JSON, the stage and step count), ``<stage>.log.jsonl`` (the loss per step) and
the validation summary ``v2_summary.json`` (train/posenet_eval.py keys, per variant).
Under torchrun every rank trains on its share of each batch (DistributedDataParallel).

"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.model.posenet.codec import VARIANTS, PosenetConfig
from privpose_ros.model.posenet.landmark_prior import LandmarkPrior
from privpose_ros.model.posenet.weights import (
    read_posenet_weights,
    write_posenet_weights,
)
from privpose_ros.train.checkpoint import load_checkpoint, save_checkpoint
from privpose_ros.train.feature_cache import (
    CacheStream,
    CropCache,
    Photos,
    cache_tensors,
    recipe_cache,
)
from privpose_ros.train.loop import Runtime, barrier, setup_runtime
from privpose_ros.train.posenet_data import CropDataConfig, validation_crops
from privpose_ros.train.posenet_eval import evaluate_posenet
from privpose_ros.train.posenet_losses import LossWeights, stage2_parameters, v2_loss
from privpose_ros.train.teacher import PrivilegedPosenet, load_training_weights

LOG = logging.getLogger(__name__)
SUMMARY_NAME = "v2_summary.json"


@dataclass(frozen=True)
class OptimConfig:
    """AdamW, linear warm-up then cosine decay to 2 % of ``lr``; ``steps`` per stage."""

    steps: dict[str, int] = field(default_factory=lambda: {s: 600 for s in VARIANTS})
    batch_size: int = 32  # crops per step (all ranks together)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    checkpoint_every: int = 50  # steps
    log_every: int = 10  # steps

    def __post_init__(self) -> None:
        if set(self.steps) - set(VARIANTS) or min(self.steps.values(), default=1) < 1:
            raise PrivposeInputError(f"optim.steps keys must be in {VARIANTS}, values >= 1")
        if self.batch_size < 1 or self.lr <= 0 or self.checkpoint_every < 1:
            raise PrivposeInputError("need batch_size >= 1, lr > 0 and checkpoint_every >= 1")

    def lr_at(self, step: int, total: int) -> float:
        warm = max(1, self.warmup_steps)
        if step < warm:
            return self.lr * (step + 1) / warm
        t = min(1.0, (step - warm) / max(1, total - warm))
        return self.lr * (0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * t)))


@dataclass(frozen=True)
class PosenetRecipe:
    """The whole recipe; ``net`` holds PosenetConfig overrides (``variant`` is set per stage)."""

    stages: tuple[str, ...] = ("depth", "rgb", "rgb_hall")
    out_dir: str = "runs/v2"
    seed: int = 0
    threads: int = 2
    device: str = "cpu"  # cpu | cuda | auto
    net: dict[str, Any] = field(default_factory=dict)
    loss: LossWeights = field(default_factory=LossWeights)
    data: CropDataConfig = field(default_factory=CropDataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        if not self.stages or set(self.stages) - set(VARIANTS):
            raise PrivposeInputError(f"stages must be a non-empty subset of {VARIANTS}")
        if self.device not in ("cpu", "cuda", "auto") or self.threads < 1:
            raise PrivposeInputError("device must be cpu, cuda or auto and threads >= 1")
        if "variant" in self.net:
            raise PrivposeInputError("net.variant is set per stage; leave it out of net")
        net = self.net_config("depth")  # unknown or invalid PosenetConfig overrides fail here
        if not net.rgb_backbone.startswith("blazepose") or net.train_rgb_backbone:
            raise PrivposeInputError(
                "the v2 recipe trains on cached features of a frozen BlazePose F_rgb: use "
                "net.rgb_backbone blazepose_lite / blazepose_full, train_rgb_backbone false"
            )

    def net_config(self, stage: str) -> PosenetConfig:
        known = {f.name for f in fields(PosenetConfig)}
        if set(self.net) - known:
            raise PrivposeInputError(f"unknown net keys {sorted(set(self.net) - known)}")
        return PosenetConfig(**{**self.net, "variant": stage})

    def path(self, stage: str, suffix: str = ".safetensors") -> Path:
        return Path(self.out_dir) / f"{stage}{suffix}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _build(cls: type, values: dict[str, Any] | None, where: str) -> Any:
    values = dict(values or {})
    unknown = set(values) - {f.name for f in fields(cls)}
    if unknown:
        raise PrivposeInputError(f"unknown keys {sorted(unknown)} in {where}")
    return cls(**values)


def recipe_from_dict(d: dict[str, Any]) -> PosenetRecipe:
    """A PosenetRecipe from plain values (a parsed YAML document; ``model: v2`` is the marker)."""
    d = dict(d or {})
    if d.pop("model", "v2") != "v2":
        raise PrivposeInputError("a v2 recipe has model: v2")
    for key, cls in (("loss", LossWeights), ("data", CropDataConfig), ("optim", OptimConfig)):
        if key in d:
            d[key] = _build(cls, d[key], key)
    return _build(PosenetRecipe, d, "the v2 recipe")


def load_recipe(path: str | Path) -> PosenetRecipe:
    """Read a v2 training YAML (config/train/v2.yaml)."""
    import yaml

    with Path(path).open() as f:
        return recipe_from_dict(yaml.safe_load(f))


def is_posenet_yaml(path: str | Path) -> bool:
    """Whether a training YAML is a v2 recipe (top-level ``model: v2``)."""
    import yaml

    with Path(path).open() as f:
        doc = yaml.safe_load(f) or {}
    return isinstance(doc, dict) and doc.get("model") == "v2"


def save_posenet_weights(
    path: str | Path, net: PrivilegedPosenet, recipe: PosenetRecipe, steps: int
) -> None:
    """Posenet state dict as safetensors; metadata: config JSON, recipe JSON, stage, steps."""
    write_posenet_weights(path, net, {"recipe": json.dumps(recipe.to_dict()), "steps": str(steps)})


def load_teacher_branch(net: PrivilegedPosenet, teacher_path: Path) -> None:
    """Copy F_depth from the stage-1 weights (its config must match) and freeze it."""
    config, state, _ = read_posenet_weights(teacher_path)
    mine = net.config
    for name in ("crop_px", "feature_channels", "branch_width"):
        if getattr(config, name) != getattr(mine, name):
            raise PrivposeInputError(f"{teacher_path}: teacher {name} differs from the student's")
    assert net.f_depth is not None
    net.f_depth.load_state_dict({k[8:]: v for k, v in state.items() if k.startswith("f_depth.")})
    net.f_depth.requires_grad_(False)


class _Forward(nn.Module):
    """forward_features as one forward, so DistributedDataParallel sees it."""

    def __init__(self, net: PrivilegedPosenet) -> None:
        super().__init__()
        self.net = net

    def forward(
        self,
        crop_k: Tensor,
        rgb: Tensor | None,
        depth: Tensor | None,
        zeta_med_m: Tensor,
        prior: LandmarkPrior,
    ) -> dict[str, Tensor]:
        return self.net.forward_features(crop_k, rgb, depth, zeta_med_m, prior)


def build_stage_net(recipe: PosenetRecipe, stage: str) -> PrivilegedPosenet:
    """The stage's seeded network; rgb_hall gets the frozen stage-1 F_depth."""
    torch.manual_seed(recipe.seed + VARIANTS.index(stage))
    net = PrivilegedPosenet(recipe.net_config(stage))
    if stage == "rgb_hall":
        teacher = recipe.path("depth")
        if not teacher.is_file():
            raise PrivposeInputError(f"stage rgb_hall needs the depth teacher {teacher}")
        load_teacher_branch(net, teacher)
    return net


def _rewrite_log(path: Path, first_step: int) -> None:
    """Drop log lines of steps a resumed run will redo."""
    if not path.is_file():
        return
    keep = [ln for ln in path.read_text().splitlines() if json.loads(ln)["step"] < first_step]
    path.write_text("".join(f"{ln}\n" for ln in keep))


def train_stage(
    recipe: PosenetRecipe,
    stage: str,
    cache: CropCache,
    rt: Runtime | None = None,
    stop_after_steps: int | None = None,
) -> Path | None:
    """Train (or resume) one stage and write its weights; returns their path, or None when
    ``stop_after_steps`` ended the run early (after a checkpoint at that step)."""
    rt = rt or Runtime()
    torch.set_num_threads(recipe.threads)
    net = build_stage_net(recipe, stage).to(rt.device)
    params = list(net.parameters()) if stage == "depth" else stage2_parameters(net)
    o = recipe.optim
    opt = torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
    ckpt, log_path = recipe.path(stage, ".ckpt.safetensors"), recipe.path(stage, ".log.jsonl")
    start = load_checkpoint(ckpt, net, opt) if ckpt.is_file() else 0
    if start:
        LOG.info("%s: resuming after step %d from %s", stage, start, ckpt)
    if rt.is_main:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        _rewrite_log(log_path, start)
    model: nn.Module = _Forward(net)
    if rt.world > 1:
        ids = None if rt.device == "cpu" else [torch.device(rt.device).index]
        model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    stream = CacheStream(cache, o.batch_size, recipe.seed, rt.rank, rt.world)
    total = o.steps.get(stage, 1)
    end = total if stop_after_steps is None else min(total, stop_after_steps)
    net.train()
    skipped_crops = 0
    for step in range(start, end):
        t0 = time.perf_counter()
        t = cache_tensors(stream.batch(step), rt.device)
        if stage == "depth":  # the teacher learns only from crops with depth in the mask
            keep = t["has_depth"] > 0
            t = {k: v[keep] for k, v in t.items()}
            skipped_crops += int((~keep).sum())
        data_s = time.perf_counter() - t0
        for group in opt.param_groups:
            group["lr"] = o.lr_at(step, total)
        rgb = None if stage == "depth" else t["rgb_features"]
        depth = None if stage == "rgb" else t["depth_input"]
        prior = LandmarkPrior(t["landmark_uv_crop_px"], t["landmark_conf"], t["landmark_world_m"])
        out = model(t["crop_k"], rgb, depth, t["zeta_med_m"], prior)
        with torch.no_grad():
            targets = net.codec.encode(t["joints_cam_m"], t["crop_k"])
        distill = None
        if stage != "depth":
            c = net.config
            uv_hm = (t["landmark_uv_crop_px"] + 0.5) * (c.heatmap_px / c.crop_px) - 0.5
            distill = (uv_hm, t["landmark_conf"])
        loss, parts = v2_loss(out, targets, net.codec, recipe.loss, distill, t["has_depth"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seconds = time.perf_counter() - t0
        if rt.is_main:
            row = {"step": step, "loss": float(loss.detach()), **parts, "crops": len(t["crop_k"])}
            row["depthless_skipped"] = skipped_crops
            with log_path.open("a") as f:
                timing = {"seconds": round(seconds, 4), "data_seconds": round(data_s, 4)}
                f.write(json.dumps({**row, **timing}) + "\n")
            if step % o.log_every == 0 or step + 1 == end:
                LOG.info(
                    "%s step %d/%d: loss %.4f (%.2f s)",
                    stage,
                    step + 1,
                    total,
                    row["loss"],
                    seconds,
                )
        if (step + 1) % o.checkpoint_every == 0 or step + 1 == end:
            if rt.is_main:
                save_checkpoint(ckpt, net, opt, step + 1)
            barrier(rt)
    if end < total:
        return None
    out_path = recipe.path(stage)
    if rt.is_main:
        save_posenet_weights(out_path, net, recipe, total)
        LOG.info("%s: wrote %s", stage, out_path)
    barrier(rt)
    return out_path


def step_timing(log_path: Path) -> dict[str, float]:
    """From a stage log: median seconds of the model step (forward, backward, update) and
    crops per second of it, and the mean seconds per step of making crops (rendering the
    epoch pools included); the first step (warm-up) is left out."""
    text = log_path.read_text() if log_path.is_file() else ""
    rows = [json.loads(ln) for ln in text.splitlines()]
    rows = rows[1:] or rows
    if not rows:
        return {}
    model_s = sorted(r["seconds"] - r["data_seconds"] for r in rows)[len(rows) // 2]
    return {
        "model_seconds_per_step": model_s,
        "model_crops_per_s": rows[0]["crops"] / max(model_s, 1e-9),
        "data_seconds_per_step": sum(r["data_seconds"] for r in rows) / len(rows),
    }


def train_posenet(
    recipe: PosenetRecipe, stop_after_steps: int | None = None, photos: Photos | None = None
) -> dict[str, Any]:
    """Every stage of the recipe in turn (resuming / skipping as described above), each
    validated on the held-out crops; returns (and writes) the summary. ``photos``: real
    photos with person boxes for the distillation term (train/feature_cache.py)."""
    rt = setup_runtime(recipe.device)
    cache_path = recipe.path("cache", ".npz")
    if rt.is_main:
        recipe_cache(cache_path, recipe.data, recipe.net_config("rgb"), recipe.seed, photos)
    barrier(rt)
    cache = CropCache.load(cache_path)
    summary_path = Path(recipe.out_dir) / SUMMARY_NAME
    summary: dict[str, Any] = {"variants": {}, "timing": {}}
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
    val = None
    for stage in recipe.stages:
        weights = recipe.path(stage)
        if weights.is_file():
            LOG.info("%s: %s exists, skipping (delete it to retrain)", stage, weights)
        elif train_stage(recipe, stage, cache, rt, stop_after_steps) is None:
            return summary
        if not rt.is_main or stage in summary["variants"]:
            continue
        if val is None:
            val = validation_crops(recipe.data, recipe.net_config(stage).crop_px)
        metrics = evaluate_posenet(
            load_training_weights(weights), val, rt.device, recipe.optim.batch_size
        )
        summary["variants"][stage] = metrics
        summary["timing"][stage] = step_timing(recipe.path(stage, ".log.jsonl"))
        summary["val"] = {"seed": recipe.data.val_seed, "frames": recipe.data.val_frames}
        summary["recipe"] = recipe.to_dict()
        summary_path.write_text(json.dumps(summary, indent=1))
        LOG.info(
            "%s: MPJPE %.1f mm (pelvis-aligned %.1f mm), pelvis %.1f mm (%.2f %% of distance)",
            stage,
            metrics["mpjpe_abs_mm"],
            metrics["mpjpe_pelvis_aligned_mm"],
            metrics["pelvis_error_mm"],
            metrics["pelvis_error_pct_of_distance"],
        )
    barrier(rt)
    return summary


def run_v2(
    config: str | Path, stages: str = "", out_dir: str = "", photos: Photos | None = None
) -> int:
    """`privpose train --config config/train/v2.yaml [--stages depth] [--out-dir DIR]`."""
    recipe = load_recipe(config)
    if stages:
        recipe = dataclasses.replace(recipe, stages=tuple(s.strip() for s in stages.split(",")))
    if out_dir:
        recipe = dataclasses.replace(recipe, out_dir=out_dir)
    train_posenet(recipe, photos=photos)
    return 0
