#!/usr/bin/python3
"""Dynamic int8 quantization of an fp32 ONNX model the way ONNX Runtime's quantize_dynamic does it, written with
python3-onnx's helper API only (ONNX Runtime's Python package is not available here).

    /usr/bin/python3 benchmarks/ort/quantize_like_ort.py IN.onnx OUT.onnx [--per-tensor] [--no-gemm]

Every MatMul whose second input is a constant 2-D fp32 initializer W [K, N] (and every Gemm with a constant B,
alpha = beta = 1, transA = 0, unless --no-gemm) becomes

    A_q, A_scale, A_zp = DynamicQuantizeLinear(A)           # u8, per tensor, once per distinct A (Q, K, V share it)
    Y_i32 = MatMulInteger(A_q, W_q, A_zp, W_zp)              # W_q s8 [K, N], W_zp s8 zeros [N] (or scalar)
    Y     = Mul(Cast<float>(Y_i32), Mul(A_scale, W_scale))   # W_scale f32 [N] (or scalar)
    (Gemm only) Y = Add(Y, C)                                # a MatMul's bias Add is already a separate node

with symmetric int8 weights: W_scale = max|W| / 127 per output column (per tensor with --per-tensor), zero point 0,
W_q = clamp(round_half_even(W / W_scale), -127, 127). Everything else is left as it is.
"""

import argparse
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto


def quantize_weight(w, per_channel):
    """w [K, N] f32 -> (q s8 [K, N], scale f32 [N] or scalar)."""
    absmax = np.abs(w).max(axis=0) if per_channel else np.array(np.abs(w).max())
    scale = (absmax / 127.0).astype(np.float32)
    scale = np.where(scale == 0, np.float32(1.0), scale).astype(np.float32)
    q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
    return q, scale


def quantize_model(model, per_channel=True, gemm=True):
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    new_nodes, new_inits = [], []
    dq_cache = {}  # activation name -> (q, scale, zp) names
    replaced = 0

    def fresh(base):
        fresh.n += 1
        return f"{base}_q{fresh.n}"
    fresh.n = 0

    def dynamic_quant(a):
        if a not in dq_cache:
            names = (a + "_quantized", a + "_scale", a + "_zero_point")
            new_nodes.append(helper.make_node("DynamicQuantizeLinear", [a], list(names), name=a + "_DynamicQuantizeLinear"))
            dq_cache[a] = names
        return dq_cache[a]

    for node in graph.node:
        w = None
        if node.op_type == "MatMul" and node.input[1] in inits:
            arr = numpy_helper.to_array(inits[node.input[1]])
            if arr.dtype == np.float32 and arr.ndim == 2:
                w, bias = arr, None
        elif gemm and node.op_type == "Gemm" and node.input[1] in inits:
            at = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            arr = numpy_helper.to_array(inits[node.input[1]])
            if (at.get("alpha", 1.0) == 1.0 and at.get("beta", 1.0) == 1.0 and at.get("transA", 0) == 0
                    and arr.dtype == np.float32 and arr.ndim == 2):
                w = arr.T if at.get("transB", 0) else arr
                bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if w is None:
            new_nodes.append(node)
            continue
        replaced += 1
        base = node.name.replace("/", "_").strip("_") or fresh("matmul")
        wname = node.input[1]
        q, scale = quantize_weight(np.ascontiguousarray(w), per_channel)
        qn, sn, zn = wname + "_quantized", wname + "_scale", wname + "_zero_point"
        if qn not in {i.name for i in new_inits}:
            new_inits += [numpy_helper.from_array(q, qn), numpy_helper.from_array(scale, sn),
                          numpy_helper.from_array(np.zeros(scale.shape, np.int8), zn)]
        aq, ascale, azp = dynamic_quant(node.input[0])
        y_int = base + "_MatMulInteger_output"
        y_f = base + "_Cast_output"
        s = base + "_scales"
        out = node.output[0]
        y = out if bias is None else base + "_Mul_output"
        new_nodes += [
            helper.make_node("MatMulInteger", [aq, qn, azp, zn], [y_int], name=base + "_MatMulInteger"),
            helper.make_node("Cast", [y_int], [y_f], name=base + "_Cast", to=TensorProto.FLOAT),
            helper.make_node("Mul", [ascale, sn], [s], name=base + "_scales_Mul"),
            helper.make_node("Mul", [y_f, s], [y], name=base + "_Mul"),
        ]
        if bias is not None:
            new_nodes.append(helper.make_node("Add", [y, bias], [out], name=base + "_bias_Add"))

    del graph.node[:]
    graph.node.extend(new_nodes)
    graph.initializer.extend(new_inits)
    used = {i for n in graph.node for i in n.input}
    keep = [i for i in graph.initializer if i.name in used or i.name in {o.name for o in graph.output}]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    # Drop value_info of tensors that no longer exist.
    live = used | {o for n in graph.node for o in n.output}
    vi = [v for v in graph.value_info if v.name in live]
    del graph.value_info[:]
    graph.value_info.extend(vi)
    return model, replaced


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor instead of per column")
    ap.add_argument("--no-gemm", action="store_true", help="leave Gemm nodes in fp32 (ONNX Runtime's quantize_dynamic handles MatMul, not Gemm)")
    args = ap.parse_args()
    model = onnx.load(args.input)
    model, n = quantize_model(model, per_channel=not args.per_tensor, gemm=not args.no_gemm)
    onnx.checker.check_model(model)
    onnx.save(model, args.output)
    print(f"{args.output}: {n} MatMul/Gemm quantized ({'per tensor' if args.per_tensor else 'per channel'})")
    return 0 if n else 1


if __name__ == "__main__":
    sys.exit(main())
