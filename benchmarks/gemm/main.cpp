// One thread everywhere: oneDNN's OpenMP runtime reads OMP_NUM_THREADS when it starts, so set it first.
#include <benchmark/benchmark.h>

#include <cstdlib>

int main(int argc, char** argv) {
  ::setenv("OMP_NUM_THREADS", "1", 1);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
