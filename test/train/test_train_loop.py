"""What the recipes share (train/loop.py, train/checkpoint.py): the single-process runtime,
photometric jitter of RGB inputs and checkpoints that restore model and optimiser exactly."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from privpose_ros.train.checkpoint import load_checkpoint, save_checkpoint
from privpose_ros.train.loop import Runtime, augment_rgb, barrier, setup_runtime


def test_single_process_runtime_is_the_main_rank_on_cpu(monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    rt = setup_runtime("cpu")
    assert rt == Runtime(0, 1, "cpu") and rt.is_main
    assert not Runtime(rank=1, world=2).is_main
    barrier(rt)  # a no-op without a process group


def test_augment_rgb_jitters_within_range_and_is_seeded() -> None:
    rgb = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    a = augment_rgb(rgb, torch.Generator().manual_seed(5))
    b = augment_rgb(rgb, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.shape == rgb.shape
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert float((a - rgb).abs().mean()) > 1e-3  # it changes the images
    c = augment_rgb(rgb, torch.Generator().manual_seed(6))
    assert not torch.equal(a, c)


def test_checkpoint_resume_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net(torch.randn(5, 4)).square().mean().backward()
    opt.step()
    save_checkpoint(tmp_path / "c.safetensors", net, opt, epoch=3)
    net2 = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    opt2 = torch.optim.AdamW(net2.parameters(), lr=1e-3)
    assert load_checkpoint(tmp_path / "c.safetensors", net2, opt2) == 3
    for a, b in zip(net.state_dict().values(), net2.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    s1, s2 = opt.state_dict()["state"], opt2.state_dict()["state"]
    assert all(torch.equal(s1[i]["exp_avg"], s2[i]["exp_avg"]) for i in s1)
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a privpose training checkpoint"):
        load_checkpoint(tmp_path / "other.safetensors", net2, opt2)
