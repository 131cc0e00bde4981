"""Residual training: the teacher never sees a depthless crop, stage 2 leaves it untouched."""

from __future__ import annotations

import numpy as np
import torch

from privpose_ros.model.residual.net import ResidualConfig, load_residual_weights
from privpose_ros.train.posenet_residual_data import ResidualCache, ResidualDataConfig
from privpose_ros.train.posenet_residual_train import (
    ResidualRecipe,
    evaluate,
    label_loss,
    predict,
    teacher_terms,
    train_stage,
)


def _cache(m: int = 12, j: int = 26, seed: int = 0) -> ResidualCache:
    rng = np.random.default_rng(seed)
    has = np.arange(m) % 3 != 0
    depth = rng.normal(0, 0.1, (m, 3, 128, 128)).astype(np.float16)
    depth[~has] = np.nan  # a depthless crop reaching the teacher would poison its weights
    base = rng.normal(0, 0.3, (m, j, 3)) + [0.0, 0.0, 3.0]
    k = np.tile(np.array([[300.0, 0, 127.5], [0, 300.0, 127.5], [0, 0, 1]]), (m, 1, 1))
    return ResidualCache(
        rgb_features=rng.normal(0, 1, (m, 48, 64, 64)).astype(np.float16),
        depth_input=depth,
        has_depth=has,
        valid_fraction=has.astype(np.float32),
        uv01=rng.uniform(0.2, 0.8, (m, j, 2)).astype(np.float32),
        desc=np.concatenate([rng.normal(0, 0.1, (m, j, 1)), np.ones((m, j, 2))], 2).astype(
            np.float32
        ),
        glob=np.full((m, 1), np.log(2.5), np.float32),
        target_uv_px=rng.normal(0, 3, (m, j, 2)).astype(np.float32),
        target_dz_m=rng.normal(0, 0.05, (m, j)).astype(np.float32),
        target_log_root=rng.normal(0, 0.05, m).astype(np.float32),
        pose_ok=np.ones(m, bool),
        adult=np.arange(m) % 2 == 0,
        base_cam_m=base,
        gt_cam_m=base + rng.normal(0, 0.05, (m, j, 3)),
        crop_k=k,
        crop_rot=np.tile(np.eye(3), (m, 1, 1)),
        crop_to_src=np.tile(np.array([[1.0, 0, 0], [0, 1.0, 0]]), (m, 1, 1)),
        frame_index=np.arange(m),
    )


def test_teacher_terms_skip_depthless_crops() -> None:
    torch.manual_seed(0)
    cfg = ResidualConfig(variant="rgb_hall")
    n, j = 4, 26
    out = {
        "uv_px": torch.randn(n, j, 2, requires_grad=True),
        "dz_m": torch.randn(n, j, requires_grad=True),
        "log_root": torch.randn(n, requires_grad=True),
        "hall_features": torch.randn(n, 32, 8, 8, requires_grad=True),
    }
    teacher = {
        "uv_px": torch.randn(n, j, 2),
        "dz_m": torch.randn(n, j),
        "log_root": torch.randn(n),
        "depth_features": torch.full((n, 32, 8, 8), float("nan")),
    }
    teacher["depth_features"][1] = torch.randn(32, 8, 8)
    teacher["depth_features"][3] = torch.randn(32, 8, 8)
    has = torch.tensor([False, True, False, True])
    hall, distill = teacher_terms(out, teacher, has, cfg)
    (hall + distill).backward()
    assert torch.isfinite(hall) and torch.isfinite(distill)
    for key in ("uv_px", "dz_m", "log_root", "hall_features"):
        g = out[key].grad
        assert g is not None and g[~has].abs().sum() == 0 and g[has].abs().sum() > 0, key


