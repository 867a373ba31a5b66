// The column loop the broadcast kernels share (gemm_bcast_avx512.cpp, gemm_bcast_quad_avx512.cpp):
// whole NB-column tiles of C over [n0, n1), each followed by the epilogue's activation on its rows
// while they are in L1. The caller's dot-product tiles finish the columns left over.
#pragma once

#include <cstdint>

#include "activation.h"
#include "gemm.h"

namespace fastnn::cpu {

// tile(n) computes columns [n, n + NB) of C (M rows, row stride ldc); returns the columns done.
template <int NB, typename Tile>
int64_t for_column_tiles(int64_t M, int64_t n0, int64_t n1, float* c, int64_t ldc, const Epilogue<float>& ep,
                         const Tile& tile) {
  const int64_t n_end = n0 + (n1 - n0) / NB * NB;
  for (int64_t n = n0; n < n_end; n += NB) {
    tile(n);
    if (ep.act != Act::None)
      for (int64_t m = 0; m < M; ++m) apply_act(ep.act, c + m * ldc + n, NB);
  }
  return n_end - n0;
}

}  // namespace fastnn::cpu
