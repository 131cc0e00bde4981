"""What every training recipe shares: the process's place in a torchrun job (single-process
CPU by default; under torchrun every rank trains its slice with DistributedDataParallel) and the
photometric jitter of RGB inputs."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import Tensor


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
