"""`privpose train --config config/train/v2.yaml`: the privpose recipe
(train/posenet_train.py, a YAML with ``model: v2``), stage after stage; `privpose train
--refine A|B|C` trains a depth refinement module instead (train/refine_train.py).

Runs single-process on CPU by default; the same command under
``torchrun --nproc_per_node N -m privpose_ros.cli train --config ...`` trains with DDP.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from privpose_ros.core.camera import CameraIntrinsics

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
        "--stages", default="", help="comma-separated subset of the recipe's stages to run"
    )
    parser.add_argument("--out-dir", default="", help="override out_dir of the config")
    parser.add_argument(
        "--real-dir",
        default="../shared/data",
        help="v2: real data root whose real2d photos (boxes from the front end, no labels) feed "
        "the distillation term when the recipe's data.real_passes > 0",
    )


def real_photos(root: str | Path) -> list[tuple[np.ndarray, CameraIntrinsics, np.ndarray]]:
    """Every real2d photo under ``root`` with the front end's person boxes (labels unused);
    none (and a warning) when the folder is missing."""
    from privpose_ros.core.frame import RGBDFrame
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
                found = front.find_persons(RGBDFrame(rgb, k))
                boxes = [p.box_px for p in found if p.box_px is not None]
                if boxes:
                    photos.append((rgb, k, np.stack(boxes)))
    LOG.info("%d real photos, %d people", len(photos), sum(len(p[2]) for p in photos))
    return photos


def run(args: argparse.Namespace) -> int:
    if args.refine:
        from privpose_ros.train.refine_train import run_refine_train

        return run_refine_train(args)
    if not args.config:
        raise ValueError("--config is required (e.g. config/train/v2.yaml) unless --refine")
    from privpose_ros.train.posenet_residual_train import is_residual_yaml

    if is_residual_yaml(args.config):
        return run_residual(args)
    from privpose_ros.train.posenet_train import is_posenet_yaml, load_recipe, run_v2

    if not is_posenet_yaml(args.config):
        raise ValueError(
            f"{args.config} is not a v2 recipe (no top-level `model: v2`); the whole-image "
            "model is gone: train with config/train/v2.yaml"
        )
    real = load_recipe(args.config).data.real_passes > 0
    photos = real_photos(args.real_dir) if real else None
    return run_v2(args.config, args.stages, args.out_dir, photos)


def run_residual(args: argparse.Namespace) -> int:
    """A residual recipe (``model: residual``): the real front end and its monocular lifter
    make the training crops (train/ may not build them itself); prints the report."""
    import dataclasses
    import json

    from privpose_ros.runtime.people import FrontEndConfig, PeopleEstimator
    from privpose_ros.runtime.placement import MonocularLifter
    from privpose_ros.train.posenet_residual_train import ResidualRecipe, run_residual_recipe

    recipe = ResidualRecipe.from_yaml(args.config)
    if args.out_dir:
        recipe = dataclasses.replace(recipe, out_dir=str(args.out_dir))
    with PeopleEstimator(FrontEndConfig(detect_every_n=1)) as front:
        report = run_residual_recipe(recipe, front, MonocularLifter(front.config.world_scale))
    print(json.dumps(report))
    return 0
