// Host-side pieces of fastnn's CUDA ops: ATen types, the current stream, launch
// checks (device math: cuda_math.cuh).
//
// Include c10/cuda headers only (not ATen/cuda/CUDAContext.h): CI compile-checks
// these files against the CPU wheel's headers, which lack cuBLAS/cuSPARSE.
#pragma once

#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "cuda_math.cuh"

namespace fastnn::cuda {

// The CUDA type of an ATen scalar type (AT_DISPATCH's scalar_t).
template <typename T>
struct CudaType {
  using type = T;
};
template <>
struct CudaType<at::Half> {
  using type = __half;
};
template <>
struct CudaType<at::BFloat16> {
  using type = __nv_bfloat16;
};

template <typename T>
T* ptr_of(const at::Tensor& t) {
  return reinterpret_cast<T*>(t.data_ptr());
}

inline cudaStream_t current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace fastnn::cuda
