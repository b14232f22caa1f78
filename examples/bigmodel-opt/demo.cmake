# The demo: what a new user sees first. Each step must succeed.
file(MAKE_DIRECTORY ${WORK})
function(step)
  string(REPLACE ";" " " shown "${ARGN}")
  message("\n$ bigmodel-opt ${shown}")
  execute_process(COMMAND ${CLI} ${ARGN} RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "bigmodel-opt ${shown} failed (${rc})")
  endif()
endfunction()
step(inspect ${FIXTURES}/digits_mlp.opset17.onnx)
step(optimize ${FIXTURES}/digits_mlp.opset17.onnx -o ${WORK}/digits_mlp.int8.onnx --optimize extended --quantize int8-dynamic
     --report ${WORK}/report.json)
step(eval ${FIXTURES}/digits_mlp.opset17.onnx --input ${FIXTURES}/x_test.npy --labels ${FIXTURES}/y_test.npy)
step(eval ${WORK}/digits_mlp.int8.onnx --input ${FIXTURES}/x_test.npy --labels ${FIXTURES}/y_test.npy
     --reference ${FIXTURES}/digits_mlp.opset17.onnx)
step(bench ${FIXTURES}/digits_mlp.opset17.onnx --input ${FIXTURES}/x_test.npy --runs 20)
step(bench ${WORK}/digits_mlp.int8.onnx --input ${FIXTURES}/x_test.npy --runs 20)
