"""The torch BlazePose landmark network against ONNX Runtime on the shipped ONNX files.

Tolerance: float32 rounding alone moves the landmark outputs (pixels, up to ~650 on these
inputs) by 1e-3..6e-3 between two correct float32 runs (ONNX Runtime vs a float64 evaluation of
the same graph), so 1e-4 absolute only holds for the unit-scale outputs (pose_flag, world
landmarks in metres); the landmark pixels and heatmap logits are held to 1e-4 of their range.
The float64 test shows the port is as exact as ONNX Runtime itself, and the perturbation test
that the tolerance catches a 0.1 % change of one conv's weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.model.blazepose_torch import (
    FEATURE_NODES,
    OUTPUT_NAMES,
    BlazePoseTorch,
    OnnxGraphModule,
    UnsupportedOnnxOpError,
    blazepose_path,
    load_blazepose,
)

ort = pytest.importorskip("onnxruntime")

# a test fixture, not installed with the package: read from the checkout
GOLDEN = Path(__file__).resolve().parents[2] / "privpose_ros" / "weights" / "frontend_golden.npz"
REL_TOL = 1e-4  # of max(1, max |output|), per output
TFLITE_XY_TOL_PX, TFLITE_WORLD_TOL_M = 0.05, 1e-3  # as test/runtime/test_runtime_frontend_parity
FEATURE_CHANNELS = {"lite": (32, 32, 96), "full": (48, 48, 144)}  # stride 4, 8, 32


@pytest.fixture(scope="module", params=["lite", "full"])
def pair(request) -> Iterator[tuple[str, BlazePoseTorch, object]]:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    model = load_blazepose(request.param).eval()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    # idle ORT threads must not spin: they would starve torch's threads on a small machine
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(
        str(blazepose_path(request.param)), options, providers=["CPUExecutionProvider"]
    )
    yield request.param, model, session
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def crops() -> dict[str, np.ndarray]:
    """Seeded noise, and the 4 golden crops (32 x 32 noise upsampled x 8, as the import tool
    fed the original TF Lite models)."""
    with np.load(GOLDEN) as npz:
        base = npz["lm_base"]
    golden = np.repeat(np.repeat(base, 8, axis=1), 8, axis=2).astype(np.float32) / 255.0
    noise = np.random.default_rng(0).random((3, 256, 256, 3), dtype=np.float32)
    return {"noise": noise, "golden": golden}


def _ort(session, x: np.ndarray) -> dict[str, np.ndarray]:
    return dict(zip(OUTPUT_NAMES, session.run(list(OUTPUT_NAMES), {"crop_rgb": x}), strict=True))


def _torch(model: BlazePoseTorch, x: np.ndarray, dtype=torch.float32) -> dict[str, np.ndarray]:
    with torch.no_grad():
        out = model.to(dtype)(torch.from_numpy(x).to(dtype))
    model.float()
    return {k: v.double().numpy() for k, v in out.items()}


def _errors(got: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> dict[str, float]:
    """Per output: max |got - ref| / max(1, max |ref|)."""
    return {k: float(np.abs(got[k] - ref[k]).max() / max(1.0, np.abs(ref[k]).max())) for k in ref}


@pytest.mark.parametrize("kind", ["noise", "golden"])
@pytest.mark.parametrize("batch", [1, 3])
def test_outputs_match_onnxruntime(pair, crops, kind: str, batch: int) -> None:
    variant, model, session = pair
    x = crops[kind][-batch:]
    ref = _ort(session, x)
    got = _torch(model, x)
    assert {k: v.shape for k, v in got.items()} == {k: v.shape for k, v in ref.items()}
    assert got["heatmaps"].shape == (batch, 64, 64, 39)
    errors = _errors(got, ref)
    assert max(errors.values()) < REL_TOL, f"{variant} {kind} x{batch}: {errors}"
    # unit-scale outputs: 1e-4 absolute
    for name in ("pose_flag", "world_landmarks"):
        assert np.abs(got[name] - ref[name]).max() < 1e-4 * max(1.0, np.abs(ref[name]).max())
    # the outputs are not degenerate: landmarks differ between crops by many pixels
    if batch > 1:
        assert np.ptp(ref["landmarks"][:, 0]) > 1.0


def test_batch_rows_are_independent(pair, crops) -> None:
    _, model, _ = pair
    x = crops["golden"][:3]
    whole = _torch(model, x)
    single = _torch(model, x[1:2])
    for name in OUTPUT_NAMES:
        assert np.abs(whole[name][1:2] - single[name]).max() < 1e-4 * max(
            1.0, np.abs(single[name]).max()
        )


def test_torch_is_as_exact_as_onnxruntime(pair, crops) -> None:
    """Against a float64 evaluation of the same graph, torch float32 errs no more than ORT."""
    variant, model, session = pair
    x = crops["golden"]
    exact = _torch(model, x, torch.float64)
    ort_err = _errors(_ort(session, x), exact)
    torch_err = _errors(_torch(model, x), exact)
    for name in OUTPUT_NAMES:
        assert torch_err[name] <= 3 * ort_err[name] + 1e-7, f"{variant} {name}"


def test_matches_the_original_tflite_outputs(pair, crops) -> None:
    variant, model, _ = pair
    got = _torch(model, crops["golden"])
    with np.load(GOLDEN) as npz:
        ref_xy = npz[f"lm_{variant}_landmarks"].reshape(4, 39, 5)[..., :2]
        ref_world = npz[f"lm_{variant}_world_landmarks"]
    xy_err = np.abs(got["landmarks"].reshape(4, 39, 5)[..., :2] - ref_xy).max()
    assert xy_err < TFLITE_XY_TOL_PX
    assert np.abs(got["world_landmarks"] - ref_world).max() < TFLITE_WORLD_TOL_M


def test_tolerance_catches_a_small_weight_change(pair, crops) -> None:
    _, model, session = pair
    x = crops["golden"][:1]
    ref = _ort(session, x)
    first = next(m for m in model.ops if hasattr(m, "weight"))
    with torch.no_grad():
        first.weight.mul_(1.001)
        try:
            errors = _errors(_torch(model, x), ref)
        finally:
            first.weight.div_(1.001)
    assert max(errors.values()) > 10 * REL_TOL


def test_parameters_are_the_onnx_conv_weights(pair) -> None:
    variant, model, _ = pair
    graph = onnx.load(str(blazepose_path(variant))).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    casts = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Cast"}
    conv_inputs = [i for n in graph.node if n.op_type == "Conv" for i in n.input[1:] if i]
    expected = sum(inits[casts.get(i, i)].size for i in conv_inputs)
    params = list(model.parameters())
    assert sum(p.numel() for p in params) == expected
    assert expected > (1_000_000 if variant == "lite" else 3_000_000)
    assert all(p.dtype == torch.float32 and p.requires_grad for p in params)
    assert set(model.state_dict()) == {n for n, _ in model.named_parameters()}
    first = next(n for n in graph.node if n.op_type == "Conv")
    fp16 = inits[casts.get(first.input[1], first.input[1])]
    assert fp16.dtype == np.float16
    weight = next(m for m in model.ops if hasattr(m, "weight")).weight
    assert np.array_equal(weight.detach().numpy(), fp16.astype(np.float32))


def test_gradients_reach_the_first_conv(pair, crops) -> None:
    _, model, _ = pair
    model.zero_grad()
    x = torch.from_numpy(crops["golden"][:2]).requires_grad_(True)
    out = model(x)
    loss = out["heatmaps"].square().mean() + out["landmarks"].square().mean() * 1e-4
    loss = loss + out["world_landmarks"].square().mean()
    loss.backward()
    convs = [m for m in model.ops if hasattr(m, "weight")]
    grad = convs[0].weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().max() > 0
    assert x.grad is not None and x.grad.abs().max() > 0
    with_grad = [m.weight.grad is not None and m.weight.grad.abs().max() > 0 for m in convs]
    # every conv but the pose-flag head (its output is not in the loss) gets a gradient
    assert sum(with_grad) == len(convs) - 1
    model.zero_grad()


@pytest.mark.parametrize("level", list(FEATURE_NODES))
def test_features_shape_and_stride(pair, crops, level: str) -> None:
    variant, model, _ = pair
    with torch.no_grad():
        feats = model.features(torch.from_numpy(crops["golden"][:2]), level)
    stride = FEATURE_NODES[level][1]
    channels = FEATURE_CHANNELS[variant][list(FEATURE_NODES).index(level)]
    assert tuple(feats.shape) == (2, channels, 256 // stride, 256 // stride)
    assert torch.isfinite(feats).all() and feats.abs().max() > 0.1
    assert model.feature_channels(level) == channels


def test_stride4_features_are_the_heatmap_head_input(pair, crops) -> None:
    """BlazePose's own heatmaps are one 1 x 1 conv of the default features."""
    _, model, _ = pair
    x = torch.from_numpy(crops["golden"][:2])
    with torch.no_grad():
        feats = model.features(x)
        head = next(m for m in model.ops if hasattr(m, "weight") and m.weight.shape[0] == 39)
        heatmaps = head(feats).permute(0, 2, 3, 1)
        assert torch.allclose(heatmaps, model(x)["heatmaps"], atol=1e-5)


