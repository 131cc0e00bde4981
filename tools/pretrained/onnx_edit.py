"""Graph edits applied to the converted models before they ship (onnx + numpy only).

- ``prune``: keep only the named outputs (drops e.g. BlazePose's segmentation decoder).
- ``rename_io``: stable, meaningful tensor names instead of tf2onnx's ``Identity_3``.
- ``dynamic_batch``: a symbolic leading dimension, so persons run in one batch.
- ``fp16_storage``: float32 initializers that are EXACTLY representable in float16 (the
  upstream files store fp16 weights) are stored as float16 followed by a Cast to float32, which
  halves the file without changing a single value; ONNX Runtime folds the casts at load time.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper


def prune(model: onnx.ModelProto, outputs: list[str]) -> onnx.ModelProto:
    inputs = [i.name for i in model.graph.input]
    extractor = onnx.utils.Extractor(model)
    pruned = extractor.extract_model(inputs, outputs)
    pruned.ir_version = model.ir_version
    return pruned


def rename_io(model: onnx.ModelProto, names: dict[str, str]) -> onnx.ModelProto:
    for node in model.graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    for value in [*model.graph.input, *model.graph.output]:
        value.name = names.get(value.name, value.name)
    return model


def dynamic_batch(model: onnx.ModelProto, dim_name: str = "N") -> onnx.ModelProto:
    for value in [*model.graph.input, *model.graph.output]:
        dim = value.type.tensor_type.shape.dim[0]
        dim.Clear()
        dim.dim_param = dim_name
    del model.graph.value_info[:]  # intermediate shapes were inferred for batch 1
    return model


def fp16_storage(model: onnx.ModelProto, min_size: int = 16) -> tuple[onnx.ModelProto, int, int]:
    """Returns the model and how many initializers were / were not stored as float16."""
    graph = model.graph
    kept, converted, casts = [], 0, []
    skipped = 0
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype != np.float32 or array.size < min_size:
            kept.append(init)
            continue
        half = array.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), array):
            kept.append(init)
            skipped += 1
            continue
        stored = numpy_helper.from_array(half, init.name + "__fp16")
        kept.append(stored)
        casts.append(
            helper.make_node(
                "Cast",
                [stored.name],
                [init.name],
                to=onnx.TensorProto.FLOAT,
                name=init.name + "__cast",
            )
        )
        converted += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return model, converted, skipped


def finish(model: onnx.ModelProto, doc: str) -> onnx.ModelProto:
    model.doc_string = doc
    model.producer_name = "privpose tools/import_pretrained.py"
    onnx.checker.check_model(model, full_check=True)
    return model
