"""The deployable RGB model: RGB + intrinsics in, metric 3D joints in the camera frame out.

Variant ``rgb``: F_rgb (SmallHRNet) + SPDH head. Variant ``rgb_hall``: F_rgb and F_hall (an RGB
network trained to mimic the depth teacher's features) + fusion + SPDH head. Decoding to metres
happens inside ``forward`` in plain tensor ops (ONNX opset 17). Privileged depth never reaches
this module: the hallucination loss lives in privpose_ros/train/.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.core.joints import get_joint_set
from privpose_ros.model.heads import UZ_HEADS, Fusion, SPDHHead
from privpose_ros.model.hrnet import BackboneConfig, SmallHRNet
from privpose_ros.model.spdh import SPDHCodec, SPDHConfig, scale_intrinsics

LOG = logging.getLogger(__name__)
VARIANTS = ("rgb", "rgb_hall", "depth")
RGB_MEAN, RGB_STD = 0.45, 0.25
_FORMAT = "privpose-model-v1"


@dataclass(frozen=True)
class ModelConfig:
    """Input size (rows, cols), backbone, SPDH codec, joint set and variant.

    ``variant``: "rgb" (F_rgb only), "rgb_hall" (F_rgb + F_hall + fusion) or "depth" (the
    training-only depth teacher, see :mod:`privpose_ros.model.teacher`). The SPDH heatmap grid
    must be the input size divided by an integer (2 by default).
    """

    input_hw: tuple[int, int] = (96, 128)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    spdh: SPDHConfig = field(default_factory=SPDHConfig)
    head_width: int = 32
    joint_set: str = "canonical"
    variant: str = "rgb_hall"
    # Focal length (px, at input_hw) of the training camera; 0 = no correction. Depth from RGB
    # is learnt from apparent size, so a camera with focal f sees a person at f / f_ref times
    # the depth the network read off the image (pinhole similar triangles).
    reference_focal_px: float = 0.0
    uz_head: str = "spatial"  # "spatial" | "column", see privpose_ros.model.heads.SPDHHead

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_hw", tuple(int(x) for x in self.input_hw))
        if self.uz_head not in UZ_HEADS:
            raise PrivposeInputError(f"uz_head must be one of {UZ_HEADS}, got '{self.uz_head}'")
        if not self.reference_focal_px >= 0.0:
            raise PrivposeInputError(
                f"reference_focal_px must be >= 0 (0 = off), got {self.reference_focal_px}"
            )
        if self.variant not in VARIANTS:
            raise PrivposeInputError(f"variant must be one of {VARIANTS}, got '{self.variant}'")
        get_joint_set(self.joint_set)
        div = self.backbone.min_divisor
        if any(s % div for s in self.input_hw):
            raise PrivposeInputError(
                f"input_hw {self.input_hw} must be multiples of {div} for backbone widths "
                f"{self.backbone.widths}"
            )
        hh, ww = self.spdh.heatmap_hw
        if (
            self.input_hw[0] % hh
            or self.input_hw[1] % ww
            or (self.input_hw[0] // hh != self.input_hw[1] // ww)
        ):
            raise PrivposeInputError(
                f"spdh.heatmap_hw {self.spdh.heatmap_hw} must be input_hw {self.input_hw} "
                "divided by one integer"
            )

    @property
    def n_joints(self) -> int:
        return get_joint_set(self.joint_set).num_joints

    @classmethod
    def tiny(cls, variant: str = "rgb_hall") -> ModelConfig:
        """A very small model for tests (32x48 input, ~10 k parameters)."""
        return cls(
            input_hw=(32, 48),
            backbone=BackboneConfig(widths=(4, 8), blocks=1, stem_width=4),
            spdh=SPDHConfig(heatmap_hw=(16, 24), z_min_m=1.0, z_max_m=5.0, n_bins=20),
            head_width=8,
            variant=variant,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        d = dict(d)
        d["backbone"] = BackboneConfig(**d.get("backbone", {}))
        d["spdh"] = SPDHConfig(**d.get("spdh", {}))
        return cls(**d)

    def replace(self, **changes: Any) -> ModelConfig:
        return ModelConfig.from_dict({**self.to_dict(), **changes})


def check_image_and_k(x: Tensor, k: Tensor, channels: int, input_hw: tuple[int, int]) -> None:
    """Raise PrivposeInputError unless x is (N, channels, *input_hw) float and k is (N, 3, 3)."""
    if x.ndim != 4 or x.shape[1] != channels or tuple(x.shape[-2:]) != input_hw:
        raise PrivposeInputError(
            f"input must be (N, {channels}, {input_hw[0]}, {input_hw[1]}) float32, got "
            f"{tuple(x.shape)}; resize/letterbox to the model's input_hw and scale K with it"
        )
    if k.ndim != 3 or tuple(k.shape[1:]) != (3, 3):
        raise PrivposeInputError(f"k must be (N, 3, 3) intrinsics of the input, got {k.shape}")
    if not (x.is_floating_point() and k.is_floating_point()):
        raise PrivposeInputError("input and k must be floating point tensors")


class SPDHModel(nn.Module):
    """Shared decoding: heatmaps of the input-sized image + K -> metres, input pixels, conf."""

    config: ModelConfig

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.codec = SPDHCodec(config.spdh)

    def decode(self, uv: Tensor, uz: Tensor, k: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Heatmaps + input intrinsics -> joints_cam_m (N, J, 3), joints_canvas_px (N, J, 2)
        (pixels of the network input), conf (N, J)."""
        hm_hw = self.config.spdh.heatmap_hw
        k_hm = scale_intrinsics(k.to(uv.dtype), self.config.input_hw, hm_hw)
        joints, px_hm, conf = self.codec.decode(uv, uz, k_hm)
        scale = self.config.input_hw[0] / hm_hw[0]
        return joints, (px_hm + 0.5) * scale - 0.5, conf


