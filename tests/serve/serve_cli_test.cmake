# The bigmodel-serve binary: help, command-line mistakes (one line on stderr, exit 2 or 1), and a clean
# stop on SIGINT and SIGTERM (exit 0 after "stopping"). The HTTP side is tested by serve_tests.
set(model mlp=${FIXTURES}/digits_mlp/digits_mlp.opset13.onnx)

include(${CMAKE_CURRENT_LIST_DIR}/../cli/expect.cmake)

expect_run(0 "usage: bigmodel-serve --model" ${SERVE} --help)
expect_run(2 "no model given" ${SERVE})
expect_run(2 "write NAME=PATH.onnx" ${SERVE} --model nothing)
expect_run(2 "--port must be in" ${SERVE} --model ${model} --port 70000)
expect_run(2 "--sessions must be >= 1" ${SERVE} --model ${model} --sessions 0)
expect_run(2 "unknown option '--prot'" ${SERVE} --model ${model} --prot 1)
expect_run(1 "error: .*no_such.onnx" ${SERVE} --model m=${FIXTURES}/no_such.onnx --port 0)
expect_run(1 "given twice" ${SERVE} --model ${model} --model ${model} --port 0)

# Serve, then a signal after 2 s: exit status 0 (timeout --preserve-status passes the server's own).
foreach(sig INT TERM)
  expect_run(0 "on http://127.0.0.1:[0-9]+.*SIG${sig}, stopping" timeout --preserve-status -s ${sig} 2 ${SERVE} --model ${model} --port 0)
endforeach()
