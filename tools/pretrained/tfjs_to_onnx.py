"""``python tfjs_to_onnx.py MODEL.json OUT.onnx``: tf2onnx on a TF.js graph model, patched."""

from __future__ import annotations

import sys

import tfjs_patches

if __name__ == "__main__":
    tfjs_patches.apply()
    from tf2onnx import convert

    model_json, out = sys.argv[1:3]
    sys.argv = ["tf2onnx", "--tfjs", model_json, "--output", out, "--opset", "17"]
    convert.main()