def test_bad_inputs_are_rejected() -> None:
    model = load_blazepose("lite")
    with pytest.raises(PrivposeInputError, match="256, 256, 3"):
        model(torch.zeros(1, 3, 256, 256))
    with pytest.raises(PrivposeInputError, match="float"):
        model(torch.zeros(1, 256, 256, 3, dtype=torch.uint8))
    with pytest.raises(PrivposeInputError, match="level"):
        model.features(torch.zeros(1, 256, 256, 3), "stride16")
    with pytest.raises(PrivposeInputError, match="variant"):
        load_blazepose("heavy")


def _tiny_graph(second_op: str, **attrs) -> onnx.ModelProto:
    weight = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float16), "w")
    nodes = [
        helper.make_node("Cast", ["w"], ["w32"], to=TensorProto.FLOAT, name="cast_w"),
        helper.make_node("Conv", ["x", "w32"], ["y"], pads=[1, 1, 1, 1], group=1, name="conv"),
        helper.make_node(second_op, ["y"], ["z"], name="the_second_node", **attrs),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
        [weight],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_tiny_supported_graph_matches_onnxruntime() -> None:
    model = _tiny_graph("Sigmoid")
    x = np.random.default_rng(4).random((1, 1, 4, 4), dtype=np.float32)
    ref = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    got = OnnxGraphModule(model)(torch.from_numpy(x))["z"]
    assert np.abs(got.detach().numpy() - ref).max() < 1e-6
    assert ref.shape == (1, 2, 4, 4) and np.ptp(ref) > 0.01


def test_unknown_op_gives_a_clear_error() -> None:
    with pytest.raises(UnsupportedOnnxOpError, match=r"LeakyRelu \(node 'the_second_node'\)"):
        OnnxGraphModule(_tiny_graph("LeakyRelu", alpha=0.1))
    # an op it knows but with an attribute it does not
    model = _tiny_graph("Resize")
    model.graph.node[2].input.extend(["", "scales"])
    model.graph.initializer.append(
        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    )
    model.graph.node[2].attribute.append(helper.make_attribute("mode", "cubic"))
    with pytest.raises(UnsupportedOnnxOpError, match="mode=cubic"):
        OnnxGraphModule(model)
