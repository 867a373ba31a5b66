// SIMT GEMM: any element type (float64 and strict float32 compute in their own
// precision; float16/bfloat16 accumulate in float32) and any operand layout,
// read element by element through the operand's at(). It serves float32 and
// float64, and the half-precision products whose layout the tensor-core
// kernel cannot stream (odd channel counts, unaligned rows).
//
// CTA tile 64 x 64 x 16, 256 threads, 4 x 4 outputs per thread. Split-K and
// the fused row sums work as in the tensor-core kernel.
#pragma once

#include "gemm_epilogue.cuh"

namespace fastnn::cuda {

namespace simt {
constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4, THREADS = 256;
}

// Loads a ROWS x BK tile into s[BK][ROWS + 4], walking the operand's contiguous
// dimension across neighbouring threads (coalesced reads).
template <class Op, int ROWS, typename A>
__device__ __forceinline__ void simt_load_tile(const Op& op, A (*s)[ROWS + 4], int r0, int k0, int k_end,
                                               int tid) {
  using namespace simt;
#pragma unroll
  for (int i = 0; i < ROWS * BK / THREADS; ++i) {
    const int e = tid + i * THREADS;
    const int k = Op::kKMajor ? e % BK : e / ROWS;
    const int r = Op::kKMajor ? e / BK : e % ROWS;
    s[k][r] = k0 + k < k_end ? op.at(r0 + r, k0 + k) : A(0);
  }
}

template <typename T, class OpA, class OpB>
__global__ void __launch_bounds__(simt::THREADS)
    gemm_simt_kernel(OpA a, OpB b, int M, int N, int K, int k_per_split, Epilogue<T> ep, acc_t<T>* ws,
                     acc_t<T>* rowsum_ws) {
  using namespace simt;
  using A = acc_t<T>;
  __shared__ A As[BK][BM + 4];
  __shared__ A Bs[BK][BN + 4];

  const int tid = threadIdx.x, tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int m0 = blockIdx.x * BM, n0 = blockIdx.y * BN;
  const int k_begin = blockIdx.z * k_per_split;
  const int k_end = min(K, k_begin + k_per_split);
  const bool sum_rows = rowsum_ws != nullptr && blockIdx.y == 0;

  A acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = A(0);
  A row_sum = A(0);

  for (int k0 = k_begin; k0 < k_end; k0 += BK) {
    simt_load_tile<OpA, BM>(a, As, m0, k0, k_end, tid);
    simt_load_tile<OpB, BN>(b, Bs, n0, k0, k_end, tid);
    __syncthreads();
    if (sum_rows && tid < BM)
#pragma unroll
      for (int k = 0; k < BK; ++k) row_sum += As[k][tid];
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      A av[TM], bv[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) av[i] = As[k][ty * TM + i];
#pragma unroll
      for (int j = 0; j < TN; ++j) bv[j] = Bs[k][tx * TN + j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();
  }

  if (sum_rows && tid < BM && m0 + tid < M) rowsum_ws[int64_t(blockIdx.z) * M + m0 + tid] = row_sum;

  A* part = ws ? ws + int64_t(blockIdx.z) * M * N : nullptr;
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int m = m0 + ty * TM + i, n = n0 + tx * TN + j;
      if (m < M && n < N) {
        if (part) part[int64_t(m) * N + n] = acc[i][j];
        else ep.store(m, n, acc[i][j]);
      }
    }
}

}  // namespace fastnn::cuda
