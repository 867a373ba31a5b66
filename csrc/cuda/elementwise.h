// Element-wise and reduction helpers of the CUDA ops (csrc/cuda/elementwise.cu).
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace fastnn::cuda {

// grad * act'(saved), element-wise over two tensors of the same shape and
// contiguity; `saved` is y for relu/tanh/sigmoid and z for gelu/silu.
at::Tensor activation_grad(const at::Tensor& grad, const at::Tensor& saved, int act);

// out[n] = sum over rows of m[row][n], for a contiguous [rows][N] matrix (a bias gradient).
void column_sums(const at::Tensor& m, at::Tensor& out);

// Multiprocessor count of the current device.
int sm_count();

// Whether the Hopper wgmma GEMM may run on the current device: this binary was
// built for sm_90a and FASTNN_CUDA_WGMMA=1 asks for it (csrc/cuda/gemm_wgmma.cu).
bool wgmma_enabled();

// The kernel the last CUDA GEMM on this thread ran: "wgmma", "mma.sync" or
// "simt", with "+split-k" when K was split (for tests and the benchmark).
void note_gemm_path(const char* kernel, bool split_k);
std::string last_gemm_path();

}  // namespace fastnn::cuda
