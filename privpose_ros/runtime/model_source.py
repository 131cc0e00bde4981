"""Where a backend gets its model: the torch module (lazily loaded) or its cached ONNX export."""

from __future__ import annotations

import logging
from pathlib import Path

from privpose_ros.runtime.export import (
    check_parity,
    export_onnx,
    model_fingerprint,
    random_model_inputs,
)

LOG = logging.getLogger(__name__)


class ModelSource:
    """Loads the deployable model once and exports it to ONNX on first use.

    The export lands in ``<cache>/onnx/privpose_<fingerprint>_<batch>.onnx``: a different model
    (weights or config) gets a different file, an existing one is reused. A fresh export is
    checked against torch on four random inputs and rejected (RuntimeError) when it disagrees
    (see ParityReport), so "auto" falls back to torch instead of running a wrong graph.
    """

    def __init__(self, config, model=None) -> None:  # noqa: ANN001 - EstimatorConfig, model
        self._config = config
        self._model = model

    def model(self):  # noqa: ANN201 - a DeployableRGBModel
        if self._model is None:
            from privpose_ros.model.deployable import default_weights_path, load_deployable

            path = self._config.weights_path or default_weights_path()
            if not Path(path).is_file():
                raise FileNotFoundError(
                    f"model weights {path} not found; pass weights_path (safetensors written by "
                    "`privpose train`) or an exported onnx_path"
                )
            self._model = load_deployable(path)
        return self._model

    def onnx_path(self) -> Path:
        if self._config.onnx_path is not None:
            if not self._config.onnx_path.is_file():
                raise FileNotFoundError(
                    f"onnx_path {self._config.onnx_path} not found; run `privpose export`"
                )
            return self._config.onnx_path
        model = self.model()
        batch = 1 if self._config.max_batch == 1 else None
        name = f"privpose_{model_fingerprint(model)[:20]}_{'b1' if batch else 'dyn'}.onnx"
        path = self._config.cache_dir / "onnx" / name
        if path.is_file():
            return path
        export_onnx(model, path, batch=batch)
        rgb, k = random_model_inputs(tuple(model.config.input_hw), 4, seed=1)
        report = check_parity(model, path, rgb, k)
        if not report.ok:
            path.unlink(missing_ok=True)
            raise RuntimeError(f"the ONNX export disagrees with torch: {report.as_dict()}")
        LOG.info(
            "exported %s (%.1f%% of joints within %.1f mm of torch)",
            path,
            100 * report.fraction_within_tolerance,
            report.tolerance_mm,
        )
        return path
