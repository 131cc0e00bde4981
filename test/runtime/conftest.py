"""Shared fixtures: one tiny randomly initialised deployable model and its ONNX exports."""

from __future__ import annotations

import pytest
import torch

from privpose_ros.model.deployable import DeployableRGBModel, ModelConfig, save_deployable
from privpose_ros.runtime.export import export_onnx


@pytest.fixture(scope="session")
def tiny_model() -> DeployableRGBModel:
    torch.manual_seed(0)
    return DeployableRGBModel(ModelConfig.tiny()).eval()


@pytest.fixture(scope="session")
def tiny_weights(tiny_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_deployable(tiny_model, path)
    return path


@pytest.fixture(scope="session")
def tiny_onnx_b1(tiny_model, tmp_path_factory):
    return export_onnx(tiny_model, tmp_path_factory.mktemp("onnx") / "tiny_b1.onnx", batch=1)


@pytest.fixture(scope="session")
def tiny_onnx_dynamic(tiny_model, tmp_path_factory):
    return export_onnx(tiny_model, tmp_path_factory.mktemp("onnx") / "tiny_dyn.onnx", batch=None)
