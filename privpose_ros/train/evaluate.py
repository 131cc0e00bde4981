"""Run a trained model (depth teacher or RGB model) over frames and score it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import get_joint_set
from privpose_ros.model.deployable import SPDHModel, load_deployable
from privpose_ros.model.teacher import load_teacher
from privpose_ros.train.data_io import LetterboxedBatch
from privpose_ros.train.metrics import pose_metrics, single_size_oracle


def load_model(weights: str | Path, variant: str) -> SPDHModel:
    """Load weights and check they are of ``variant`` (depth, rgb or rgb_hall)."""
    model = load_teacher(weights) if variant == "depth" else load_deployable(weights)
    if model.config.variant != variant:
        raise PrivposeInputError(
            f"{weights} holds a '{model.config.variant}' model, not '{variant}'; "
            f"pass --variant {model.config.variant}"
        )
    return model


def model_inputs(frames: LetterboxedBatch, idx: np.ndarray, variant: str) -> torch.Tensor:
    """The network input of frames ``idx``: rgb (B, 3, H, W) in [0, 1] or depth (B, 1, H, W) m."""
    if variant == "depth":
        return torch.from_numpy(frames.depth_mm[idx].astype(np.float32) * 1e-3)[:, None]
    return torch.from_numpy(frames.rgb[idx]).permute(0, 3, 1, 2).float() / 255.0


@torch.no_grad()
def predict(
    model: SPDHModel, frames: LetterboxedBatch, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted joints (N, J, 3) metres and confidence (N, J) for every frame."""
    model.eval()
    device = next(model.parameters()).device
    joints, conf = [], []
    for start in range(0, len(frames), batch_size):
        idx = np.arange(start, min(start + batch_size, len(frames)))
        x = model_inputs(frames, idx, model.config.variant).to(device)
        k = torch.from_numpy(frames.k[idx]).to(device)
        j, _, c = model(x, k)
        joints.append(j.cpu().numpy())
        conf.append(c.cpu().numpy())
    return np.concatenate(joints), np.concatenate(conf)


def evaluate(
    model: SPDHModel, frames: LetterboxedBatch, batch_size: int = 64
) -> dict[str, object]:
    """Metrics of ``model`` on ``frames`` (see train.metrics.pose_metrics), plus the monocular
    ceiling ``single_size_oracle`` (train.metrics.single_size_oracle) of the same frames."""
    pred, conf = predict(model, frames, batch_size)
    joint_set = get_joint_set(model.config.joint_set)
    result = pose_metrics(pred, frames.joints_cam_m, joint_set.joint_names)
    result["mean_confidence"] = float(conf.mean())
    # what no RGB model that cannot see body size can beat on these frames (see the model card)
    result["single_size_oracle"] = single_size_oracle(
        frames.joints_cam_m, joint_set.bone_indices()
    )
    return result
