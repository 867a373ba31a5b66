// Device-side math shared by fastnn's CUDA kernels: element types and their
// accumulators, activations and their derivatives (the same math as
// csrc/cpu/gemm/activation.h). No ATen here: the kernel headers include only
// this, so they also build in a standalone harness (benchmarks/gemm_microbench.cu).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace fastnn::cuda {

// Same values as cpu::Act (the op layer parses the name once, for every backend).
enum Act : int { kNone = 0, kReLU = 1, kGELU = 2, kSiLU = 3, kTanh = 4, kSigmoid = 5 };

// float64 accumulates in float64; every other type in float32.
template <typename T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <typename T>
__device__ __forceinline__ acc_t<T> to_acc(T v) {
  return static_cast<acc_t<T>>(v);
}
template <>
__device__ __forceinline__ float to_acc<__half>(__half v) {
  return __half2float(v);
}
template <>
__device__ __forceinline__ float to_acc<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

template <typename T>
__device__ __forceinline__ T from_acc(acc_t<T> v) {
  return static_cast<T>(v);
}
template <>
__device__ __forceinline__ __half from_acc<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_acc<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

template <typename A>
__device__ __forceinline__ A act_forward(int act, A z) {
  switch (act) {
    case kReLU: return z > A(0) ? z : A(0);
    case kGELU: return A(0.5) * z * (A(1) + erf(z * A(0.70710678118654752440)));
    case kSiLU: return z / (A(1) + exp(-z));
    case kTanh: return tanh(z);
    case kSigmoid: return A(1) / (A(1) + exp(-z));
    default: return z;
  }
}

// grad * act'(.): `saved` is the output y for relu/tanh/sigmoid and the
// pre-activation z for gelu/silu, as in the CPU kernels.
template <typename A>
__device__ __forceinline__ A act_backward(int act, A grad, A saved) {
  switch (act) {
    case kReLU: return saved > A(0) ? grad : A(0);
    case kGELU: {
      const A cdf = A(0.5) * (A(1) + erf(saved * A(0.70710678118654752440)));
      const A pdf = exp(A(-0.5) * saved * saved) * A(0.39894228040143267794);
      return grad * (cdf + saved * pdf);
    }
    case kSiLU: {
      const A s = A(1) / (A(1) + exp(-saved));
      return grad * s * (A(1) + saved * (A(1) - s));
    }
    case kTanh: return grad * (A(1) - saved * saved);
    case kSigmoid: return grad * saved * (A(1) - saved);
    default: return grad;
  }
}

}  // namespace fastnn::cuda
