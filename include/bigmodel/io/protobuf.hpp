#pragma once
// Module header: the protobuf wire-format codec (bigmodel::io::protobuf).
#include "protobuf/wire.hpp"
#include "protobuf/message_meta.hpp"
