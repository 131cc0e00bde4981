"""F_depth: the depth teacher (training only). Depth map in, SPDH heatmaps out.

Its stride-4 backbone features are what F_hall learns to hallucinate from RGB, so F_depth and
F_hall share one BackboneConfig.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.model.deployable import ModelConfig, SPDHModel, check_image_and_k, read_weights
from privpose_ros.model.heads import SPDHHead
from privpose_ros.model.hrnet import SmallHRNet


def depth_to_input(depth_m: Tensor, z_min_m: float, z_max_m: float) -> Tensor:
    """(N, 1, H, W) metres (0 or NaN = no reading) -> (N, 2, H, W): normalised depth, valid."""
    valid = torch.isfinite(depth_m) & (depth_m > 0)
    centre, half = 0.5 * (z_min_m + z_max_m), 0.5 * (z_max_m - z_min_m)
    norm = torch.where(valid, (depth_m - centre) / half, torch.zeros_like(depth_m))
    return torch.cat([norm, valid.to(depth_m.dtype)], dim=1)


class DepthTeacher(SPDHModel):
    """Depth (N, 1, H, W) metres + K (N, 3, 3) -> joints, pixels, confidence (as the RGB model)."""

    def __init__(self, config: ModelConfig) -> None:
        if config.variant != "depth":
            raise PrivposeInputError(f"DepthTeacher needs variant 'depth', got '{config.variant}'")
        super().__init__(config)
        self.f_depth = SmallHRNet(config.backbone, in_channels=2)
        self.head = SPDHHead(
            config.backbone.out_channels,
            config.head_width,
            config.n_joints,
            config.spdh,
            config.uz_head,
        )

    def features(self, depth_m: Tensor) -> Tensor:
        """Stride-4 backbone features (the hallucination target)."""
        spdh = self.config.spdh
        return self.f_depth(depth_to_input(depth_m, spdh.z_min_m, spdh.z_max_m))

    def forward_heatmaps(self, depth_m: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``uv``, ``uz`` heatmaps and the backbone features."""
        feats = self.features(depth_m)
        uv, uz = self.head(feats)
        return uv, uz, feats

    def forward(self, depth_m: Tensor, k: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        check_image_and_k(depth_m, k, 1, self.config.input_hw)
        uv, uz, _ = self.forward_heatmaps(depth_m)
        return self.decode(uv, uz, k)


def load_teacher(path: str | Path) -> DepthTeacher:
    """Load the depth teacher (eval mode) from safetensors written by save_deployable."""
    config, state = read_weights(path)
    model = DepthTeacher(config)
    model.load_state_dict(state)
    return model.eval()