def test_label_loss_uses_root_targets_of_adults_only() -> None:
    cfg = ResidualConfig(variant="rgb")
    n, j = 2, 26
    zero = {"uv_px": torch.zeros(n, j, 2), "dz_m": torch.zeros(n, j)}
    t = {
        "target_uv_px": torch.zeros(n, j, 2),
        "target_dz_m": torch.zeros(n, j),
        "target_log_root": torch.tensor([0.0, 5.0]),
        "pose_ok": torch.ones(n),
        "adult": torch.tensor([1.0, 0.0]),
    }
    assert float(label_loss({**zero, "log_root": torch.zeros(n)}, t, cfg)) == 0.0


def test_stages_teacher_on_depth_only_and_frozen_in_stage_2(tmp_path) -> None:
    cache = _cache()
    recipe = ResidualRecipe(
        out_dir=str(tmp_path),
        steps={"depth": 3, "rgb": 2, "rgb_hall": 3},
        batch_size=6,
        train=ResidualDataConfig(frames=1),
        val=ResidualDataConfig(frames=1),
    )
    teacher_path = train_stage(recipe, "depth", cache)
    teacher, _ = load_residual_weights(teacher_path)
    assert all(torch.isfinite(p).all() for p in teacher.parameters())  # no NaN crop seen
    before = teacher_path.read_bytes()
    hall_path = train_stage(recipe, "rgb_hall", cache)
    assert teacher_path.read_bytes() == before  # stage 2 never updates F_depth
    hall, meta = load_residual_weights(hall_path)
    assert hall.f_depth is None and hall.f_hall is not None and meta["steps"] == "3"
    assert not any(k.startswith("f_depth") for k in hall.state_dict())
    residuals = predict(hall, cache)
    report = evaluate(cache, residuals)
    assert report["n"] == 12 and report["n_depth"] == 8
    zero = evaluate(cache, tuple(np.zeros_like(r) for r in residuals))
    assert zero == evaluate(cache, None)  # zero residuals: the front end's figures exactly


def test_training_crop_is_the_front_ends_own_crop() -> None:
    from privpose_ros.core.landmarks import Roi
    from privpose_ros.runtime.landmarks import crop
    from privpose_ros.train.posenet_residual_data import roi_crop_rgb

    rgb = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    roi = Roi(np.array([150.0, 100.0]), 180.0, 0.6)
    np.testing.assert_array_equal(roi_crop_rgb(rgb, roi.crop_to_image()), crop(rgb, roi))


def test_cache_of_the_real_front_end_on_synthetic_frames(tmp_path) -> None:
    import pytest

    pytest.importorskip("onnxruntime", reason="the front end runs on ONNX Runtime")
    from privpose_ros.model.residual.geometry import apply_residuals
    from privpose_ros.runtime.people import FrontEndConfig, PeopleEstimator
    from privpose_ros.runtime.placement import MonocularLifter
    from privpose_ros.runtime.runner import RunnerConfig
    from privpose_ros.train.posenet_residual_data import build_residual_cache

    cfg = ResidualDataConfig(width=320, height=240, frames=4, seed=1, threads=1)
    fe = FrontEndConfig(runner=RunnerConfig(threads=1, cache_dir=tmp_path), detect_every_n=1)
    with PeopleEstimator(fe) as frontend:
        cache = build_residual_cache(cfg, frontend, MonocularLifter(fe.world_scale))
    m = len(cache)
    assert m >= 3 and cache.rgb_features.shape == (m, 48, 64, 64)
    assert cache.depth_input.shape == (m, 3, 128, 128) and cache.has_depth.any()
    for i in range(m):  # the targets turn the front end's 3D into the label exactly
        moved = apply_residuals(
            cache.base_cam_m[i],
            cache.camera(i),
            cache.target_uv_px[i].astype(np.float64),
            cache.target_dz_m[i].astype(np.float64),
            float(cache.target_log_root[i]),
        )
        np.testing.assert_allclose(moved, cache.gt_cam_m[i], atol=2e-5)
    path = tmp_path / "c.npz"
    cache.save(path)
    assert len(ResidualCache.load(path)) == m
