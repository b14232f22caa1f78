#!/usr/bin/python3
"""Writes the seed corpus of the ONNX reader fuzzer (tests/fuzz/corpus/, committed; a few KB in all).
Run with the system python (/usr/bin/python3, needs python3-onnx). Each seed is small and exercises a
different part of the format: typed and raw tensors, every attribute kind, subgraphs, sparse tensors,
external-data references, symbolic shapes, QDQ nodes, unknown fields."""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
os.makedirs(here, exist_ok=True)


def model(nodes, inputs, outputs, inits=(), opset=13, **kw):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits), **kw)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def vi(name, t=TensorProto.FLOAT, shape=("batch", 2)):
    return helper.make_tensor_value_info(name, t, shape)


def write(name, m):
    with open(os.path.join(here, name), "wb") as f:
        f.write(m.SerializeToString() if hasattr(m, "SerializeToString") else m)


w = numpy_helper.from_array(np.arange(4, dtype=np.float32).reshape(2, 2), "w")
write("gemm_raw.onnx", model([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1, alpha=0.5)], [vi("x")], [vi("y")], [w]))

typed = [helper.make_tensor("i64", TensorProto.INT64, [2], [-1, 1 << 40]),
         helper.make_tensor("f64", TensorProto.DOUBLE, [1], [2.5]),
         helper.make_tensor("u64", TensorProto.UINT64, [1], [7]),
         helper.make_tensor("i8", TensorProto.INT8, [2], [-3, 3]),
         helper.make_tensor("s", TensorProto.STRING, [1], [b"abc"]),
         helper.make_tensor("f", TensorProto.FLOAT, [2], [1.0, 2.0])]
write("typed.onnx", model([helper.make_node("Identity", ["f"], ["y"])], [], [vi("y", shape=[2])], typed, opset=17))

sub = helper.make_graph([helper.make_node("Identity", ["a"], ["b"])], "sub", [], [vi("b", shape=[1])])
sparse = helper.make_sparse_tensor(helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0]),
                                   helper.make_tensor("i", TensorProto.INT64, [1], [0]), [2])
attrs = helper.make_node("Custom", ["x"], ["y"], domain="d", f=1.5, i=-2, s="s", floats=[0.5], ints=[1, -1],
                         strings=["a"], t=helper.make_tensor("t", TensorProto.INT32, [1], [5]),
                         tensors=[helper.make_tensor("u", TensorProto.FLOAT, [], [1.0])], g=sub, graphs=[sub], sp=sparse)
write("attributes.onnx", model([attrs], [vi("x")], [vi("y")], opset=17))

if_node = helper.make_node("If", ["c"], ["y"], then_branch=sub, else_branch=sub)
write("if_subgraph.onnx", model([if_node], [vi("c", TensorProto.BOOL, [])], [vi("y", shape=[1])],
                                 sparse_initializer=[sparse]))

ext = TensorProto()
ext.name, ext.data_type = "e", TensorProto.FLOAT
ext.dims.extend([4])
ext.data_location = TensorProto.EXTERNAL
for k, v in (("location", "weights.bin"), ("offset", "64"), ("length", "16")):
    e = ext.external_data.add()
    e.key, e.value = k, v
write("external_ref.onnx", model([helper.make_node("Identity", ["e"], ["y"])], [], [vi("y", shape=[4])], [ext]))

q = [numpy_helper.from_array(np.array([0.1, 0.2], np.float32), "sc"),
     numpy_helper.from_array(np.array([0, 1], np.int8), "zp"),
     numpy_helper.from_array(np.array([[1, 2], [3, 4]], np.int8), "wq")]
qn = [helper.make_node("DequantizeLinear", ["wq", "sc", "zp"], ["w"], axis=0),
      helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
      helper.make_node("MatMulInteger", ["xq", "wq"], ["acc"]),
      helper.make_node("QuantizeLinear", ["w", "sc", "zp"], ["w2"], axis=0)]
write("qdq.onnx", model(qn, [vi("x")], [vi("acc", TensorProto.INT32)], q))

m = model([helper.make_node("Relu", ["x"], ["y"])], [vi("x")], [vi("y")])
helper.set_model_props(m, {"k": "v"})
m.doc_string = "doc"
unknown = bytes([0xF0, 0x01, 0x05, 0xFA, 0x01, 0x02, 0x68, 0x69])  # field 30 varint, field 31 bytes
write("unknown_fields.onnx", m.SerializeToString() + unknown)
