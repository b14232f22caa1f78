# Runs bigmodel-opt like a user would and checks exit codes, messages and files.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(mlp ${FIXTURES}/digits_mlp)

# expect(CODE REGEX args...): bigmodel-opt ARGS must exit with CODE and print something matching REGEX.
include(${CMAKE_CURRENT_LIST_DIR}/expect.cmake)
function(expect code regex)
  expect_run(${code} "${regex}" ${CLI} ${ARGN})
  set(last_out "${last_out}" PARENT_SCOPE)
endfunction()

# Help on every subcommand.
expect(0 "usage: bigmodel-opt COMMAND" --help)
foreach(cmd inspect optimize run eval bench)
  expect(0 "usage: bigmodel-opt ${cmd}" ${cmd} --help)
endforeach()

# inspect
expect(0 "Gemm +3.*Relu +2.*parameters: 50826" inspect ${mlp}/digits_mlp.opset13.onnx)
expect(0 "\"parameters\":50826" inspect ${mlp}/digits_mlp.opset13.onnx --json)

# run: outputs as .npy, identical in a second run
expect(0 "logits" run ${mlp}/digits_mlp.opset13.onnx --input input=${mlp}/x_test.npy --output-dir ${WORK}/run)
if(NOT EXISTS ${WORK}/run/logits.npy)
  message(FATAL_ERROR "run did not write logits.npy")
endif()

# eval: PyTorch's accuracy on the same data is 97.22 %
expect(0 "top-1 accuracy: 97.22%" eval ${mlp}/digits_mlp.opset13.onnx --input ${mlp}/x_test.npy --labels ${mlp}/y_test.npy)
expect(0 "argmax agreement 100.00%" eval ${mlp}/digits_mlp.opset17.onnx --input ${mlp}/x_test.npy --reference ${mlp}/digits_mlp.opset13.onnx)

# bench
expect(0 "latency: median [0-9.]+ ms" bench ${mlp}/digits_mlp.opset13.onnx --input ${mlp}/x_test.npy --runs 3 --warmup 1)
expect(0 "\"median_ms\":" bench ${mlp}/digits_mlp.opset13.onnx --input ${mlp}/x_test.npy --runs 3 --json)
# Buffers are sized before the first run (session::prepare): even without warm-up no run allocates.
expect(0 "memory: [0-9.e+-]+ MB of buffers sized before the first run \\([0-9.e+-]+ ms\\); allocations per run: 0\n"
       bench ${mlp}/digits_mlp.opset13.onnx --input ${mlp}/x_test.npy --runs 3 --warmup 0)
expect(0 "\"run_allocations\":0[,}]" bench ${mlp}/digits_mlp.opset13.onnx --input ${mlp}/x_test.npy --runs 2 --warmup 0 --json)

# optimize: prune, writes a model that loads, runs and is sparser; the report file is JSON
expect(0 "sparsity \\(zero parameters\\) +0.0% +4[0-9].[0-9]%" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/pruned.onnx --prune l1:0.5 --report ${WORK}/report.json)
expect(0 "sparsity: 4[0-9].[0-9]% of parameters are zero" inspect ${WORK}/pruned.onnx)
file(READ ${WORK}/report.json report)
if(NOT report MATCHES "\"passes\":\\[.*prune l1:0.5")
  message(FATAL_ERROR "report.json lacks the prune pass: ${report}")
endif()
expect(0 "prune wanda:0.5: 3 layers, 50.0%" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/wanda.onnx --prune wanda:0.5 --calibration ${mlp}/x_calib.npy)
expect(0 "prune 2:4: 2 layers" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/24.onnx --prune 2:4 --exclude "fc3*")
expect(0 "top-1 accuracy: 9[0-9].[0-9]+%" eval ${WORK}/24.onnx --input ${mlp}/x_test.npy --labels ${mlp}/y_test.npy)

