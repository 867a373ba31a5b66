// CPU kernels for fastnn::linear / linear_with_preact / linear_backward, on the GEMM core.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <tuple>

#include "../linear.h"
#include "gemm/activation.h"
#include "gemm/gemm.h"
#include "output_cache.h"

namespace fastnn {
namespace {

using cpu::Act;

// out = act(x W^T + b); when `preact` is given, z = x W^T + b is written there
// and act(z) into out.
template <typename T>
void linear_forward_impl(const at::Tensor& x2, const at::Tensor& w, const at::Tensor* bias, Act act,
                         at::Tensor& out2, at::Tensor* preact2) {
  const int64_t M = x2.size(0), K = x2.size(1), N = w.size(0);
  cpu::Epilogue<T> ep;
  ep.bias_n = bias ? bias->data_ptr<T>() : nullptr;
  ep.act = preact2 ? Act::None : act;
  at::Tensor& target = preact2 ? *preact2 : out2;
  cpu::gemm<T>(M, N, K, cpu::RowSource<T>::view(x2.data_ptr<T>(), x2.stride(0), x2.stride(1)),
               cpu::RowSource<T>::view(w.data_ptr<T>(), w.stride(0), w.stride(1)),
               {target.data_ptr<T>(), target.stride(0), 1}, ep);
  if (preact2) {
    // out = act(z), row blocks in parallel
    const T* z = preact2->data_ptr<T>();
    T* y = out2.data_ptr<T>();
    at::parallel_for(0, M, std::max<int64_t>(1, 32768 / std::max<int64_t>(N, 1)), [&](int64_t b, int64_t e) {
      std::copy(z + b * N, z + e * N, y + b * N);
      cpu::apply_act(act, y + b * N, (e - b) * N);
    });
  }
}

std::tuple<at::Tensor, at::Tensor> linear_cpu_common(const at::Tensor& input, const at::Tensor& weight,
                                                     const c10::optional<at::Tensor>& bias,
                                                     const std::string& activation, bool keep_preact) {
  const Act act = check_linear_args(input, weight, bias, activation);
  check_cpu_dtype("linear", "input", input);
  const int64_t N = weight.size(0);
  const at::Tensor x2 = linear_rows(input);
  const at::Tensor w = weight.stride(1) == 1 || weight.stride(0) == 1 ? weight : weight.contiguous();
  at::Tensor b;
  if (bias.has_value() && bias->defined()) b = bias->contiguous();
  at::Tensor out2 = cpu::empty_cached({x2.size(0), N}, input.options());
  at::Tensor pre2 = keep_preact ? cpu::empty_cached({x2.size(0), N}, input.options()) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "fastnn_linear", [&] {
    linear_forward_impl<scalar_t>(x2, w, b.defined() ? &b : nullptr, act, out2,
                                  keep_preact ? &pre2 : nullptr);
  });
  const auto shape = linear_output_shape(input, N);
  return {out2.view(shape), keep_preact ? pre2.view(shape) : cpu::empty_cached({0}, input.options())};
}

at::Tensor linear_cpu(const at::Tensor& input, const at::Tensor& weight,
                      const c10::optional<at::Tensor>& bias, c10::string_view activation) {
  return std::get<0>(linear_cpu_common(input, weight, bias, std::string(activation), false));
}

std::tuple<at::Tensor, at::Tensor> linear_with_preact_cpu(const at::Tensor& input, const at::Tensor& weight,
                                                          const c10::optional<at::Tensor>& bias,
                                                          c10::string_view activation) {
  return linear_cpu_common(input, weight, bias, std::string(activation), true);
}

// gz = grad * act'(saved), and grad_bias = column sums of gz, in one pass
// over column blocks (each thread owns its columns of grad_bias).
template <typename T>
void activation_grad_and_bias(Act act, const T* g, const T* saved, T* gz, T* grad_bias, int64_t M,
                              int64_t N) {
  const int64_t block = 256;
  at::parallel_for(0, (N + block - 1) / block, 1, [&](int64_t b, int64_t e) {
    const int64_t j0 = b * block, j1 = std::min(N, e * block), w = j1 - j0;
    if (grad_bias) std::fill(grad_bias + j0, grad_bias + j1, T(0));
    for (int64_t i = 0; i < M; ++i) {
      T* row = gz + i * N + j0;
      if (act != Act::None) cpu::act_grad(act, g + i * N + j0, saved + i * N + j0, row, w);
      if (grad_bias)
        for (int64_t j = 0; j < w; ++j) grad_bias[j0 + j] += row[j];
    }
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> linear_backward_cpu(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& weight,
    const at::Tensor& saved, c10::string_view activation, std::array<bool, 3> mask) {
  const Act act = check_linear_backward_args(grad_output, input, weight, saved, std::string(activation));
  check_cpu_dtype("linear_backward", "input", input);
  const int64_t N = weight.size(0), K = weight.size(1);
  const at::Tensor x2 = linear_rows(input);
  const int64_t M = x2.size(0);
  const at::Tensor g2 = linear_rows(grad_output).contiguous();
  at::Tensor gz = g2;
  at::Tensor grad_input = mask[0] ? cpu::empty_cached(input.sizes(), input.options()) : cpu::empty_cached({0}, input.options());
  at::Tensor grad_weight = mask[1] ? cpu::empty_cached({N, K}, weight.options()) : cpu::empty_cached({0}, weight.options());
  at::Tensor grad_bias = mask[2] ? cpu::empty_cached({N}, weight.options()) : cpu::empty_cached({0}, weight.options());
  const at::Tensor w = weight.stride(1) == 1 || weight.stride(0) == 1 ? weight : weight.contiguous();

  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "fastnn_linear_backward", [&] {
    using T = scalar_t;
    if (act != Act::None || mask[2]) {
      const at::Tensor s2 = act != Act::None ? linear_rows(saved).contiguous() : at::Tensor();
      if (act != Act::None) gz = cpu::empty_cached({M, N}, g2.options());
      activation_grad_and_bias<T>(act, g2.data_ptr<T>(), s2.defined() ? s2.data_ptr<T>() : nullptr,
                                  gz.data_ptr<T>(), mask[2] ? grad_bias.data_ptr<T>() : nullptr, M, N);
    }
    const T* gzp = gz.data_ptr<T>();
    if (mask[0]) {
      // grad_input[M, K] = gz[M, N] @ W[N, K]  (Bt row j = column j of W)
      cpu::gemm<T>(M, K, N, cpu::RowSource<T>::view(gzp, N, 1),
                   cpu::RowSource<T>::view(w.data_ptr<T>(), w.stride(1), w.stride(0)),
                   {grad_input.data_ptr<T>(), K, 1}, {});
    }
    if (mask[1]) {
      // grad_weight[N, K] = gz^T[N, M] @ X[M, K]
      // written once, read next by the optimizer: streamed (see Epilogue::stream; measured +4-8%
      // fwd+bwd where the weight dominates, 16x2048->2048, 128x1024->4096; neutral elsewhere)
      cpu::Epilogue<T> written_once;
      written_once.stream = cpu::worth_streaming(N * K * int64_t(sizeof(T)));
      cpu::gemm<T>(N, K, M, cpu::RowSource<T>::view(gzp, 1, N),
                   cpu::RowSource<T>::view(x2.data_ptr<T>(), x2.stride(1), x2.stride(0)),
                   {grad_weight.data_ptr<T>(), K, 1}, written_once);
    }
  });
  return {grad_input, grad_weight, grad_bias};
}

}  // namespace
}  // namespace fastnn

TORCH_LIBRARY_IMPL(fastnn, CPU, m) {
  m.impl("linear", &fastnn::linear_cpu);
  m.impl("linear_with_preact", &fastnn::linear_with_preact_cpu);
  m.impl("linear_backward", &fastnn::linear_backward_cpu);
}
