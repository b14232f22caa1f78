#!/usr/bin/python3
"""Makes the small ONNX files used by tests/io (run with the system python: /usr/bin/python3).

Outputs (committed; tests never run Python):
  mlp.onnx             Gemm/Relu MLP, raw_data initializers, dynamic batch, metadata, doc strings (opset 13)
  typed.onnx           typed tensor fields (float/int32/int64/double/uint64/string data), every attribute
                       kind incl. graph/graphs (If), sparse initializer, value_info (opset 17)
  qdq.onnx             QuantizeLinear/DequantizeLinear per-axis, DynamicQuantizeLinear, MatMulInteger,
                       QLinearMatMul (opset 13)
  future.onnx          mlp.onnx plus fields from a "future" ONNX version in ModelProto, GraphProto, NodeProto
                       and TensorProto (unknown to bigmodel; must survive load -> save)
  external.onnx        initializers in external.onnx.data (location/offset/length)
  torch_mlp.onnx       exported by torch.onnx.export (opset 17, LayerNorm), if torch is installed
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(0)


def save(model, name, check=True, **kw):
    if check:
        onnx.checker.check_model(model)
    onnx.save_model(model, os.path.join(here, name), **kw)


def opsets(v):
    return [helper.make_opsetid("", v)]


def mlp():
    rng = np.random.default_rng(1)  # own generator: external.onnx repeats the same weights
    w1 = numpy_helper.from_array(rng.standard_normal((8, 16)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(rng.standard_normal((16, 4)).astype(np.float32), "w2")
    b2 = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b2")
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1", alpha=1.0, beta=1.0, transB=0),
        helper.make_node("Relu", ["h"], ["r"], name="relu", doc_string="activation"),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], name="fc2"),
    ]
    g = helper.make_graph(nodes, "mlp",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
                          [w1, b1, w2, b2], doc_string="a small MLP")
    m = helper.make_model(g, opset_imports=opsets(13), producer_name="bigmodel-tests", producer_version="1",
                          doc_string="test model")
    m.ir_version = 8
    helper.set_model_props(m, {"author": "bigmodel", "purpose": "round trip"})
    return m


def typed():
    inits = [
        helper.make_tensor("f32", TensorProto.FLOAT, [2, 2], [1.0, -2.5, 3.25, 0.0]),
        helper.make_tensor("i64", TensorProto.INT64, [3], [1, -2, 1 << 40]),
        helper.make_tensor("i8", TensorProto.INT8, [4], [-128, -1, 0, 127]),
        helper.make_tensor("u16", TensorProto.UINT16, [2], [0, 65535]),
        helper.make_tensor("f64", TensorProto.DOUBLE, [2], [1.5, -1e300]),
        helper.make_tensor("u64", TensorProto.UINT64, [2], [0, (1 << 64) - 1]),
        helper.make_tensor("u32", TensorProto.UINT32, [1], [4000000000]),
        helper.make_tensor("bool", TensorProto.BOOL, [3], [True, False, True]),
        helper.make_tensor("f16", TensorProto.FLOAT16, [2], [1.5, -2.0]),
        helper.make_tensor("str", TensorProto.STRING, [2], [b"hello", b""]),
        helper.make_tensor("i32", TensorProto.INT32, [2], [-7, 2147483647]),
    ]
    then_g = helper.make_graph([helper.make_node("Identity", ["f32"], ["t_out"])], "then",
                              [], [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, [2, 2])])
    else_g = helper.make_graph([helper.make_node("Neg", ["f32"], ["e_out"])], "else",
                              [], [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, [2, 2])])
    sparse = helper.make_sparse_tensor(helper.make_tensor("sv", TensorProto.FLOAT, [2], [5.0, 6.0]),
                                       helper.make_tensor("si", TensorProto.INT64, [2], [1, 3]), [4])
    nodes = [
        helper.make_node("If", ["cond"], ["if_out"], name="if", then_branch=then_g, else_branch=else_g),
        helper.make_node("Constant", [], ["c"], value=helper.make_tensor("cv", TensorProto.FLOAT, [1], [7.0])),
        helper.make_node("Custom", ["f32"], ["custom_out"], domain="test.domain", name="custom",
                         f=0.5, i=-3, s="text", floats=[1.0, 2.0], ints=[-1, 0, 1 << 33], strings=["a", "bc"],
                         tensors=[helper.make_tensor("ta", TensorProto.INT32, [1], [3])],
                         graphs=[then_g], sp=sparse),
        helper.make_node("Constant", [], ["sparse_c"], sparse_value=sparse),
    ]
    g = helper.make_graph(nodes, "typed",
                          [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                          [helper.make_tensor_value_info("if_out", TensorProto.FLOAT, [2, 2]),
                           helper.make_tensor_value_info("c", TensorProto.FLOAT, [1]),
                           helper.make_tensor_value_info("custom_out", TensorProto.FLOAT, None)],
                          inits,
                          value_info=[helper.make_tensor_value_info("sparse_c", TensorProto.FLOAT, [4])],
                          sparse_initializer=[helper.make_sparse_tensor(
                              helper.make_tensor("spi", TensorProto.FLOAT, [1], [9.0]),
                              helper.make_tensor("spi_idx", TensorProto.INT64, [1], [2]), [3])])
    m = helper.make_model(g, opset_imports=opsets(17) + [helper.make_opsetid("test.domain", 1)])
    m.ir_version = 8
    return m


def qdq():
    wq = numpy_helper.from_array(rng.integers(-127, 128, (4, 3)).astype(np.int8), "w_q")
    w_scale = numpy_helper.from_array(np.array([0.1, 0.2, 0.3], np.float32), "w_scale")
    w_zp = numpy_helper.from_array(np.zeros(3, np.int8), "w_zp")
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["x_q", "x_scale", "x_zp"]),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["w"], axis=1),
        helper.make_node("QuantizeLinear", ["w", "w_scale", "w_zp"], ["w_q2"], axis=1),
        helper.make_node("MatMulInteger", ["x_q", "w_q2", "x_zp"], ["acc"]),
        helper.make_node("QLinearMatMul", ["x_q", "x_scale", "x_zp", "w_q_u8", "s1", "z1", "s1", "z1"], ["y_q"]),
    ]
    extra = [numpy_helper.from_array(rng.integers(0, 255, (4, 3)).astype(np.uint8), "w_q_u8"),
             numpy_helper.from_array(np.array(0.05, np.float32), "s1"),
             numpy_helper.from_array(np.array(128, np.uint8), "z1")]
    g = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                          [helper.make_tensor_value_info("acc", TensorProto.INT32, ["batch", 3]),
                           helper.make_tensor_value_info("y_q", TensorProto.UINT8, ["batch", 3])],
                          [wq, w_scale, w_zp] + extra)
    m = helper.make_model(g, opset_imports=opsets(13))
    m.ir_version = 8
    return m


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def unknown_fields():
    # field 30 varint 5, field 31 length-delimited "future", field 29 fixed32, field 28 fixed64
    return (varint(30 << 3) + varint(5) + varint((31 << 3) | 2) + varint(6) + b"future" +
            varint((29 << 3) | 5) + b"\x01\x02\x03\x04" + varint((28 << 3) | 1) + bytes(range(8)))


def with_unknown(msg):
    data = msg.SerializeToString() + unknown_fields()
    out = type(msg)()
    out.ParseFromString(data)
    return out


def future():
    m = mlp()
    m.graph.node[1].CopyFrom(with_unknown(m.graph.node[1]))
    m.graph.initializer[0].CopyFrom(with_unknown(m.graph.initializer[0]))
    g = with_unknown(m.graph)
    m.graph.CopyFrom(g)
    return with_unknown(m)


def torch_mlp():
    try:
        import torch
    except ImportError:
        print("torch not installed: torch_mlp.onnx not made", file=sys.stderr)
        return
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.LayerNorm(8), torch.nn.GELU(), torch.nn.Linear(8, 3))
    net.eval()
    torch.onnx.export(net, torch.randn(2, 6), os.path.join(here, "torch_mlp.onnx"), opset_version=17,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})


if __name__ == "__main__":
    save(mlp(), "mlp.onnx")
    save(typed(), "typed.onnx", check=False)  # custom_out has no shape on purpose
    save(qdq(), "qdq.onnx")
    f = future()
    with open(os.path.join(here, "future.onnx"), "wb") as fh:
        fh.write(f.SerializeToString())
    ext = mlp()
    save(ext, "external.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
         location="external.onnx.data", size_threshold=0)
    torch_mlp()
