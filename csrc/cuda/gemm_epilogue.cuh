// The GEMM's output stage: C = act(sum + bias), optionally also the
// pre-activation, and the kernels that finish split-K products and row sums.
#pragma once

#include "cuda_math.cuh"

namespace fastnn::cuda {

template <typename T>
struct Epilogue {
  T* out = nullptr;          // C[M][N], row stride ld_out (column offsets for conv groups)
  int64_t ld_out = 0;
  T* preact = nullptr;       // optional: sum + bias, before the activation
  int64_t ld_preact = 0;
  const T* bias = nullptr;   // optional: one value per column n
  int act = kNone;

  __device__ __forceinline__ void store(int m, int n, acc_t<T> v) const {
    if (bias) v += to_acc(bias[n]);
    if (preact) preact[m * ld_preact + n] = from_acc<T>(v);
    out[m * ld_out + n] = from_acc<T>(act_forward(act, v));
  }
};

// C = epilogue(sum of the split-K partial products ws[s][M][N]).
template <typename T>
__global__ void splitk_finish_kernel(const acc_t<T>* ws, int splits, int M, int N, Epilogue<T> ep) {
  const int64_t total = int64_t(M) * N;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    acc_t<T> v = 0;
    for (int s = 0; s < splits; ++s) v += ws[s * total + i];
    ep.store(int(i / N), int(i % N), v);
  }
}

// out[i] = sum over s of partial[s][i], i < n (row sums of split-K pieces, column sums of chunks).
template <typename T>
__global__ void sum_partials_kernel(const acc_t<T>* partial, int parts, int n, T* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  acc_t<T> v = 0;
  for (int s = 0; s < parts; ++s) v += partial[int64_t(s) * n + i];
  out[i] = from_acc<T>(v);
}

}  // namespace fastnn::cuda
