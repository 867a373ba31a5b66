// fastnn::conv2d: schema, argument checks and shape rules shared by every backend.
// Conv1d runs through conv2d with a height-1 image (fastnn/functional.py).
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <string>

#include "cpu/gemm/gemm.h"

namespace fastnn {

// stride / padding / dilation as (height, width), and groups.
struct ConvParams {
  std::array<int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
};

ConvParams make_conv_params(at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                            int64_t groups);

// Validates conv2d's arguments (before any work) and returns the parsed activation.
cpu::Act check_conv2d_args(const at::Tensor& input, const at::Tensor& weight,
                           const c10::optional<at::Tensor>& bias, const ConvParams& p,
                           const std::string& activation);

// Validates conv2d_backward's arguments.
cpu::Act check_conv2d_backward_args(const at::Tensor& grad_output, const at::Tensor& input,
                                    const at::Tensor& weight, const at::Tensor& saved,
                                    const ConvParams& p, const std::string& activation);

// [N, C_out, H_out, W_out] for valid arguments.
std::array<int64_t, 4> conv2d_output_shape(const at::Tensor& input, const at::Tensor& weight,
                                           const ConvParams& p);

// The output (and every gradient) is channels_last when the input or the weight
// suggests channels_last, as torch.nn.Conv2d does on CPU.
bool conv2d_channels_last(const at::Tensor& input, const at::Tensor& weight);

}  // namespace fastnn
