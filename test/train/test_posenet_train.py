"""The v2 two-stage recipe (train/posenet_train.py) on the tiny recipe config/train/v2_tiny.yaml:
weights that load back, exact resume, a frozen teacher branch and the validation summary."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.data.person_crops import PersonCropBatch, jitter_box_px
from privpose_ros.train.feature_cache import CacheStream, CropCache
from privpose_ros.train.posenet_data import crop_tensors, validation_crops
from privpose_ros.train.posenet_eval import METRIC_KEYS, v2_metrics
from privpose_ros.train.posenet_train import (
    SUMMARY_NAME,
    PosenetRecipe,
    is_posenet_yaml,
    load_recipe,
    read_posenet_weights,
    recipe_from_dict,
    train_posenet,
)

ROOT = Path(__file__).resolve().parents[2]
TINY_YAML = ROOT / "config" / "train" / "v2_tiny.yaml"
STAGES = ("depth", "rgb", "rgb_hall")


def _recipe(out_dir: Path, stages: tuple[str, ...] = ("depth", "rgb_hall")) -> PosenetRecipe:
    return dataclasses.replace(load_recipe(TINY_YAML), out_dir=str(out_dir), stages=stages)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> tuple[PosenetRecipe, dict]:
    recipe = _recipe(tmp_path_factory.mktemp("v2_full"), STAGES)
    return recipe, train_posenet(recipe)


def _state(path: Path) -> dict[str, torch.Tensor]:
    return read_posenet_weights(path)[1]


def _losses(path: Path) -> list[float]:
    return [json.loads(ln)["loss"] for ln in path.read_text().splitlines()]


def test_weights_load_back_with_identical_outputs_and_metadata(full_run) -> None:
    from privpose_ros.train.teacher import PrivilegedPosenet, load_training_weights

    recipe, _ = full_run
    val = validation_crops(recipe.data, 256)
    t = crop_tensors(PersonCropBatch(**{k: v[:3] for k, v in val.__dict__.items()}))
    for stage in STAGES:
        path = recipe.path(stage)
        config, state, meta = read_posenet_weights(path)
        assert config == recipe.net_config(stage) and meta["stage"] == stage
        assert json.loads(meta["recipe"])["optim"]["steps"][stage] == 4
        assert int(meta["steps"]) == 4
        net = load_training_weights(path)
        again = PrivilegedPosenet(config)
        again.load_state_dict(state)
        again.eval()
        crop = t.crop_depth_m if stage == "depth" else t.crop_rgb_nhwc
        with torch.no_grad():
            a, conf_a = net(crop, t.crop_k)
            b, conf_b = again(crop, t.crop_k)
        assert torch.isfinite(a).all() and a.shape == (3, 26, 3)
        assert torch.equal(a, b) and torch.equal(conf_a, conf_b)
        # the weights are trained: not the seeded initialisation any more
        torch.manual_seed(recipe.seed + STAGES.index(stage))
        init = PrivilegedPosenet(config).state_dict()
        assert any(not torch.equal(init[k], v) for k, v in state.items() if k.startswith("head."))


def test_stage2_leaves_the_loaded_f_depth_bit_identical(full_run) -> None:
    recipe, _ = full_run
    teacher, student = _state(recipe.path("depth")), _state(recipe.path("rgb_hall"))
    keys = [k for k in student if k.startswith("f_depth.")]
    assert keys and all(torch.equal(student[k], teacher[k]) for k in keys)  # BN stats too
    hall = [k for k in student if k.startswith("f_hall.")]
    assert hall
    rgb_hall_log = recipe.path("rgb_hall", ".log.jsonl").read_text().splitlines()
    privileged = [json.loads(ln)["privileged"] for ln in rgb_hall_log]
    assert len(privileged) == 4 and all(p > 0 for p in privileged)
    assert "privileged" not in json.loads(
        recipe.path("rgb", ".log.jsonl").read_text().splitlines()[0]
    )
    assert not any(k.startswith(("f_depth.", "f_hall.")) for k in _state(recipe.path("rgb")))


def test_validation_summary_has_the_documented_keys_with_finite_numbers(full_run) -> None:
    recipe, summary = full_run
    on_disk = json.loads((Path(recipe.out_dir) / SUMMARY_NAME).read_text())
    assert on_disk["variants"] == summary["variants"]
    assert set(summary["variants"]) == set(STAGES)
    for metrics in summary["variants"].values():
        assert set(metrics) == set(METRIC_KEYS)
        assert all(math.isfinite(v) for v in metrics.values())
        assert metrics["n_crops"] >= 4 and metrics["n_joints"] > 0
        assert 0 < metrics["pelvis_error_mm"] and 0 < metrics["mpjpe_abs_mm"] < 1e5
    assert summary["timing"]["depth"]["model_crops_per_s"] > 0
    assert summary["val"] == {"seed": 90001, "frames": 4}


def test_resume_from_a_checkpoint_gives_the_uninterrupted_weights(full_run, tmp_path) -> None:
    full, _ = full_run
    recipe = _recipe(tmp_path)
    assert train_posenet(recipe, stop_after_steps=2)["variants"] == {}  # depth stops after 2 steps
    assert recipe.path("depth", ".ckpt.safetensors").is_file()
    assert not recipe.path("depth").exists()
    train_posenet(recipe)  # continues depth from step 2, then runs rgb_hall
    for stage in ("depth", "rgb_hall"):
        a, b = _state(full.path(stage)), _state(recipe.path(stage))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), stage
        # same seed, same loss curve (the resumed log holds each step once)
        assert _losses(recipe.path(stage, ".log.jsonl")) == _losses(full.path(stage, ".log.jsonl"))


def _numbered_cache(m: int) -> CropCache:
    """A cache whose entry i holds i in its zeta (no rendering)."""
    return CropCache(
        rgb_features=np.zeros((m, 2, 4, 4), np.float16),
        depth_input=np.zeros((m, 2, 8, 8), np.float16),
        zeta_med_m=np.arange(m, dtype=np.float32),
        crop_k=np.tile(np.eye(3, dtype=np.float32), (m, 1, 1)),
        joints_cam_m=np.zeros((m, 26, 3), np.float32),
        landmark_uv_crop_px=np.zeros((m, 26, 2), np.float32),
        landmark_conf=np.zeros((m, 26), np.float32),
        landmark_world_m=np.zeros((m, 26, 3), np.float32),
        has_depth=np.ones(m, bool),
    )


def test_cache_stream_is_keyed_by_step_and_splits_ranks(tmp_path) -> None:
    cache = _numbered_cache(10)
    a, b = CacheStream(cache, 4, seed=3), CacheStream(cache, 4, seed=3)
    late = b.batch(5)  # epoch 2 first: no dependence on what came before
    assert a.steps_per_epoch == 2
    np.testing.assert_array_equal(a.batch(0).zeta_med_m, b.batch(0).zeta_med_m)
    np.testing.assert_array_equal(a.batch(5).zeta_med_m, late.zeta_med_m)
    epoch = np.concatenate([a.batch(0).zeta_med_m, a.batch(1).zeta_med_m])
    assert len(set(epoch.tolist())) == 8  # an epoch draws without replacement
    halves = [CacheStream(cache, 4, 3, rank=r, world=2).batch(1) for r in (0, 1)]
    assert [len(h) for h in halves] == [2, 2]
    together = np.concatenate([h.zeta_med_m for h in halves])
    np.testing.assert_array_equal(np.sort(together), np.sort(a.batch(1).zeta_med_m))
    path = tmp_path / "cache.npz"
    cache.save(path)
    back = CropCache.load(path)
    np.testing.assert_array_equal(back.zeta_med_m, cache.zeta_med_m)
    assert back.rgb_features.dtype == np.float16
    with pytest.raises(PrivposeInputError):
        CacheStream(cache, 11, seed=0)


def test_cache_holds_features_and_front_end_2d_of_each_crop(full_run) -> None:
    recipe, _ = full_run
    cache = CropCache.load(recipe.path("cache", ".npz"))
    m = len(cache)
    assert m >= 8 and cache.rgb_features.shape == (m, 32, 64, 64)
    assert cache.depth_input.shape == (m, 2, 128, 128)
    k = cache.crop_k.astype(np.float64)
    joints = cache.joints_cam_m.astype(np.float64)
    uvw = np.einsum("mij,mkj->mki", k, joints)
    label_px = uvw[..., :2] / uvw[..., 2:]
    sure = cache.landmark_conf > 0.8
    err_px = np.linalg.norm(cache.landmark_uv_crop_px - label_px, axis=-1)[sure]
    # BlazePose's 2D on the synthetic crops is close to the labels (median ~8 of 256 px)
    assert sure.sum() > 20 and np.median(err_px) < 20.0
    # the teacher's prior: the median person depth's zeta, close to the root's
    root_zeta = joints[:, 0, 2] * 256 / k[:, 0, 0]
    d = cache.has_depth
    assert d.sum() >= 8 and np.isnan(cache.zeta_med_m[~d]).all()  # no fallback where no depth
    assert np.median(np.abs(cache.zeta_med_m[d] - root_zeta[d]) / root_zeta[d]) < 0.1


def test_box_jitter_has_the_configured_spread() -> None:
    rng = np.random.default_rng(0)
    boxes = np.stack(
        [jitter_box_px(np.array([100.0, 50.0, 140.0, 150.0]), rng, 0.1, 0.05) for _ in range(500)]
    )
    size = boxes[:, 2:] - boxes[:, :2]
    ratio = size / np.array([40.0, 100.0])
    np.testing.assert_allclose(ratio[:, 0], ratio[:, 1])  # one scale for both axes
    assert 0.07 < np.log(ratio[:, 0]).std() < 0.11
    assert 0.03 < ((boxes[:, 0] + boxes[:, 2]) / 2 - 120.0).std() / 40.0 < 0.07


def test_metrics_are_exact_on_a_known_offset() -> None:
    true = np.zeros((2, 26, 3))
    true[..., 2] = 2.0
    true[:, 1:, 0] = np.linspace(-0.5, 0.5, 25)
    pred = true + np.array([0.0, 0.0, 0.1])  # every joint 100 mm too far
    pred[1, 5] += [0.03, 0.04, 0.0]  # one joint 50 mm further off in x, y
    m = v2_metrics(pred, true, root_index=0)
    assert m["pelvis_error_mm"] == pytest.approx(100.0)
    assert m["pelvis_error_pct_of_distance"] == pytest.approx(5.0)
    assert m["pelvis_depth_error_mm"] == pytest.approx(100.0)
    assert m["mpjpe_pelvis_aligned_mm"] == pytest.approx(50.0 / 52)
    assert m["mpjpe_abs_mm"] == pytest.approx((51 * 100.0 + np.hypot(100.0, 50.0)) / 52)
    true[0, 3] = np.nan  # unlabelled joints do not count
    assert v2_metrics(pred, true, 0)["n_joints"] == 51


def test_recipe_validation_and_the_yaml_marker(tmp_path) -> None:
    assert is_posenet_yaml(TINY_YAML) and is_posenet_yaml(ROOT / "config" / "train" / "v2.yaml")
    (tmp_path / "other.yaml").write_text("model:\n  variant: rgb\n")
    assert not is_posenet_yaml(tmp_path / "other.yaml")
    assert not is_posenet_yaml(ROOT / "config" / "train" / "refine_b.yaml")
    default = load_recipe(ROOT / "config" / "train" / "v2.yaml")
    assert default.net_config("rgb_hall").rgb_backbone == "blazepose_lite"
    assert (default.data.width, default.data.height, default.net_config("depth").crop_px) == (
        640,
        480,
        256,
    )
    with pytest.raises(PrivposeInputError):
        recipe_from_dict({"model": "v2", "net": {"no_such_key": 1}})
    with pytest.raises(PrivposeInputError):
        recipe_from_dict({"model": "v2", "net": {"variant": "depth"}})
    with pytest.raises(PrivposeInputError):
        recipe_from_dict({"model": "v2", "stages": ["rgb", "teacher"]})
    with pytest.raises(PrivposeInputError):
        recipe_from_dict({"model": "v2", "data": {"train_seed": 5, "val_seed": 5}})
    with pytest.raises(PrivposeInputError, match="frozen BlazePose"):
        recipe_from_dict({"model": "v2", "net": {"rgb_backbone": "conv", "landmark_prior": False}})


def test_stage2_refuses_to_run_without_the_teacher(tmp_path) -> None:
    with pytest.raises(PrivposeInputError, match="depth teacher"):
        train_posenet(_recipe(tmp_path, ("rgb_hall",)))
