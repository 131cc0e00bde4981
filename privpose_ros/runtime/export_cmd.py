"""`privpose export`: the deployable RGB model to ONNX, checked (onnx.checker) and compared
with torch (decoded joints within 1 mm) on random and smooth synthetic inputs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", type=Path, help="model safetensors (default: shipped)")
    parser.add_argument("--onnx", type=Path, required=True, help="output .onnx file")
    batch = parser.add_mutually_exclusive_group()
    batch.add_argument("--batch", type=int, default=1, help="fixed batch size (default 1)")
    batch.add_argument("--dynamic-batch", action="store_true", help="dynamic batch axis")
    parser.add_argument("--parity-images", type=int, default=8, help="images for the check")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from privpose_ros.model.deployable import default_weights_path, load_deployable
    from privpose_ros.runtime.export import check_parity, export_onnx, random_model_inputs

    weights = args.weights or default_weights_path()
    if not weights.is_file():
        raise FileNotFoundError(f"weights {weights} not found; pass --weights")
    if args.parity_images < 1:
        raise ValueError("--parity-images must be >= 1")
    model = load_deployable(weights)
    batch = None if args.dynamic_batch else args.batch
    path = export_onnx(model, args.onnx, batch=batch)
    rgb, k = random_model_inputs(tuple(model.config.input_hw), args.parity_images, seed=0)
    report = check_parity(model, path, rgb, k)
    summary = {
        "onnx": str(path),
        "weights": str(weights),
        "input_hw": list(model.config.input_hw),
        "batch": batch or "dynamic",
        "checker": "ok",
        "parity": report.as_dict(),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"wrote {path} (batch {summary['batch']}, input {model.config.input_hw}); "
            f"parity vs torch over {report.num_images} images: "
            f"{100 * report.fraction_within_tolerance:.1f}% of joints within "
            f"{report.tolerance_mm} mm, median {report.median_joint_error_mm:.4f} mm, max "
            f"{report.max_joint_error_mm:.4f} mm ({'ok' if report.ok else 'FAILED'})"
        )
    return 0 if report.ok else 1
