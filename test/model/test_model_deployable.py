"""The deployable RGB model, the depth teacher, configs and safetensors round trips."""

from __future__ import annotations

import pytest
import torch

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.model.bench import benchmark_eager
from privpose_ros.model.deployable import (
    DeployableRGBModel,
    ModelConfig,
    default_weights_path,
    load_deployable,
    save_deployable,
)
from privpose_ros.model.hrnet import BackboneConfig, SmallHRNet
from privpose_ros.model.teacher import DepthTeacher, depth_to_input, load_teacher

K = torch.tensor([[[43.0, 0.0, 23.5], [0.0, 43.0, 15.5], [0.0, 0.0, 1.0]]])


def _tiny(variant: str, head: str) -> ModelConfig:
    """The tiny test model with the spatial uz head and peak decoding, or the column uz head
    with integral decoding (the shipped recipe's choice)."""
    config = ModelConfig.tiny(variant)
    if head == "spatial":
        return config
    spdh = {**config.to_dict()["spdh"], "decode": "integral"}
    return config.replace(uz_head="column", spdh=spdh)


@pytest.mark.parametrize(
    ("variant", "head"), [("rgb", "spatial"), ("rgb_hall", "spatial"), ("rgb_hall", "column")]
)
def test_forward_shapes_ranges_and_pixel_consistency(variant: str, head: str) -> None:
    torch.manual_seed(0)
    model = DeployableRGBModel(_tiny(variant, head)).eval()
    rgb = torch.rand(2, 3, 32, 48)
    joints, px, conf = model(rgb, K.expand(2, 3, 3))
    assert joints.shape == (2, 26, 3) and px.shape == (2, 26, 2) and conf.shape == (2, 26)
    assert bool(((conf >= 0) & (conf <= 1)).all())
    # the 3D joints project back onto the returned input pixels
    proj = joints[..., :2] / joints[..., 2:] * 43.0 + torch.tensor([23.5, 15.5])
    assert torch.allclose(proj, px, atol=1e-3)
    spdh = model.config.spdh
    assert bool(
        ((joints[..., 2] >= spdh.z_min_m - 0.2) & (joints[..., 2] <= spdh.z_max_m + 0.2)).all()
    )
    assert (model.f_hall is not None) == (variant == "rgb_hall")
    assert (model.head.column is not None) == (head == "column")


def test_reference_focal_rescales_depth_and_keeps_pixels() -> None:
    torch.manual_seed(0)
    plain = DeployableRGBModel(ModelConfig.tiny()).eval()
    corrected = DeployableRGBModel(ModelConfig.tiny().replace(reference_focal_px=43.0)).eval()
    corrected.load_state_dict(plain.state_dict())
    rgb = torch.rand(1, 3, 32, 48)
    wide = K.clone()
    wide[:, 0, 0] = wide[:, 1, 1] = 21.5  # half the training focal length
    with torch.no_grad():
        j_plain, px_plain, _ = plain(rgb, wide)
        j_corr, px_corr, _ = corrected(rgb, wide)
        j_same, _, _ = corrected(rgb, K)
    # the same image from a camera with half the focal length: the person is half as far
    torch.testing.assert_close(j_corr, 0.5 * j_plain)
    torch.testing.assert_close(px_corr, px_plain)
    torch.testing.assert_close(j_same, plain(rgb, K)[0])  # no change at the training focal
    with pytest.raises(PrivposeInputError, match="reference_focal_px"):
        ModelConfig.tiny().replace(reference_focal_px=-1.0)


def test_save_load_round_trip_gives_identical_outputs(tmp_path) -> None:
    torch.manual_seed(1)
    model = DeployableRGBModel(ModelConfig.tiny()).eval()
    path = tmp_path / "m.safetensors"
    save_deployable(model, path)
    loaded = load_deployable(path)
    assert loaded.config == model.config and not loaded.training
    rgb = torch.rand(1, 3, 32, 48)
    for a, b in zip(model(rgb, K), loaded(rgb, K), strict=True):
        assert torch.equal(a, b)


def test_teacher_round_trip_and_depth_encoding(tmp_path) -> None:
    teacher = DepthTeacher(ModelConfig.tiny("depth")).eval()
    save_deployable(teacher, tmp_path / "t.safetensors")
    again = load_teacher(tmp_path / "t.safetensors")
    depth = torch.full((1, 1, 32, 48), 3.0)
    depth[..., :4] = 0.0
    assert torch.equal(teacher(depth, K)[0], again(depth, K)[0])
    enc = depth_to_input(depth, 1.0, 5.0)
    assert float(enc[0, 0, 0, 10]) == pytest.approx(0.0) and float(enc[0, 1, 0, 10]) == 1.0
    assert float(enc[0, 1, 0, 0]) == 0.0
    with pytest.raises(PrivposeInputError, match="variant 'rgb' or 'rgb_hall'"):
        load_deployable(tmp_path / "t.safetensors")


