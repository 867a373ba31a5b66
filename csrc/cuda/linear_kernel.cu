// CUDA kernels for fastnn::linear / linear_with_preact / linear_backward.
//
// Forward: one GEMM with bias and activation in its epilogue (and the
// pre-activation written beside the output when gelu/silu backward needs it).
// Backward: the activation gradient in one element-wise pass, then the input
// gradient GEMM and the weight gradient GEMM, whose CTAs of the first column
// of tiles also sum the rows of grad^T: the bias gradient costs no extra pass.
// Transposed operands are read in place (gemm_tc.cuh keeps their layout).
#include <torch/library.h>

#include "../linear.h"
#include "elementwise.h"
#include "gemm_strided.cuh"

namespace fastnn::cuda {
namespace {

// A 2-D tensor [R][D] as GEMM rows (R rows of depth D), or transposed (D rows of depth R).
template <typename T>
MatView<T> rows_of(const at::Tensor& m, bool transposed = false) {
  const T* p = ptr_of<const T>(m);
  if (!transposed) return {p, m.size(0), m.size(1), m.stride(0), m.stride(1)};
  return {p, m.size(1), m.size(0), m.stride(1), m.stride(0)};
}

std::tuple<at::Tensor, at::Tensor> linear_cuda_common(const at::Tensor& input, const at::Tensor& weight,
                                                      const c10::optional<at::Tensor>& bias,
                                                      c10::string_view activation, bool keep_preact) {
  const cpu::Act act = check_linear_args(input, weight, bias, std::string(activation));
  check_cuda_dtype("linear", "input", input);
  const c10::cuda::CUDAGuard guard(input.device());
  const int64_t N = weight.size(0);
  const at::Tensor x2 = linear_rows(input);
  const int64_t M = x2.size(0);
  at::Tensor out2 = at::empty({M, N}, input.options());
  at::Tensor pre2 = keep_preact ? at::empty({M, N}, input.options()) : at::Tensor();
  at::Tensor b;
  if (bias.has_value() && bias->defined()) b = bias->contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "fastnn_linear_cuda", [&] {
    using T = typename CudaType<scalar_t>::type;
    Epilogue<T> ep;
    ep.out = ptr_of<T>(out2);
    ep.ld_out = N;
    ep.preact = keep_preact ? ptr_of<T>(pre2) : nullptr;
    ep.ld_preact = N;
    ep.bias = b.defined() ? ptr_of<const T>(b) : nullptr;
    ep.act = int(act);
    gemm_views<T>(rows_of<T>(x2), rows_of<T>(weight), ep, nullptr, input.options());
  });
  const auto shape = linear_output_shape(input, N);
  return {out2.view(shape), keep_preact ? pre2.view(shape) : at::empty({0}, input.options())};
}

at::Tensor linear_cuda(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                       c10::string_view activation) {
  return std::get<0>(linear_cuda_common(input, weight, bias, activation, false));
}

std::tuple<at::Tensor, at::Tensor> linear_with_preact_cuda(const at::Tensor& input, const at::Tensor& weight,
                                                           const c10::optional<at::Tensor>& bias,
                                                           c10::string_view activation) {
  return linear_cuda_common(input, weight, bias, activation, true);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_backward_cuda(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& weight, const at::Tensor& saved,
    c10::string_view activation, std::array<bool, 3> mask) {
  const cpu::Act act =
      check_linear_backward_args(grad_output, input, weight, saved, std::string(activation));
  check_cuda_dtype("linear_backward", "input", input);
  const c10::cuda::CUDAGuard guard(input.device());
  const int64_t N = weight.size(0), K = weight.size(1);
  const at::Tensor x2 = linear_rows(input);
  const int64_t M = x2.size(0);
  const at::Tensor g2 = linear_rows(grad_output).contiguous();
  const at::Tensor gz =
      act != cpu::Act::None ? activation_grad(g2, linear_rows(saved).contiguous(), int(act)) : g2;
  const auto opts = input.options();
  at::Tensor grad_input = mask[0] ? at::empty(input.sizes(), opts) : at::empty({0}, opts);
  at::Tensor grad_weight = mask[1] ? at::empty({N, K}, weight.options()) : at::empty({0}, weight.options());
  at::Tensor grad_bias = mask[2] ? at::empty({N}, weight.options()) : at::empty({0}, weight.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "fastnn_linear_backward_cuda", [&] {
    using T = typename CudaType<scalar_t>::type;
    if (mask[0]) {
      // grad_input[M][K] = gz[M][N] W[N][K]: B rows are W's columns.
      Epilogue<T> ep;
      ep.out = ptr_of<T>(grad_input);
      ep.ld_out = K;
      gemm_views<T>(rows_of<T>(gz), rows_of<T>(weight, true), ep, nullptr, opts);
    }
    if (mask[1]) {
      // grad_weight[N][K] = gz^T[N][M] X[M][K]; the rows of gz^T sum to grad_bias.
      Epilogue<T> ep;
      ep.out = ptr_of<T>(grad_weight);
      ep.ld_out = K;
      gemm_views<T>(rows_of<T>(gz, true), rows_of<T>(x2, true), ep, mask[2] ? ptr_of<T>(grad_bias) : nullptr, opts);
    }
  });
  if (mask[2] && !mask[1]) column_sums(gz, grad_bias);
  return {grad_input, grad_weight, grad_bias};
}

}  // namespace
}  // namespace fastnn::cuda

TORCH_LIBRARY_IMPL(fastnn, CUDA, m) {
  m.impl("linear", &fastnn::cuda::linear_cuda);
  m.impl("linear_with_preact", &fastnn::cuda::linear_with_preact_cuda);
  m.impl("linear_backward", &fastnn::cuda::linear_backward_cuda);
}
