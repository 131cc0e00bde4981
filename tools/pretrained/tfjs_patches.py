"""Work-arounds that let tf2onnx 1.17 read TF.js graph models with TensorFlow 2.21 / NumPy 2.

1. ``np.product`` is gone in NumPy 2 (tf2onnx's tfjs reader still calls it).
2. TF.js drops attributes that have defaults, but tf2onnx re-imports each node into a TF graph
   to infer shapes and dtypes: ``_Fused*`` ops then miss ``TArgs`` (one type per extra
   argument, all equal to ``T``) and some ops miss defaulted type attributes (``index_type``).
   The patch fills them in from TensorFlow's op registry before the node is read.
"""

from __future__ import annotations

import numpy as np


def apply() -> None:
    np.product = np.prod  # type: ignore[attr-defined]
    from tensorflow.core.framework import types_pb2
    from tensorflow.python.framework import op_def_registry
    from tf2onnx import tfjs_utils

    original = tfjs_utils.fix_string_attr

    def complete_attrs(node: dict) -> None:
        op = node.get("op", "")
        if op == "FusedDepthwiseConv2dNative":
            op = "_FusedDepthwiseConv2dNative"
        op_def = op_def_registry.get(op)
        if op_def is None:
            return
        attrs = node.setdefault("attr", {})
        for attr in op_def.attr:
            if attr.name in attrs:
                continue
            if attr.name == "TArgs" and "T" in attrs:
                count = int(attrs.get("num_args", {}).get("i", 1))
                attrs["TArgs"] = {"list": {"type": [attrs["T"]["type"]] * count}}
            elif attr.type == "type" and attr.HasField("default_value"):
                attrs[attr.name] = {"type": types_pb2.DataType.Name(attr.default_value.type)}

    def patched(node: dict) -> object:
        complete_attrs(node)
        return original(node)

    tfjs_utils.fix_string_attr = patched