expect(0 "prune wanda-2:4: 2 layers" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/w24.onnx --prune wanda-2:4 --exclude fc3.weight --calibration input=${mlp}/x_calib.npy)
# Structured removal: the file really shrinks and the model still runs.
expect(0 "parameters 50826 -> 31978.*kept fc3.weight: its channels reach the graph output" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/channels.onnx --prune channels:0.25)
file(SIZE ${WORK}/channels.onnx channels_size)
file(SIZE ${mlp}/digits_mlp.opset13.onnx dense_size)
math(EXPR limit "${dense_size} * 2 / 3")
if(channels_size GREATER limit)
  message(FATAL_ERROR "channel removal did not shrink the file: ${channels_size} vs ${dense_size}")
endif()
expect(0 "top-1 accuracy: 96.94%" eval ${WORK}/channels.onnx --input ${mlp}/x_test.npy --labels ${mlp}/y_test.npy)
# Criteria and global selection (one threshold across layers); activation-aware needs calibration data.
expect(0 "prune channels-l1-global:0.3: [0-9]+ layers lost channels, parameters 50826 -> [0-9]+" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/channels_g.onnx --prune channels-l1-global:0.3)
expect(0 "prune channels-activation:0.25: [0-9]+ layers lost channels" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/channels_a.onnx --prune channels-activation:0.25 --calibration input=${mlp}/x_calib.npy)
expect(2 "activation-aware channels need --calibration" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/x.onnx --prune channels-activation:0.25)
expect(2 "write channels\\[-l1" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/x.onnx --prune channels-l3:0.25)

# Graph optimization: the encoder's decomposed LayerNorm/GELU/attention are fused, then written back as
# standard ONNX by default (loads anywhere), or kept fused with --keep-fused; outputs unchanged.
set(enc ${FIXTURES}/tiny_encoder)
expect(0 "fuse_layer_norm +2 changes.*fuse_add_layer_norm +2 changes.*AddLayerNormalization +0 +2.*Attention +0 +1.*Erf +1 +0.*ReduceMean +5 +1.*Softmax +1 +0" optimize ${enc}/tiny_encoder.opset13.onnx -o ${WORK}/enc_fused.onnx --optimize extended --keep-fused)
expect(0 "AddLayerNormalization +2.*Attention +1.*Gelu +1" inspect ${WORK}/enc_fused.onnx)
expect(0 "argmax agreement 100.00%" eval ${WORK}/enc_fused.onnx --input ${enc}/x_test.npy --reference ${enc}/tiny_encoder.opset13.onnx)
expect(0 "fuse_attention +2 changes" optimize ${enc}/tiny_encoder.opset13.onnx -o ${WORK}/enc_std.onnx --optimize extended)
expect(0 "Erf +1.*Softmax +1" inspect ${WORK}/enc_std.onnx)  # written back as standard ONNX
expect(0 "argmax agreement 100.00%" eval ${WORK}/enc_std.onnx --input ${enc}/x_test.npy --reference ${enc}/tiny_encoder.opset13.onnx)
expect(2 "unknown level" optimize ${enc}/tiny_encoder.opset13.onnx -o ${WORK}/x.onnx --optimize ludicrous)
# int8 attention: the fused Attention's products in int8 on an int8-dynamic encoder (kept fused: the attribute
# travels in the com.bigmodel op); accuracy holds (PyTorch fp32: 97.22 %).
expect(0 "Attention [^\n]*: int8 q.kT and p.v" optimize ${enc}/tiny_encoder.opset13.onnx -o ${WORK}/enc_att8.onnx --optimize extended --keep-fused --quantize int8-dynamic --attention int8)
expect(0 "top-1 accuracy: 9[6-9].[0-9]+%" eval ${WORK}/enc_att8.onnx --input ${enc}/x_test.npy --labels ${enc}/y_test.npy)
expect(2 "--attention applies to --quantize int8-dynamic and int8-static" optimize ${enc}/tiny_encoder.opset13.onnx -o ${WORK}/x.onnx --quantize int4-weight-only --attention int8)
expect(2 "--attention int4: write int8 or fp32" optimize ${enc}/tiny_encoder.opset13.onnx -o ${WORK}/x.onnx --quantize int8-dynamic --attention int4)

