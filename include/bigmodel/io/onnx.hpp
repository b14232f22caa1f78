#pragma once
// Module header: ONNX models at the protobuf level (bigmodel::io::onnx).
#include "onnx/proto.hpp"
#include "onnx/parse.hpp"
#include "onnx/serialize.hpp"
#include "onnx/tensor.hpp"
#include "onnx/builders.hpp"
#include "onnx/external.hpp"
#include "onnx/model_io.hpp"
