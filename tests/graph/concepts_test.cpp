#include <catch2/catch.hpp>
#include <bigmodel/graph.hpp>