# Quantization: the file shrinks and accuracy holds (PyTorch fp32: 97.22 %).
expect(0 "quantize int8-dynamic: 3 layers" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/int8.onnx --quantize int8-dynamic)
expect(0 "top-1 accuracy: 9(7.[0-9]+|6.9[0-9])%" eval ${WORK}/int8.onnx --input ${mlp}/x_test.npy --labels ${mlp}/y_test.npy)
expect(0 "op MatMulInteger +3" inspect ${WORK}/int8.onnx)
file(SIZE ${WORK}/int8.onnx int8_size)
math(EXPR limit "${dense_size} / 3")
if(int8_size GREATER limit)
  message(FATAL_ERROR "int8 weights did not shrink the file: ${int8_size} vs ${dense_size}")
endif()
expect(0 "quantize int4-weight-only:32: 3 layers" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/int4.onnx --quantize int4-weight-only:32)
expect(0 "top-1 accuracy: 9[6-9].[0-9]+%" eval ${WORK}/int4.onnx --input ${mlp}/x_test.npy --labels ${mlp}/y_test.npy)
# --scales f16: scales rounded up to f16 values (the weight-only kernel streams half the scale bytes)
expect(0 "quantize int4-weight-only:32: 3 layers" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/int4h.onnx --quantize int4-weight-only:32 --scales f16)
expect(0 "top-1 accuracy: 9[6-9].[0-9]+%" eval ${WORK}/int4h.onnx --input ${mlp}/x_test.npy --labels ${mlp}/y_test.npy)
expect(2 "--scales f64: write f32 or f16" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/x.onnx --quantize int4-weight-only --scales f64)
expect(2 "--scales f16 applies to int8-weight-only and int4-weight-only" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/x.onnx --quantize int8-dynamic --scales f16)
expect(2 "--scales needs --quantize" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/x.onnx --scales f16)
expect(0 "quantize fp16: 3 layers" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/fp16.onnx --quantize fp16)
expect(0 "top-1 accuracy: 97.22%" eval ${WORK}/fp16.onnx --input ${mlp}/x_test.npy --labels ${mlp}/y_test.npy)
expect(0 "quantize int8-static: 3 layers" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/static.onnx --quantize int8-static --calibration ${mlp}/x_calib.npy)
expect(0 "top-1 accuracy: 9[6-9].[0-9]+%" eval ${WORK}/static.onnx --input ${mlp}/x_test.npy --labels ${mlp}/y_test.npy)
expect(2 "unknown scheme" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/x.onnx --quantize int3)
expect(2 "int8-static needs --calibration" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/x.onnx --quantize int8-static)
expect(2 "group size must be positive" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/x.onnx --quantize int4-weight-only:0)

