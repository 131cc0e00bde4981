"""Where a backend gets its model: the torch module (lazily loaded) or its cached ONNX export."""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from privpose_ros.runtime import export
from privpose_ros.runtime.engine_cache import code_version
from privpose_ros.runtime.export import (
    check_parity,
    export_onnx,
    model_fingerprint,
    random_model_inputs,
)

LOG = logging.getLogger(__name__)


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def export_key(model, batch: int | None) -> dict:  # noqa: ANN001 - a DeployableRGBModel
    """Everything an exported graph depends on: the model (weights and config), the privpose
    code that exports it, the ONNX opset, the torch and onnx versions and the batch mode."""
    import torch

    return {
        "model_sha256": model_fingerprint(model),
        "code_version": code_version(),
        "opset": int(export.ONNX_OPSET),
        "torch_version": str(torch.__version__),
        "onnx_version": _package_version("onnx"),
        "batch": batch if batch is not None else "dynamic",
    }


def export_file_name(key: dict) -> str:
    """``privpose_<20 hex of the key's SHA-256>_<b1|dyn>.onnx``."""
    text = json.dumps(key, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    return f"privpose_{digest}_{'dyn' if key['batch'] == 'dynamic' else 'b1'}.onnx"


def writable_dir(directory: Path) -> str | None:
    """None when ``directory`` can be created and written, else why not."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


_TEMP_DIR: Path | None = None


def temporary_export_dir() -> Path:
    """One per-process temporary directory for exports, removed at exit."""
    global _TEMP_DIR
    if _TEMP_DIR is None or not _TEMP_DIR.is_dir():
        _TEMP_DIR = Path(tempfile.mkdtemp(prefix="privpose_onnx_"))
        atexit.register(shutil.rmtree, _TEMP_DIR, ignore_errors=True)
    return _TEMP_DIR


class ModelSource:
    """Loads the deployable model once and exports it to ONNX on first use.

    The export lands in ``<cache>/onnx/privpose_<key digest>_<b1|dyn>.onnx``, the key being
    :func:`export_key` (model weights and config, privpose code version, opset, torch and onnx
    versions, batch): any change gets a new file, an existing one is reused. A fresh export is
    checked against torch on four random inputs and rejected (RuntimeError) when it disagrees
    (see ParityReport), so "auto" falls back to torch instead of running a wrong graph.

    A cache directory that cannot be written (read-only, or a path under a file) does not stop
    onnxruntime / TensorRT: the graph is exported into a per-process temporary directory with a
    warning (every backend takes a file path, and TensorRT and the parity check read the file;
    the cost is one export per process start). A cached file in a read-only directory is used.
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
        key = export_key(model, batch)
        directory = self._config.cache_dir / "onnx"
        path = directory / export_file_name(key)
        if path.is_file():
            return path
        why = writable_dir(directory)
        if why is not None:
            path = temporary_export_dir() / path.name
            LOG.warning(
                "ONNX cache directory %s is not writable (%s); exporting to the temporary %s "
                "instead (re-exported at every start: set engine_cache_dir to a writable "
                "directory to keep it)",
                directory,
                why,
                path,
            )
            if path.is_file():
                return path
        export_onnx(model, path, batch=batch, opset=key["opset"])
        rgb, k = random_model_inputs(tuple(model.config.input_hw), 4, seed=1)
        report = check_parity(model, path, rgb, k)
        if not report.ok:
            path.unlink(missing_ok=True)
            raise RuntimeError(f"the ONNX export disagrees with torch: {report.as_dict()}")
        LOG.info(
            "exported %s for %s (%.1f%% of joints within %.1f mm of torch)",
            path,
            {name: value for name, value in key.items() if name != "model_sha256"},
            100 * report.fraction_within_tolerance,
            report.tolerance_mm,
        )
        return path