def test_input_validation_messages(tmp_path) -> None:
    model = DeployableRGBModel(ModelConfig.tiny())
    with pytest.raises(PrivposeInputError, match="resize/letterbox"):
        model(torch.rand(1, 3, 30, 48), K)
    with pytest.raises(PrivposeInputError, match="k must be"):
        model(torch.rand(1, 3, 32, 48), torch.eye(3))
    with pytest.raises(PrivposeInputError, match="multiples of 8"):
        ModelConfig.tiny().replace(input_hw=(36, 48))
    with pytest.raises(PrivposeInputError, match="variant"):
        ModelConfig(variant="thermal")
    bogus = tmp_path / "x.safetensors"
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(1)}, str(bogus))
    with pytest.raises(PrivposeInputError, match="not a privpose model"):
        load_deployable(bogus)
    with pytest.raises(FileNotFoundError):
        load_deployable(tmp_path / "missing.safetensors")


def test_config_dict_round_trip_and_default_path() -> None:
    cfg = ModelConfig()
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert default_weights_path().name == "rgb_hall.safetensors"
    assert default_weights_path().parent.name == "weights"


def test_small_hrnet_branches_and_gradients() -> None:
    net = SmallHRNet(BackboneConfig(widths=(4, 8, 16), blocks=1, stem_width=4), in_channels=3)
    x = torch.rand(2, 3, 32, 48, requires_grad=True)
    y = net(x)
    assert y.shape == (2, 28, 8, 12)
    y.square().mean().backward()
    assert all(
        p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters() if p.ndim > 1
    )


def test_benchmark_reports_positive_times() -> None:
    result = benchmark_eager(DeployableRGBModel(ModelConfig.tiny()), iterations=3, warmup=1)
    assert 0 < result["median_ms"] <= result["p90_ms"] + 1e-9
    assert result["params"] == sum(
        p.numel() for p in DeployableRGBModel(ModelConfig.tiny()).parameters()
    )
    with pytest.raises(ValueError, match="iterations"):
        benchmark_eager(DeployableRGBModel(ModelConfig.tiny()), iterations=0)


@pytest.mark.parametrize("head", ["spatial", "column"])
def test_forward_exports_to_onnx_opset17_and_matches_onnxruntime(tmp_path, head: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(2)
    model = DeployableRGBModel(_tiny("rgb_hall", head)).eval()
    rgb, k = torch.rand(3, 3, 32, 48), K.expand(3, 3, 3).contiguous()
    path = tmp_path / "m.onnx"
    torch.onnx.export(
        model,
        (rgb, k),
        str(path),
        opset_version=17,
        dynamo=False,
        input_names=["rgb", "k"],
        dynamic_axes={"rgb": {0: "n"}, "k": {0: "n"}},
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"rgb": rgb[:2].numpy(), "k": k[:2].numpy()})
    want = model(rgb[:2], k[:2])
    for g, w in zip(got, want, strict=True):
        assert g.shape == tuple(w.shape)
        assert abs(g - w.detach().numpy()).max() < 1e-3


def test_shipped_weights_match_the_documented_recipe() -> None:
    from privpose_ros.train.config import load_config

    recipe = load_config("config/train/default.yaml")
    for variant in ("rgb", "rgb_hall"):
        path = default_weights_path().with_name(f"{variant}.safetensors")
        model = load_deployable(path)
        # training records the median focal length of the training frames at the model input
        assert model.config.replace(reference_focal_px=0.0) == recipe.model_for(variant)
        assert model.config.reference_focal_px == pytest.approx(285.714 * 0.4, rel=0.02)
        h, w = model.config.input_hw
        k = torch.tensor([[[114.3, 0.0, 63.5], [0.0, 114.3, 47.5], [0.0, 0.0, 1.0]]])
        joints, _, conf = model(torch.full((1, 3, h, w), 0.5), k)
        assert bool(torch.isfinite(joints).all()) and bool(((conf >= 0) & (conf <= 1)).all())
    teacher = load_teacher(default_weights_path().with_name("depth.safetensors"))
    assert teacher.config == recipe.model_for("depth")