# Errors a user can make: one clear line, non-zero exit.
expect(2 "unknown command 'frobnicate'" frobnicate)
expect(1 "error: .*nope.onnx" inspect ${WORK}/nope.onnx)
file(WRITE ${WORK}/not_onnx.onnx "this is not a protobuf file at all")
expect(1 "error: " inspect ${WORK}/not_onnx.onnx)
expect(2 "unknown option '--frob'" inspect ${mlp}/digits_mlp.opset13.onnx --frob)
expect(2 "has no input 'pixels'" run ${mlp}/digits_mlp.opset13.onnx --input pixels=${mlp}/x_test.npy)
expect(1 "error: input has the wrong shape.*input 'input'" run ${mlp}/digits_mlp.opset13.onnx --input ${FIXTURES}/digits_cnn/x_test.npy)
expect(1 "error: .*npy" run ${mlp}/digits_mlp.opset13.onnx --input ${WORK}/not_onnx.onnx)
expect(2 "unknown method 'magic'" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/x.onnx --prune magic:0.5)
expect(2 "amount must be a fraction" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/x.onnx --prune l1:1.5)
expect(2 "wanda needs --calibration" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/x.onnx --prune wanda:0.5)
expect(1 "calibration batch 0 does not fit the model" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/x.onnx --prune wanda:0.5 --calibration ${FIXTURES}/digits_cnn/x_calib.npy)
expect(1 "does not divide the input dimension" optimize ${mlp}/digits_mlp.opset13.onnx -o ${WORK}/x.onnx --prune 3:7)
expect(2 "labels must be a vector of 360" eval ${mlp}/digits_mlp.opset13.onnx --input ${mlp}/x_test.npy --labels ${mlp}/y_calib.npy)
expect(2 "--runs must be" bench ${mlp}/digits_mlp.opset13.onnx --input ${mlp}/x_test.npy --runs 0)
# A failed optimize leaves no output behind.
if(EXISTS ${WORK}/x.onnx)
  message(FATAL_ERROR "a failed optimize left ${WORK}/x.onnx behind")
endif()
message("cli: all checks passed")

# --threads: the GEMMs and attention heads on 2 threads give the very same outputs as on 1 (f32, dynamic and
# static int8), and bench reports the count.
foreach(model ${mlp}/digits_mlp.opset13.onnx ${enc}/tiny_encoder.opset13.onnx ${WORK}/int8.onnx ${WORK}/static.onnx)
  get_filename_component(stem ${model} NAME_WE)
  get_filename_component(dir ${model} DIRECTORY)
  if(dir STREQUAL "${WORK}")
    set(dir ${mlp})
  endif()
  foreach(n 1 2)
    expect(0 "" run ${model} --input ${dir}/x_test.npy --output-dir ${WORK}/threads${n}_${stem} --threads ${n})
  endforeach()
  file(GLOB outs RELATIVE ${WORK}/threads1_${stem} ${WORK}/threads1_${stem}/*.npy)
  if(NOT outs)
    message(FATAL_ERROR "run --threads 1 wrote no output for ${stem}")
  endif()
  foreach(o ${outs})
    file(SHA256 ${WORK}/threads1_${stem}/${o} h1)
    file(SHA256 ${WORK}/threads2_${stem}/${o} h2)
    if(NOT h1 STREQUAL h2)
      message(FATAL_ERROR "${stem}: ${o} differs between --threads 1 and --threads 2")
    endif()
  endforeach()
endforeach()
expect(0 "threads: 2 \\(CPU/wall" bench ${mlp}/digits_mlp.opset13.onnx --input ${mlp}/x_test.npy --runs 3 --threads 2)
expect(0 "\"threads\":2," bench ${mlp}/digits_mlp.opset13.onnx --input ${mlp}/x_test.npy --runs 3 --threads 2 --json)
# --profile: where the time goes, per op type and per node.
expect(0 "profile over 3 runs.*Gemm.*slowest nodes:.*node '" bench ${mlp}/digits_mlp.opset13.onnx --input ${mlp}/x_test.npy --runs 3 --profile)
expect(0 "DynamicLinear" bench ${WORK}/int8.onnx --input ${mlp}/x_test.npy --runs 2 --profile)
expect(0 "\"profile\":\\[\\{\"op\":\"" bench ${mlp}/digits_mlp.opset13.onnx --input ${mlp}/x_test.npy --runs 2 --profile --json)
expect(0 "threads: 1 \\(CPU/wall" bench ${mlp}/digits_mlp.opset13.onnx --input ${mlp}/x_test.npy --runs 2)
expect(2 "--threads must be in \\[1, 256\\]" run ${mlp}/digits_mlp.opset13.onnx --input ${mlp}/x_test.npy --threads 0)
expect(2 "--threads needs an integer" bench ${mlp}/digits_mlp.opset13.onnx --input ${mlp}/x_test.npy --threads two)
