// Depthwise convolution (groups == in_channels, one input channel per group)
// on NHWC tensors: direct kernels, since a per-group GEMM would be 1 column wide.
// Each output channel oc reads input channel oc / (OC / C).
#pragma once

#include "cuda_common.cuh"
#include "gemm_operands.cuh"

namespace fastnn::cuda {

// out (and pre, when given) [N][OH][OW][OC] = act(conv(x) + bias); weight [OC][1][KH][KW] contiguous.
void depthwise_forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, const ConvGeom& g,
                       int act, at::Tensor& out, at::Tensor* pre);

// dx [N][H][W][C] from gz [N][OH][OW][OC].
void depthwise_backward_input(const at::Tensor& gz, const at::Tensor& weight, const ConvGeom& g, at::Tensor& dx);

// dw [OC][1][KH][KW] (contiguous) from gz and x.
void depthwise_backward_weight(const at::Tensor& gz, const at::Tensor& x, const ConvGeom& g, at::Tensor& dw);

}  // namespace fastnn::cuda
