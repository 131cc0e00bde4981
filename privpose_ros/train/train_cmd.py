"""`privpose train --config config/train/default.yaml`: data once, then each stage in turn.

Runs single-process on CPU by default; the same command under
``torchrun --nproc_per_node N -m privpose_ros.cli train --config ...`` trains with DDP.
Every stage resumes from its checkpoint in ``out_dir`` and is skipped once its weights exist.
A YAML with ``model: v2`` (config/train/v2.yaml) or ``--v2`` runs the v2 recipe
(train/v2_train.py) instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics
from privpose_ros.train.config import STAGES, TrainConfig, load_config

LOG = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from privpose_ros.train.refine_train import NETS, add_refine_arguments

    parser.add_argument("--config", help="training YAML (config/train/*.yaml)")
    parser.add_argument(
        "--refine", choices=sorted(NETS), help="train a depth refinement module instead"
    )
    parser.add_argument("--json", action="store_true", help="refiner: print a JSON summary")
    add_refine_arguments(parser)
    parser.add_argument(
        "--stages", default="", help=f"comma-separated subset of {','.join(STAGES)} to run"
    )
    parser.add_argument("--out-dir", default="", help="override out_dir of the config")
    parser.add_argument(
        "--v2", action="store_true", help="a v2 recipe (implied by `model: v2` in the YAML)"
    )
    parser.add_argument(
        "--real-dir",
        default="../shared/data",
        help="v2: real data root whose real2d photos (boxes from the front end, no labels) feed "
        "the distillation term when the recipe's data.real_passes > 0",
    )


def ensure_dataset(root: str, cfg: TrainConfig, frames: int, seed: int) -> None:
    """Generate the synthetic dataset at ``root`` once (skipped when it already exists)."""
    path = Path(root)
    if (path / "meta.json").is_file():
        return
    from privpose_ros.data.dataset import write_dataset
    from privpose_ros.data.synth import SynthConfig

    synth = SynthConfig(width=cfg.data.width, height=cfg.data.height, view=cfg.data.view)
    LOG.info("generating %d synthetic frames (seed %d) into %s", frames, seed, path)
    write_dataset(path, synth, frames, seed)


def real_photos(root: str | Path) -> list[tuple[np.ndarray, CameraIntrinsics, np.ndarray]]:
    """Every real2d photo under ``root`` with the front end's person boxes (labels unused);
    none (and a warning) when the folder is missing."""
    from privpose_ros.data.real import load_rgb, read_real2d_set, resolve_real_dirs
    from privpose_ros.runtime.people import FrontEndConfig, PeopleEstimator
    from privpose_ros.train.real_eval import guess_intrinsics

    try:
        sets = resolve_real_dirs(root).get("real2d", {})
    except FileNotFoundError as err:
        LOG.warning("no real photos for the distillation term: %s", err)
        return []
    photos = []
    with PeopleEstimator(FrontEndConfig(detect_every_n=1)) as front:
        for folder in sets.values():
            for image in read_real2d_set(folder):
                rgb, k = load_rgb(image.image_path), guess_intrinsics(image.width, image.height)
                boxes = [p.box_px for p in front.estimate(rgb, k).persons if p.box_px is not None]
                if boxes:
                    photos.append((rgb, k, np.stack(boxes)))
    LOG.info("%d real photos, %d people", len(photos), sum(len(p[2]) for p in photos))
    return photos


def run(args: argparse.Namespace) -> int:
    if args.refine:
        from privpose_ros.train.refine_train import run_refine_train

        return run_refine_train(args)
    if not args.config:
        raise ValueError("--config is required (e.g. config/train/default.yaml) unless --refine")
    from privpose_ros.train.v2_train import is_v2_yaml, load_recipe, run_v2

    if getattr(args, "v2", False) or is_v2_yaml(args.config):
        real = load_recipe(args.config).data.real_passes > 0
        photos = real_photos(args.real_dir) if real else None
        return run_v2(args.config, args.stages, args.out_dir, photos)
    from privpose_ros.train.data_io import load_frames
    from privpose_ros.train.evaluate import evaluate, load_model
    from privpose_ros.train.loop import barrier, setup_runtime, train_stage

    cfg = load_config(args.config)
    if args.stages:
        cfg = dataclasses.replace(cfg, stages=tuple(s.strip() for s in args.stages.split(",")))
    if args.out_dir:
        cfg = dataclasses.replace(cfg, out_dir=args.out_dir)
    rt = setup_runtime(cfg.device)
    if rt.is_main:
        ensure_dataset(cfg.data.train_dir, cfg, cfg.data.train_frames, cfg.data.train_seed)
        ensure_dataset(cfg.data.test_dir, cfg, cfg.data.test_frames, cfg.data.test_seed)
    barrier(rt)
    hw = cfg.model.input_hw
    train = load_frames(cfg.data.train_dir, hw, cfg.data.train_frames)
    test = load_frames(cfg.data.test_dir, hw, cfg.data.test_frames) if rt.is_main else None
    for stage in cfg.stages:
        if stage == "rgb_hall" and not cfg.weights_path("depth").is_file():
            raise ValueError(
                f"stage rgb_hall needs the depth teacher {cfg.weights_path('depth')}; "
                "run stage depth first (--stages depth)"
            )
        weights = cfg.weights_path(stage)
        if weights.is_file():
            LOG.info("%s: %s exists, skipping (delete it to retrain)", stage, weights)
            continue
        train_stage(cfg, stage, train, rt)
        if test is not None:
            metrics = evaluate(load_model(weights, stage), test)
            weights.with_suffix(".eval.json").write_text(json.dumps(metrics, indent=1))
            LOG.info(
                "%s on %s: MPJPE %.1f mm, PA-MPJPE %.1f mm, mAP@10cm %.3f",
                stage,
                cfg.data.test_dir,
                metrics["mpjpe_mm"],
                metrics["pa_mpjpe_mm"],
                metrics["map_10cm"],
            )
    return 0
