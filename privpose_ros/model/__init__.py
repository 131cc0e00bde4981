"""privpose model layer: SmallHRNet, the SPDH codec and head, the deployable RGB model."""

from privpose_ros.model.deployable import (
    DeployableRGBModel,
    ModelConfig,
    default_weights_path,
    load_deployable,
    save_deployable,
)
from privpose_ros.model.spdh import SPDHCodec, SPDHConfig

__all__ = [
    "DeployableRGBModel",
    "ModelConfig",
    "SPDHCodec",
    "SPDHConfig",
    "default_weights_path",
    "load_deployable",
    "save_deployable",
]
