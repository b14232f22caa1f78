#pragma once
// Module header: file I/O, protobuf wire codec, ONNX models, NumPy .npy files.
#include "io/shared_bytes.hpp"
#include "io/file.hpp"
#include "io/protobuf.hpp"
#include "io/onnx.hpp"
#include "io/onnx_graph.hpp"
#include "io/npy.hpp"
