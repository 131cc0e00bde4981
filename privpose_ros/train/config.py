"""Training recipes: YAML under config/train/ read into frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from privpose_ros.core.errors import PrivposeInputError
from privpose_ros.model.deployable import ModelConfig

STAGES = ("depth", "rgb", "rgb_hall")


@dataclass(frozen=True)
class DataConfig:
    """Synthetic train / held-out test sets, generated once to disk (seeds must differ)."""

    train_dir: str = "runs/data/synth_train"
    test_dir: str = "runs/data/synth_test"
    width: int = 320
    height: int = 240
    view: str = "side"
    train_frames: int = 4000
    test_frames: int = 500
    train_seed: int = 1
    test_seed: int = 90001

    def __post_init__(self) -> None:
        if self.train_seed == self.test_seed:
            raise PrivposeInputError("data.train_seed and data.test_seed must differ")
        if self.train_frames < 1 or self.test_frames < 1:
            raise PrivposeInputError("data.train_frames and data.test_frames must be >= 1")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warm-up then cosine decay; ``epochs`` per stage."""

    epochs: dict[str, int] = field(
        default_factory=lambda: {"depth": 12, "rgb": 12, "rgb_hall": 12}
    )
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100

    def __post_init__(self) -> None:
        if set(self.epochs) - set(STAGES) or min(self.epochs.values(), default=1) < 1:
            raise PrivposeInputError(f"optim.epochs keys must be in {STAGES}, values >= 1")
        if self.batch_size < 1 or self.lr <= 0:
            raise PrivposeInputError("optim.batch_size must be >= 1 and optim.lr > 0")


@dataclass(frozen=True)
class TrainConfig:
    """A whole recipe: which stages, the model, data, optimiser and the hallucination weight.

    ``hall_weight`` multiplies the feature-mimicking loss (MSE between F_hall(rgb) and the frozen
    F_depth(depth) features) added to the heatmap loss in stage rgb_hall. ``heatmap_scale``
    multiplies the heatmap MSE (targets peak at 1, most pixels are 0), whose pixels are weighted
    by 1 + ``fg_weight`` * target. ``hall_init_from_teacher``
    starts F_hall from F_depth's weights (all but the first convolution). ``coord_weight``
    multiplies an L1 loss (metres) on the joints soft-argmax-decoded from the heatmaps
    (integral regression, ``model.spdh.softmax_beta``; 0 = off).
    """

    stages: tuple[str, ...] = STAGES
    out_dir: str = "runs/default"
    seed: int = 0
    threads: int = 1
    device: str = "cpu"
    hall_weight: float = 0.1
    hall_init_from_teacher: bool = True
    heatmap_scale: float = 100.0
    fg_weight: float = 20.0
    coord_weight: float = 0.0
    augment: bool = True
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        bad = [s for s in self.stages if s not in STAGES]
        if bad or not self.stages:
            raise PrivposeInputError(f"stages must be a non-empty subset of {STAGES}, got {bad}")
        if self.device not in ("cpu", "cuda", "auto"):
            raise PrivposeInputError(f"device must be cpu, cuda or auto, got {self.device}")
        if self.hall_weight < 0 or self.threads < 1:
            raise PrivposeInputError("hall_weight must be >= 0 and threads >= 1")
        if self.coord_weight < 0:
            raise PrivposeInputError(f"coord_weight must be >= 0, got {self.coord_weight}")

    def weights_path(self, stage: str) -> Path:
        return Path(self.out_dir) / f"{stage}.safetensors"

    def checkpoint_path(self, stage: str) -> Path:
        return Path(self.out_dir) / f"{stage}.ckpt.safetensors"

    def model_for(self, stage: str) -> ModelConfig:
        return self.model.replace(variant=stage)


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise PrivposeInputError(
            f"unknown keys {sorted(unknown)} in {where}; known: {sorted(known)}"
        )
    return cls(**values)


def config_from_dict(d: dict[str, Any]) -> TrainConfig:
    """Build a TrainConfig from nested plain values (a parsed YAML document)."""
    d = dict(d or {})
    if "model" in d:
        model = {**ModelConfig().to_dict(), **d["model"]}
        model["backbone"] = {**ModelConfig().to_dict()["backbone"], **model["backbone"]}
        model["spdh"] = {**ModelConfig().to_dict()["spdh"], **model["spdh"]}
        d["model"] = ModelConfig.from_dict(model)
    if "data" in d:
        d["data"] = _build(DataConfig, d["data"], "data")
    if "optim" in d:
        d["optim"] = _build(OptimConfig, d["optim"], "optim")
    return _build(TrainConfig, d, "the training config")


def load_config(path: str | Path) -> TrainConfig:
    """Read a training YAML (see config/train/default.yaml)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config {path} does not exist")
    with path.open() as f:
        return config_from_dict(yaml.safe_load(f))
