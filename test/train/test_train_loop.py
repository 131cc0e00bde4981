"""Two-stage training on a tiny generated set: loss goes down, F_depth stays frozen, resume."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from privpose_ros.model.deployable import ModelConfig, load_deployable
from privpose_ros.model.spdh import scale_intrinsics
from privpose_ros.model.teacher import load_teacher
from privpose_ros.train.checkpoint import load_checkpoint, save_checkpoint
from privpose_ros.train.config import OptimConfig, TrainConfig, config_from_dict, load_config
from privpose_ros.train.data_io import LetterboxedBatch
from privpose_ros.train.evaluate import model_inputs
from privpose_ros.train.loop import Runtime, build_net, lr_at, stage_loss, train_stage


def _frames(n: int = 8, seed: int = 0) -> LetterboxedBatch:
    """Tiny frames (32x48): a bright blob whose size encodes depth, joints around it."""
    rng = np.random.default_rng(seed)
    rgb = np.zeros((n, 32, 48, 3), np.uint8)
    depth = np.zeros((n, 32, 48), np.uint16)
    k = np.tile(np.array([[43.0, 0, 23.5], [0, 43.0, 15.5], [0, 0, 1]], np.float32), (n, 1, 1))
    joints = np.zeros((n, 26, 3), np.float32)
    for i in range(n):
        z = rng.uniform(2.0, 4.0)
        u0, v0 = rng.uniform(14, 34), rng.uniform(10, 22)
        r = int(round(60 / z))
        rgb[i, int(v0) - r : int(v0) + r, int(u0) - r : int(u0) + r] = (200, 120, 60)
        depth[i, int(v0) - r : int(v0) + r, int(u0) - r : int(u0) + r] = int(z * 1000)
        du = rng.normal(0, 3, 26)
        dv = rng.normal(0, 3, 26)
        joints[i, :, 2] = z + rng.normal(0, 0.05, 26)
        joints[i, :, 0] = (u0 + du - 23.5) / 43.0 * joints[i, :, 2]
        joints[i, :, 1] = (v0 + dv - 15.5) / 43.0 * joints[i, :, 2]
    return LetterboxedBatch(rgb, depth, joints, k)


def _cfg(tmp_path, **epochs: int) -> TrainConfig:
    return TrainConfig(
        out_dir=str(tmp_path / "run"),
        model=ModelConfig.tiny(),
        optim=OptimConfig(epochs=epochs, batch_size=4, lr=3e-3, warmup_steps=2),
        augment=False,
    )


def test_a_few_steps_reduce_the_loss_on_a_tiny_set(tmp_path) -> None:
    cfg = _cfg(tmp_path, rgb=1)
    net = build_net(cfg, "rgb", _frames(4))
    frames = _frames(8)
    idx = np.arange(8)
    x = model_inputs(frames, idx, "rgb")
    joints, k = torch.from_numpy(frames.joints_cam_m), torch.from_numpy(frames.k)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss, _ = stage_loss(cfg, net, net.forward_heatmaps(x), joints, k, None)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_coordinate_loss_is_the_l1_of_the_soft_argmax_joints(tmp_path) -> None:
    frames = _frames(4)
    plain = _cfg(tmp_path, rgb=1)
    with_coord = dataclasses.replace(plain, coord_weight=2.0)
    net = build_net(plain, "rgb", frames)
    x = model_inputs(frames, np.arange(4), "rgb")
    joints, k = torch.from_numpy(frames.joints_cam_m), torch.from_numpy(frames.k)
    out = net.forward_heatmaps(x)
    base, parts0 = stage_loss(plain, net, out, joints, k, None)
    total, parts = stage_loss(with_coord, net, out, joints, k, None)
    k_hm = scale_intrinsics(k, net.config.input_hw, net.config.spdh.heatmap_hw)
    want = (net.codec.decode_integral(out[0], out[1], k_hm) - joints).abs().sum(-1).mean()
    assert "coord_m" not in parts0 and parts["coord_m"] == pytest.approx(float(want), rel=1e-5)
    assert float(total) == pytest.approx(float(base) + 2.0 * float(want), rel=1e-5)
    with pytest.raises(ValueError, match="coord_weight"):
        dataclasses.replace(plain, coord_weight=-1.0)


def test_stage_two_never_updates_f_depth_and_trains_f_hall(tmp_path) -> None:
    cfg = _cfg(tmp_path, depth=1, rgb_hall=1)
    frames = _frames(8)
    rt = Runtime()
    teacher_path = train_stage(cfg, "depth", frames, rt)
    before = {k: v.clone() for k, v in load_teacher(teacher_path).state_dict().items()}
    out = train_stage(cfg, "rgb_hall", frames, rt)
    after = load_teacher(teacher_path).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    model = load_deployable(out)
    assert model.config.variant == "rgb_hall"
    assert model.config.reference_focal_px == pytest.approx(43.0)  # the training camera's focal
    # F_hall moved away from its seeded initialisation (the hallucination loss reached it)
    init = build_net(cfg, "rgb_hall", _frames(4))
    moved = [
        not torch.equal(p, init.state_dict()[f"f_hall.{n}"])
        for n, p in model.f_hall.state_dict().items()
        if n.endswith("weight")
    ]
    assert all(moved)


def test_hall_loss_gradient_reaches_only_f_hall(tmp_path) -> None:
    cfg = dataclasses.replace(_cfg(tmp_path, rgb_hall=1), heatmap_scale=0.0)
    net = build_net(cfg, "rgb_hall", _frames(4))
    frames = _frames(4)
    idx = np.arange(4)
    out = net.forward_heatmaps(model_inputs(frames, idx, "rgb"))
    target = torch.zeros_like(out[2]) + 0.5
    loss, parts = stage_loss(
        cfg, net, out, torch.from_numpy(frames.joints_cam_m), torch.from_numpy(frames.k), target
    )
    loss.backward()
    assert parts["heatmap"] == 0.0 and parts["hall"] > 0
    assert all(p.grad is not None for p in net.f_hall.parameters())
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in net.f_rgb.parameters())


def test_checkpoint_resume_round_trip(tmp_path) -> None:
    cfg = _cfg(tmp_path, rgb=1)
    net = build_net(cfg, "rgb", _frames(4))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    x = model_inputs(_frames(4), np.arange(4), "rgb")
    net.forward_heatmaps(x)[0].square().mean().backward()
    opt.step()
    save_checkpoint(tmp_path / "c.safetensors", net, opt, epoch=3)
    net2 = build_net(cfg, "rgb", _frames(4))
    opt2 = torch.optim.AdamW(net2.parameters(), lr=1e-3)
    assert load_checkpoint(tmp_path / "c.safetensors", net2, opt2) == 3
    for a, b in zip(net.state_dict().values(), net2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert all(torch.equal(s1[i]["exp_avg"], s2[i]["exp_avg"]) for i in s1)


def test_resumed_training_matches_uninterrupted_training(tmp_path) -> None:
    frames = _frames(8)
    full = train_stage(_cfg(tmp_path / "a", rgb=2), "rgb", frames, Runtime())
    train_stage(_cfg(tmp_path / "b", rgb=1), "rgb", frames, Runtime())
    (tmp_path / "b" / "run" / "rgb.safetensors").unlink()
    resumed = train_stage(_cfg(tmp_path / "b", rgb=2), "rgb", frames, Runtime())
    a, b = load_deployable(full).state_dict(), load_deployable(resumed).state_dict()
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)


def test_lr_schedule_and_config_validation(tmp_path) -> None:
    cfg = _cfg(tmp_path, rgb=1)
    assert lr_at(0, 100, cfg) == pytest.approx(cfg.optim.lr / 2)
    assert lr_at(2, 100, cfg) == pytest.approx(cfg.optim.lr)
    assert lr_at(100, 100, cfg) == pytest.approx(0.02 * cfg.optim.lr)
    with pytest.raises(ValueError, match="unknown keys"):
        config_from_dict({"optim": {"epochz": 3}})
    with pytest.raises(ValueError, match="must differ"):
        config_from_dict({"data": {"train_seed": 5, "test_seed": 5}})
    shipped = load_config("config/train/default.yaml")
    assert shipped.data.train_seed != shipped.data.test_seed
    assert shipped.model_for("depth").variant == "depth"


def test_f_hall_starts_from_the_teacher_except_its_first_conv(tmp_path) -> None:
    from privpose_ros.model.teacher import DepthTeacher
    from privpose_ros.train.loop import init_from_teacher

    cfg = _cfg(tmp_path, rgb_hall=1)
    teacher = DepthTeacher(cfg.model_for("depth"))
    net = build_net(cfg, "rgb_hall", _frames(4))
    copied = init_from_teacher(net, teacher)
    t_state, h_state = teacher.f_depth.state_dict(), net.f_hall.state_dict()
    assert copied == len(h_state) - 1
    first = "stem.0.0.weight"
    assert h_state[first].shape[1] == 3 and t_state[first].shape[1] == 2
    assert all(torch.equal(h_state[k], t_state[k]) for k in h_state if k != first)