class DeployableRGBModel(SPDHModel):
    """RGB (N, 3, H, W) in [0, 1] + K (N, 3, 3) of that input -> joints, pixels, confidence."""

    def __init__(self, config: ModelConfig) -> None:
        if config.variant not in ("rgb", "rgb_hall"):
            raise PrivposeInputError(
                f"DeployableRGBModel needs variant 'rgb' or 'rgb_hall', got '{config.variant}'"
            )
        super().__init__(config)
        self.f_rgb = SmallHRNet(config.backbone, in_channels=3)
        channels = config.backbone.out_channels
        self.f_hall = SmallHRNet(config.backbone, 3) if config.variant == "rgb_hall" else None
        self.fusion = Fusion(channels) if config.variant == "rgb_hall" else None
        self.head = SPDHHead(
            channels, config.head_width, config.n_joints, config.spdh, config.uz_head
        )

    def forward_heatmaps(self, rgb: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """``uv``, ``uz`` heatmaps and the hallucinated features (None for variant rgb)."""
        x = (rgb - RGB_MEAN) / RGB_STD
        features = self.f_rgb(x)
        hall = None
        if self.f_hall is not None and self.fusion is not None:
            hall = self.f_hall(x)
            features = self.fusion(features, hall)
        uv, uz = self.head(features)
        return uv, uz, hall

    def forward(self, rgb: Tensor, k: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """joints_cam_m (N, J, 3) metres (camera optical frame), joints_canvas_px (N, J, 2)
        pixels of the network input (not of the source image), confidence (N, J) in [0, 1]."""
        check_image_and_k(rgb, k, 3, self.config.input_hw)
        uv, uz, _ = self.forward_heatmaps(rgb)
        joints_cam_m, joints_canvas_px, confidence = self.decode(uv, uz, k)
        if self.config.reference_focal_px > 0.0:
            focal_px = 0.5 * (k[:, 0, 0] + k[:, 1, 1]).to(joints_cam_m.dtype)
            joints_cam_m = (
                joints_cam_m * (focal_px / self.config.reference_focal_px)[:, None, None]
            )
        return joints_cam_m, joints_canvas_px, confidence


def save_deployable(model: SPDHModel, path: str | Path) -> None:
    """Write the weights as safetensors with the ModelConfig JSON in the metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"format": _FORMAT, "config": json.dumps(model.config.to_dict())}
    save_file(state, str(path), metadata=meta)


def read_weights(path: str | Path) -> tuple[ModelConfig, dict[str, Tensor]]:
    """ModelConfig and state dict of a file written by :func:`save_deployable`."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open API
    if meta.get("format") != _FORMAT:
        raise PrivposeInputError(
            f"{path} is not a privpose model file (metadata format {meta.get('format')!r}); "
            "write it with privpose_ros.model.deployable.save_deployable"
        )
    return ModelConfig.from_dict(json.loads(meta["config"])), state


def load_deployable(path: str | Path) -> DeployableRGBModel:
    """Load a DeployableRGBModel (eval mode, CPU) from safetensors."""
    config, state = read_weights(path)
    model = DeployableRGBModel(config)
    model.load_state_dict(state)
    LOG.debug("loaded %s model from %s", config.variant, path)
    return model.eval()


def default_weights_path() -> Path:
    """The shipped RGB + hallucination weights."""
    return Path(__file__).resolve().parents[1] / "weights" / "rgb_hall.safetensors"
