"""`privpose export`: the deployable v2 model (weights of the rgb or rgb_hall stage) to ONNX,
checked (onnx.checker) and compared with torch on random crops; the same export and check as
the lifter's own cached one (runtime/export.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--weights", type=Path, help="v2 weights (default: shipped weights/rgb_hall.safetensors)"
    )
    parser.add_argument("--onnx", type=Path, required=True, help="output .onnx file")
    parser.add_argument("--parity-crops", type=int, default=8, help="random crops for the check")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from privpose_ros.runtime.export import (
        INPUT_NAMES,
        ONNX_OPSET,
        OUTPUT_NAMES,
        PARITY_TOLERANCE_M,
        export_error_m,
        export_posenet_onnx,
    )
    from privpose_ros.runtime.lifter import SHIPPED_WEIGHTS, load_deployable

    if args.parity_crops < 1:
        raise ValueError("--parity-crops must be >= 1")
    weights = args.weights or SHIPPED_WEIGHTS
    model = load_deployable(weights)
    path = export_posenet_onnx(model, args.onnx)
    error_m = export_error_m(model, path, crops=args.parity_crops)
    ok = error_m <= PARITY_TOLERANCE_M
    summary = {
        "onnx": str(path),
        "weights": str(weights),
        "variant": model.config.variant,
        "crop_px": int(model.config.crop_px),
        "opset": ONNX_OPSET,
        "inputs": list(INPUT_NAMES),
        "outputs": list(OUTPUT_NAMES),
        "checker": "ok",
        "parity": {
            "crops": args.parity_crops,
            "max_joint_error_m": error_m,
            "tolerance_m": PARITY_TOLERANCE_M,
            "ok": ok,
        },
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"wrote {path} ({summary['variant']}, crop {summary['crop_px']} px, dynamic batch); "
            f"parity vs torch over {args.parity_crops} crops: max joint error {error_m:.2e} m "
            f"(tolerance {PARITY_TOLERANCE_M:.0e} m, {'ok' if ok else 'FAILED'})"
        )
    if not ok:
        path.unlink(missing_ok=True)
        raise RuntimeError(
            f"the ONNX export of {weights} disagrees with torch by {error_m:.2e} m "
            f"(> {PARITY_TOLERANCE_M:.0e} m); {path} deleted"
        )
    return 0
