// fastnn::linear: schema and the argument checks shared by every backend.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "cpu/gemm/gemm.h"

namespace fastnn {

// Validates linear's arguments (before any work) and returns the parsed activation.
cpu::Act check_linear_args(const at::Tensor& input, const at::Tensor& weight,
                           const c10::optional<at::Tensor>& bias, const std::string& activation);

// Validates linear_backward's arguments.
cpu::Act check_linear_backward_args(const at::Tensor& grad_output, const at::Tensor& input,
                                    const at::Tensor& weight, const at::Tensor& saved,
                                    const std::string& activation);

// (..., K) -> [M, K], without copying when the leading dims can be flattened.
at::Tensor linear_rows(const at::Tensor& t);

// The output shape of linear: input's shape with the last dimension set to out_features.
std::vector<int64_t> linear_output_shape(const at::Tensor& input, int64_t out_features);

// Parses an activation name or raises naming the argument and the accepted values.
cpu::Act parse_activation(const char* op, const std::string& activation);

// Checks that `t` is float32 or float64 (the dtypes the CPU kernels compute in).
void check_cpu_dtype(const char* op, const char* arg, const at::Tensor& t);

// Checks that `t` is float16, bfloat16, float32 or float64 (the CUDA kernels' dtypes).
void check_cuda_dtype(const char* op, const char* arg, const at::Tensor& t);

}  // namespace fastnn
