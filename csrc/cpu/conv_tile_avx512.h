// The 12 x 32 register tile of the direct convolution kernels
// (conv_nhwc_direct.cpp, conv_nhwc_grad_weight.cpp, conv_nchw_grad_weight.cpp):
// 12 rows of two 16-lane accumulators. Include only inside an
// `#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))` block.
#pragma once

#include <immintrin.h>

#include <cstdint>

#define FASTNN_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))

namespace fastnn::cpu::conv::tile {

constexpr int kRows = 12;  // rows per tile
constexpr int kCols = 32;  // columns per tile (two zmm)

// Lanes of the low and high 16-column halves that hold columns [0, cols), cols in 1..32.
FASTNN_AVX512 inline __mmask16 low_lanes(int cols) {
  return cols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << cols) - 1);
}
FASTNN_AVX512 inline __mmask16 high_lanes(int cols) {
  return cols >= 32 ? __mmask16(0xFFFF) : cols > 16 ? __mmask16((1u << (cols - 16)) - 1) : __mmask16(0);
}

// Writes (with load_c: adds into) rows [0, rows) of C from the accumulators;
// columns from `cols` on are left alone. The loop has a fixed trip count:
// indexing the accumulators by a run-time bound would keep them in memory
// through the caller's whole multiply loop.
FASTNN_AVX512 inline void store(__m512 (&acc0)[kRows], __m512 (&acc1)[kRows], float* c, int64_t ldc, bool load_c,
                                int cols, int rows = kRows) {
  const __mmask16 m0 = low_lanes(cols), m1 = high_lanes(cols);
#pragma GCC unroll 12
  for (int i = 0; i < kRows; ++i) {
    if (i >= rows) break;
    float* ci = c + i * ldc;
    if (load_c) {
      acc0[i] = _mm512_add_ps(acc0[i], _mm512_maskz_loadu_ps(m0, ci));
      acc1[i] = _mm512_add_ps(acc1[i], _mm512_maskz_loadu_ps(m1, ci + 16));
    }
    _mm512_mask_storeu_ps(ci, m0, acc0[i]);
    _mm512_mask_storeu_ps(ci + 16, m1, acc1[i]);
  }
}

}  // namespace fastnn::cpu::conv::tile

// One multiply-add step of all 12 rows: acc0[i], acc1[i] += P<i>[o] * (b0, b1),
// with the rows' pointers in named locals P0..P11 (so that they stay in
// registers) and acc0, acc1, b0, b1 in scope.
#define FASTNN_TILE_ROW(P, i, o)                           \
  {                                                        \
    const __m512 v_ = _mm512_set1_ps(P##i[o]);             \
    acc0[i] = _mm512_fmadd_ps(v_, b0, acc0[i]);            \
    acc1[i] = _mm512_fmadd_ps(v_, b1, acc1[i]);            \
  }
#define FASTNN_TILE_12_ROWS(P, o)                                                                    \
  FASTNN_TILE_ROW(P, 0, o) FASTNN_TILE_ROW(P, 1, o) FASTNN_TILE_ROW(P, 2, o) FASTNN_TILE_ROW(P, 3, o) \
  FASTNN_TILE_ROW(P, 4, o) FASTNN_TILE_ROW(P, 5, o) FASTNN_TILE_ROW(P, 6, o) FASTNN_TILE_ROW(P, 7, o) \
  FASTNN_TILE_ROW(P, 8, o) FASTNN_TILE_ROW(P, 9, o) FASTNN_TILE_ROW(P, 10, o) FASTNN_TILE_ROW(P, 11, o)
