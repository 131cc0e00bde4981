"""The BlazePose GHUM landmark network as a trainable torch module, imported from the shipped ONNX.

``onnx2torch`` needs torchvision (no CPU build here), so this file holds a small ONNX-graph-to-
torch builder for exactly the ops the two shipped graphs (``blazepose_landmark_{lite,full}.onnx``,
opset 17) use: Cast (folded when its input is a constant: the float16 initialisers become
float32), Conv (2-D, grouped / depthwise, asymmetric pads), Clip (ReLU6), Add, Pad (constant),
MaxPool, Resize (bilinear, half-pixel or align-corners), Reshape, Transpose and Sigmoid. Any
other op raises :class:`UnsupportedOnnxOpError` naming it and its node. Conv weights and biases
become ``nn.Parameter`` (float32), everything else (pads, clip bounds, shapes) plain Python
values, so the module fine-tunes like any other and its ``state_dict`` holds only the weights.

Input ``crop_rgb``: (N, 256, 256, 3) float RGB in [0, 1], NHWC, as
:func:`privpose_ros.runtime.landmarks.crop` makes it. Outputs (dict, ONNX names and order):
``landmarks`` (N, 195) = 39 x (x, y, z, visibility logit, presence logit), x and y in crop
pixels with the pixel-corner convention (subtract 0.5 for the centre-based pixels of
:mod:`privpose_ros.core.crop`), z relative in crop-pixel units; ``pose_flag`` (N, 1) person
presence probability; ``heatmaps`` (N, 64, 64, 39) logits, NHWC; ``world_landmarks`` (N, 117) =
39 x (x, y, z) metres around the hip centre in the crop's axes.

Backbone features (:meth:`BlazePoseTorch.features`, NCHW): the graph is an encoder down to
stride 32 (8 x 8), a regression branch from there to the 2 x 2 grid the landmark / world / flag
convs read, and a top-down heatmap decoder (bilinear x2 + lateral adds at strides 16, 8, 4) whose
only consumer is one 1 x 1 conv to the 39 heatmaps. The default level ``"stride4"`` is that
decoder output, tensor ``model_1/model/add_11/add``: (N, 32, 64, 64) lite, (N, 48, 64, 64) full,
stride 4 on the 256 crop. It is what BlazePose itself turns into heatmaps with a linear map, it
mixes stride 32..4 context, and it sits off the regression path, so a new heatmap head on it
starts one linear probe away from a trained one. ``"stride8"`` (``add_10``, (N, 32|48, 32, 32))
and ``"stride32"`` (``add_8``, the encoder output, (N, 96|144, 8, 8)) are there too.

Parity with ONNX Runtime (float32, test/model/test_model_blazepose_torch.py): 1e-4 of each
output's range (landmarks ~1e-3 px, heatmaps ~2e-4, world points ~1e-5 m, pose_flag ~1e-6);
that is float32 rounding, as large as ONNX Runtime's own distance to a float64 evaluation.
Save weights with ``state_dict()``; the op modules hold closures, so pickling the whole module
(``torch.save(model)``) is not supported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper
from torch import Tensor, nn

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.paths import WEIGHTS_DIR

VARIANTS = ("lite", "full")
CROP_PX = 256
INPUT_NAME = "crop_rgb"
OUTPUT_NAMES = ("landmarks", "pose_flag", "heatmaps", "world_landmarks")
# feature level -> (ONNX tensor, stride on the 256 crop); the same names in both variants
FEATURE_NODES: dict[str, tuple[str, int]] = {
    "stride4": ("model_1/model/add_11/add", 4),
    "stride8": ("model_1/model/add_10/add", 8),
    "stride32": ("model_1/model/add_8/add", 32),
}


class UnsupportedOnnxOpError(NotImplementedError):
    """The ONNX graph uses an op (or an op attribute) the builder does not implement."""


_Consts = dict[str, np.ndarray]


def _unsupported(node: onnx.NodeProto, what: str) -> UnsupportedOnnxOpError:
    return UnsupportedOnnxOpError(
        f"ONNX {node.op_type} node '{node.name}': {what} is not supported by "
        "privpose_ros.model.blazepose_torch (add it to _BUILDERS there)"
    )


def _const(node: onnx.NodeProto, consts: _Consts, index: int) -> np.ndarray | None:
    """The constant value of input ``index`` (None when the input is absent or empty)."""
    if index >= len(node.input) or not node.input[index]:
        return None
    name = node.input[index]
    if name not in consts:
        raise _unsupported(node, f"a non-constant input {index} ('{name}')")
    return consts[name]


class _Conv(nn.Module):
    def __init__(self, weight: np.ndarray, bias: np.ndarray | None, attrs: dict[str, Any]):
        super().__init__()
        self.weight = nn.Parameter(torch.from_numpy(weight.astype(np.float32)))
        self.bias = (
            None if bias is None else nn.Parameter(torch.from_numpy(bias.astype(np.float32)))
        )
        self.stride = tuple(attrs.get("strides", (1, 1)))
        self.dilation = tuple(attrs.get("dilations", (1, 1)))
        self.groups = int(attrs.get("group", 1))
        top, left, bottom, right = attrs.get("pads", (0, 0, 0, 0))
        self.padding = (top, left) if (top, left) == (bottom, right) else (0, 0)
        # F.pad order: (left, right, top, bottom); only for asymmetric ONNX pads
        self.pre_pad = None if (top, left) == (bottom, right) else (left, right, top, bottom)

    def forward(self, x: Tensor) -> Tensor:
        if self.pre_pad is not None:
            x = F.pad(x, self.pre_pad)
        return F.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class _Fn(nn.Module):
    """A parameter-free op: ``fn(*inputs)``; ``label`` shows in ``repr``."""

    def __init__(self, label: str, fn: Callable[..., Tensor]):
        super().__init__()
        self.label, self.fn = label, fn

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.fn(*inputs)

    def extra_repr(self) -> str:
        return self.label


def _build_conv(node: onnx.NodeProto, attrs: dict[str, Any], consts: _Consts) -> nn.Module:
    weight = _const(node, consts, 1)
    if weight is None or weight.ndim != 4:
        raise _unsupported(node, "a Conv that is not 2-D with a constant weight")
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise _unsupported(node, f"auto_pad={attrs['auto_pad']!r}")
    return _Conv(weight, _const(node, consts, 2), attrs)


def _build_clip(node: onnx.NodeProto, attrs: dict[str, Any], consts: _Consts) -> nn.Module:
    lo, hi = _const(node, consts, 1), _const(node, consts, 2)
    lo_f = None if lo is None else float(lo)
    hi_f = None if hi is None else float(hi)
    return _Fn(f"clip({lo_f}, {hi_f})", lambda x: torch.clamp(x, lo_f, hi_f))


def _build_pad(node: onnx.NodeProto, attrs: dict[str, Any], consts: _Consts) -> nn.Module:
    mode = attrs.get("mode", b"constant")
    if mode not in (b"constant", "constant") or len(node.input) > 3:
        raise _unsupported(node, f"mode {mode!r} or an 'axes' input")
    pads = [int(p) for p in _const(node, consts, 1)]
    value_arr = _const(node, consts, 2)
    value = 0.0 if value_arr is None else float(value_arr)
    rank = len(pads) // 2
    # ONNX: (begin_0..begin_r, end_0..end_r); F.pad: (begin_last, end_last, begin_prev, ...)
    torch_pads = tuple(p for d in reversed(range(rank)) for p in (pads[d], pads[d + rank]))
    return _Fn(f"pad{torch_pads}", lambda x: F.pad(x, torch_pads, value=value))


def _build_maxpool(node: onnx.NodeProto, attrs: dict[str, Any], consts: _Consts) -> nn.Module:
    pads = tuple(attrs.get("pads", (0, 0, 0, 0)))
    if (
        len(node.output) > 1
        or pads[:2] != pads[2:]
        or attrs.get("auto_pad", b"NOTSET") != b"NOTSET"
    ):
        raise _unsupported(node, "MaxPool indices, asymmetric pads or auto_pad")
    kernel = tuple(attrs["kernel_shape"])
    stride = tuple(attrs.get("strides", (1,) * len(kernel)))
    dilation = tuple(attrs.get("dilations", (1,) * len(kernel)))
    ceil = bool(attrs.get("ceil_mode", 0))
    return _Fn(
        f"maxpool(k={kernel}, s={stride})",
        lambda x: F.max_pool2d(x, kernel, stride, pads[:2], dilation, ceil_mode=ceil),
    )


def _build_resize(node: onnx.NodeProto, attrs: dict[str, Any], consts: _Consts) -> nn.Module:
    mode = attrs.get("mode", b"nearest").decode()
    coords = attrs.get("coordinate_transformation_mode", b"half_pixel").decode()
    if mode != "linear" or coords not in ("half_pixel", "align_corners"):
        raise _unsupported(node, f"Resize mode={mode}, coordinate_transformation_mode={coords}")
    scales, sizes = _const(node, consts, 2), _const(node, consts, 3)
    align = coords == "align_corners"
    if sizes is not None and sizes.size:
        size = tuple(int(s) for s in sizes[2:])
        return _Fn(
            f"bilinear(size={size})",
            lambda x: F.interpolate(x, size=size, mode="bilinear", align_corners=align),
        )
    if scales is None or scales.size != 4 or tuple(scales[:2]) != (1.0, 1.0):
        raise _unsupported(node, f"Resize scales {scales} (4-D, N and C unscaled only)")
    factor = (float(scales[2]), float(scales[3]))
    return _Fn(
        f"bilinear(x{factor})",
        lambda x: F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=align),
    )


def _build_reshape(node: onnx.NodeProto, attrs: dict[str, Any], consts: _Consts) -> nn.Module:
    if attrs.get("allowzero", 0):
        raise _unsupported(node, "allowzero=1")
    shape = [int(s) for s in _const(node, consts, 1)]

    def reshape(x: Tensor) -> Tensor:  # ONNX: 0 copies the input's dimension
        return x.reshape([x.shape[i] if s == 0 else s for i, s in enumerate(shape)])

    return _Fn(f"reshape{shape}", reshape)


def _build_transpose(node: onnx.NodeProto, attrs: dict[str, Any], consts: _Consts) -> nn.Module:
    perm = tuple(attrs["perm"]) if "perm" in attrs else None
    return _Fn(f"permute{perm}", lambda x: x.permute(perm or tuple(reversed(range(x.ndim)))))


def _build_cast(node: onnx.NodeProto, attrs: dict[str, Any], consts: _Consts) -> nn.Module:
    dtype = torch.from_numpy(np.zeros(0, helper.tensor_dtype_to_np_dtype(attrs["to"]))).dtype
    return _Fn(f"cast({dtype})", lambda x: x.to(dtype))


_Builder = Callable[[onnx.NodeProto, dict[str, Any], _Consts], nn.Module]
_BUILDERS: dict[str, _Builder] = {
    "Add": lambda n, a, c: _Fn("add", torch.add),
    "Cast": _build_cast,
    "Clip": _build_clip,
    "Conv": _build_conv,
    "MaxPool": _build_maxpool,
    "Pad": _build_pad,
    "Reshape": _build_reshape,
    "Resize": _build_resize,
    "Sigmoid": lambda n, a, c: _Fn("sigmoid", torch.sigmoid),
    "Transpose": _build_transpose,
}
# inputs the builders read as constants (folded into the op), per op; the rest are tensors
_CONST_INPUTS = {
    "Conv": (1, 2),
    "Clip": (1, 2),
    "Pad": (1, 2, 3),
    "Reshape": (1,),
    "Resize": (1, 2, 3),
}


class OnnxGraphModule(nn.Module):
    """An ONNX graph run op by op in torch; ``forward(*inputs)`` -> {output name: tensor}."""

    def __init__(self, model: onnx.ModelProto):
        super().__init__()
        graph = model.graph
        unknown = {n.op_type: n.name for n in graph.node if n.domain not in ("", "ai.onnx")}
        unknown.update({n.op_type: n.name for n in graph.node if n.op_type not in _BUILDERS})
        if unknown:
            listed = ", ".join(f"{op} (node '{name}')" for op, name in sorted(unknown.items()))
            raise UnsupportedOnnxOpError(
                f"ONNX graph '{graph.name}' uses ops privpose_ros.model.blazepose_torch does not "
                f"support: {listed}; supported: {', '.join(sorted(_BUILDERS))}"
            )
        consts: _Consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.input_names = [i.name for i in graph.input if i.name not in consts]
        self.output_names = [o.name for o in graph.output]
        self.ops = nn.ModuleList()
        # (op index, tensor inputs, output name); ONNX graphs are topologically sorted
        self._steps: list[tuple[int, list[str], str]] = []
        self._buffer_of: dict[str, str] = {}  # constant used as a tensor input -> buffer name
        for node in graph.node:
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type == "Cast" and node.input[0] in consts:  # fold: fp16 weights -> fp32
                consts[node.output[0]] = consts[node.input[0]].astype(
                    helper.tensor_dtype_to_np_dtype(attrs["to"])
                )
                continue
            folded = _CONST_INPUTS.get(node.op_type, ())
            tensors = [x for i, x in enumerate(node.input) if x and i not in folded]
            for name in tensors:
                if name in consts and name not in self._buffer_of:
                    self._buffer_of[name] = f"const_{len(self._buffer_of)}"
                    self.register_buffer(
                        self._buffer_of[name], torch.from_numpy(consts[name].copy())
                    )
            if len(node.output) != 1:
                raise _unsupported(node, f"{len(node.output)} outputs")
            self._steps.append((len(self.ops), tensors, node.output[0]))
            self.ops.append(_BUILDERS[node.op_type](node, attrs, consts))
        self._plans: dict[tuple[str, ...], list[tuple[int, list[str], str]]] = {}

    def _plan(self, targets: tuple[str, ...]) -> list[tuple[int, list[str], str]]:
        """The steps ``targets`` depend on, in graph order."""
        if targets not in self._plans:
            needed, keep = set(targets), []
            for step in reversed(self._steps):
                if step[2] in needed:
                    keep.append(step)
                    needed.update(step[1])
            missing = needed - {s[2] for s in keep} - set(self.input_names) - set(self._buffer_of)
            if missing:
                raise PrivposeInputError(f"no tensor named {sorted(missing)} in the ONNX graph")
            self._plans[targets] = keep[::-1]
        return self._plans[targets]

    def run(self, targets: Sequence[str], *inputs: Tensor) -> dict[str, Tensor]:
        """The graph tensors named ``targets``, computing only what they need."""
        if len(inputs) != len(self.input_names):
            raise PrivposeInputError(f"expected inputs {self.input_names}, got {len(inputs)}")
        env = dict(zip(self.input_names, inputs, strict=True))
        env.update({name: getattr(self, key) for name, key in self._buffer_of.items()})
        for index, tensors, output in self._plan(tuple(targets)):
            env[output] = self.ops[index](*(env[t] for t in tensors))
        return {t: env[t] for t in targets}

    def forward(self, *inputs: Tensor) -> dict[str, Tensor]:
        return self.run(self.output_names, *inputs)


class BlazePoseTorch(OnnxGraphModule):
    """BlazePose landmark network; see the module docstring for inputs, outputs and features."""

    def __init__(self, model: onnx.ModelProto, variant: str = ""):
        super().__init__(model)
        if self.input_names != [INPUT_NAME] or tuple(self.output_names) != OUTPUT_NAMES:
            raise PrivposeInputError(
                f"not a BlazePose landmark graph: inputs {self.input_names}, outputs "
                f"{self.output_names} (expected [{INPUT_NAME}], {list(OUTPUT_NAMES)})"
            )
        self.variant = variant

    @staticmethod
    def _check(crop_rgb_nhwc: Tensor) -> Tensor:
        if crop_rgb_nhwc.ndim != 4 or tuple(crop_rgb_nhwc.shape[1:]) != (CROP_PX, CROP_PX, 3):
            raise PrivposeInputError(
                f"crop_rgb_nhwc must be (N, {CROP_PX}, {CROP_PX}, 3) RGB in [0, 1], got "
                f"{tuple(crop_rgb_nhwc.shape)}"
            )
        if not crop_rgb_nhwc.is_floating_point():
            raise PrivposeInputError("crop_rgb_nhwc must be float RGB in [0, 1] (uint8 / 255)")
        return crop_rgb_nhwc

    def forward(self, crop_rgb_nhwc: Tensor) -> dict[str, Tensor]:  # type: ignore[override]
        """{landmarks, pose_flag, heatmaps, world_landmarks}, exactly as the ONNX graph."""
        return self.run(self.output_names, self._check(crop_rgb_nhwc))

    def features(self, crop_rgb_nhwc: Tensor, level: str = "stride4") -> Tensor:
        """Backbone feature map (N, C, 256 / stride, 256 / stride), NCHW; see FEATURE_NODES."""
        if level not in FEATURE_NODES:
            raise PrivposeInputError(f"feature level must be one of {list(FEATURE_NODES)}")
        name = FEATURE_NODES[level][0]
        return self.run([name], self._check(crop_rgb_nhwc))[name]

    def feature_channels(self, level: str = "stride4") -> int:
        """Channels of :meth:`features` at ``level`` (32 / 48 at stride 4 for lite / full)."""
        weight = next(self.parameters())
        probe = weight.new_zeros(1, CROP_PX, CROP_PX, 3)
        with torch.no_grad():
            return int(self.features(probe, level).shape[1])


def blazepose_path(variant: str = "lite", weights_dir: Path | None = None) -> Path:
    """The shipped ONNX file of ``variant`` ("lite" or "full")."""
    if variant not in VARIANTS:
        raise PrivposeInputError(f"BlazePose variant must be one of {VARIANTS}, got {variant!r}")
    return Path(weights_dir or WEIGHTS_DIR) / f"blazepose_landmark_{variant}.onnx"


def load_blazepose(variant: str = "lite", weights_dir: Path | None = None) -> BlazePoseTorch:
    """BlazePose landmark network ``variant`` with the shipped weights, as trainable float32."""
    path = blazepose_path(variant, weights_dir)
    if not path.is_file():
        raise PrivposeInputError(f"{path} is missing; tools/import_pretrained.py rebuilds it")
    return BlazePoseTorch(onnx.load(str(path)), variant)
