#include <catch2/catch.hpp>
#include <bigmodel/runtime.hpp>
