// AVX-512 broadcast kernel for small-M GEMM (see gemm_dot.h): for the rows
// bcast_takes (17-48, 57-64) the product is computed as C^T = Bt A^T. A (M rows) is
// transposed once into a [K][16 * MV] panel; the weight rows Bt are read in
// place, one scalar of NB rows per k broadcast against the MV panel vectors. The NB x 16*MV tile of
// C^T is transposed back in registers (16x16 transposes) for the store.
// Unlike the dot-product tiles this needs no horizontal reductions, which cost
// as much as the products at K of a few hundred. Measured (one thread,
// M = 32, N = 1024, K = 256 and 512): 190-210 GFLOP/s against 107-110 for the
// dot-product tiles. Up to 16 rows the quad kernel (4 k per vector) does better.
#include "../aligned_buffer.h"
#include "activation.h"
#include "column_tiles.h"
#include "gemm_dot.h"
#include "microkernel.h"
#include "pack_x86.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "../transpose16_avx512.h"
#define FASTNN_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))

namespace fastnn::cpu {
namespace {

// One tile: columns [n, n + NB) of C for all M rows. xt: the [K][16 * MV]
// panel of A^T (rows past M zero), the segments' K ranges one after the other.
template <int NB, int MV>
FASTNN_AVX512 void bcast_tile(int64_t M, const DotOperands& ops, const float* xt, float* c, int64_t ldc, int64_t n,
                              const Epilogue<float>& ep) {
  static_assert(NB <= 16, "a tile's columns go through one 16x16 transpose");
  __m512 acc[NB][MV];
#pragma GCC unroll 16
  for (int j = 0; j < NB; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < MV; ++v) acc[j][v] = _mm512_setzero_ps();
  for (int s = 0; s < ops.count; ++s) {
    const DotOperands::Segment& sg = ops.seg[s];
    const float* w = sg.bt + n * sg.ldb;
    const int64_t ldb = sg.ldb, K = sg.K;
#pragma GCC unroll 2
    for (int64_t k = 0; k < K; ++k) {
      __m512 xv[MV];
#pragma GCC unroll 4
      for (int v = 0; v < MV; ++v) xv[v] = _mm512_loadu_ps(xt + k * 16 * MV + 16 * v);
#pragma GCC unroll 16
      for (int j = 0; j < NB; ++j) {
        const __m512 b = _mm512_set1_ps(w[j * ldb + k]);
#pragma GCC unroll 4
        for (int v = 0; v < MV; ++v) acc[j][v] = _mm512_fmadd_ps(b, xv[v], acc[j][v]);
      }
    }
    xt += K * 16 * MV;
  }
  const __mmask16 cols = static_cast<__mmask16>((1u << NB) - 1u);
  const __m512 bias = ep.bias_n ? _mm512_maskz_loadu_ps(cols, ep.bias_n + n) : _mm512_setzero_ps();
  for (int v = 0; v < MV; ++v) {
    __m512 r[16];
    for (int j = 0; j < 16; ++j) r[j] = j < NB ? acc[j][v] : _mm512_setzero_ps();
    conv::transpose16(r);  // r[i]: row m = 16 v + i of C, columns n .. n + NB
    for (int i = 0; i < 16 && 16 * v + i < M; ++i) {
      const int64_t m = 16 * v + i;
      float* cm = c + m * ldc + n;
      __m512 out = _mm512_add_ps(r[i], bias);
      if (ep.bias_m) out = _mm512_add_ps(out, _mm512_set1_ps(ep.bias_m[m]));
      if (ep.accumulate) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(cols, cm));
      _mm512_mask_storeu_ps(cm, cols, out);
    }
  }
}

template <int NB, int MV>
int64_t bcast_columns(int64_t M, int64_t n0, int64_t n1, const DotOperands& ops, float* c, int64_t ldc,
                      const Epilogue<float>& ep) {
  thread_local AlignedBuffer<float> panel_buf;  // aligned: the tile loop reads it by whole vectors
  float* panel = panel_buf.get(static_cast<size_t>(ops.total_k() * 16 * MV));
  for (int s = 0, k0 = 0; s < ops.count; k0 += ops.seg[s].K, ++s)
    if (!pack_rowmajor_f32_x86(ops.seg[s].a, ops.seg[s].lda, M, ops.seg[s].K, 16 * MV, panel + k0 * 16 * MV))
      return 0;
  return for_column_tiles<NB>(M, n0, n1, c, ldc, ep, [&](int64_t n) { bcast_tile<NB, MV>(M, ops, panel, c, ldc, n, ep); });
}

}  // namespace

int64_t gemm_bcast_f32(int64_t M, int64_t n0, int64_t n1, const DotOperands& ops, float* c, int64_t ldc,
                       const Epilogue<float>& ep) {
  if (!bcast_takes(M) || ops.total_k() <= 0 || !use_avx512()) return 0;
  // 6 x 64 tiles (4 panel loads + 6 broadcasts per 24 FMAs), 8 x 48 (3 + 8),
  // 12 x 32 (2 + 12); up to 16 rows the quad kernel (gemm_bcast_quad_avx512.cpp)
  switch (bcast_vectors(M)) {
    case 4: return bcast_columns<6, 4>(M, n0, n1, ops, c, ldc, ep);
    case 3: return bcast_columns<8, 3>(M, n0, n1, ops, c, ldc, ep);
    default: return bcast_columns<12, 2>(M, n0, n1, ops, c, ldc, ep);
  }
}

}  // namespace fastnn::cpu

#else

namespace fastnn::cpu {
int64_t gemm_bcast_f32(int64_t, int64_t, int64_t, const DotOperands&, float*, int64_t, const Epilogue<float>&) {
  return 0;
}
}  // namespace fastnn::cpu

#endif
