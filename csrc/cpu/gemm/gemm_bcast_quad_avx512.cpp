// AVX-512 broadcast kernel for very small M (see gemm_dot.h): C^T = Bt A^T as in
// gemm_bcast_avx512.cpp, but with 4 consecutive k in every vector. A vector of the A panel holds
// 4 rows x 4 k (lane 4i + kk = A[4v + i][4s + kk]), and 4 consecutive weights of a Bt row are
// broadcast to all four 128-bit lanes with one load (vbroadcastf32x4). So all 16 lanes do useful
// work already at 4 rows of A, where the one-k-per-vector kernel would leave 12 of 16 lanes
// empty, and each broadcast feeds MV vectors. At the end the 4 k-partials of a lane group are
// summed with a short unpack/shuffle tree that lands each row's 4 columns in one 128-bit lane,
// ready to store.
#include <cstdint>

#include "../aligned_buffer.h"
#include "activation.h"
#include "column_tiles.h"
#include "gemm_dot.h"
#include "microkernel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FASTNN_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))

namespace fastnn::cpu {
namespace {

constexpr int kQuad = 4;  // k per lane group

// A (M <= 4 * MV rows, K) into steps of MV vectors: panel[(s * MV + v) * 16 + 4 i + kk] =
// A[4 v + i][4 s + kk], zero past M and K.
template <int MV>
FASTNN_AVX512 void pack_quad_panel(const float* a, int64_t lda, int64_t M, int64_t K, float* panel) {
  const int64_t steps = (K + kQuad - 1) / kQuad, full = K / kQuad;
  for (int v = 0; v < MV; ++v) {
    for (int i = 0; i < kQuad; ++i) {
      const int64_t m = kQuad * v + i;
      float* dst = panel + v * 16 + kQuad * i;
      if (m >= M) {
        for (int64_t s = 0; s < steps; ++s) _mm_store_ps(dst + s * MV * 16, _mm_setzero_ps());
        continue;
      }
      const float* row = a + m * lda;
      for (int64_t s = 0; s < full; ++s) _mm_store_ps(dst + s * MV * 16, _mm_loadu_ps(row + kQuad * s));
      if (full < steps) {
        const __mmask8 tail = static_cast<__mmask8>((1u << (K - kQuad * full)) - 1u);
        _mm_store_ps(dst + full * MV * 16, _mm_maskz_loadu_ps(tail, row + kQuad * full));
      }
    }
  }
}

// Four accumulators (columns j .. j+3 of one panel vector v) reduced over their lane groups:
// 128-bit lane i of the result = C[4 v + i][j .. j + 3].
FASTNN_AVX512 inline __m512 reduce_quads(__m512 a, __m512 b, __m512 c, __m512 d) {
  // per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3] and the same for c, d
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
  // per 128-bit lane: [sum a, sum b, sum c, sum d]
  return _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                       _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
}

// Row 4v + I of a reduced group: bias, accumulate, store 4 columns.
template <int I>
FASTNN_AVX512 inline void store_row(__m512 sums, int64_t m, float* c, int64_t ldc, int64_t col, const __m128 bias_n,
                                    const Epilogue<float>& ep) {
  __m128 out = _mm_add_ps(_mm512_extractf32x4_ps(sums, I), bias_n);
  float* dst = c + m * ldc + col;
  if (ep.bias_m) out = _mm_add_ps(out, _mm_set1_ps(ep.bias_m[m]));
  if (ep.accumulate) out = _mm_add_ps(out, _mm_loadu_ps(dst));
  _mm_storeu_ps(dst, out);
}

// Steps of 4 k a segment takes in the panel (its last step zero-padded past K).
inline int64_t quad_steps(int64_t K) { return (K + kQuad - 1) / kQuad; }

// Columns [n, n + NB) of C for all M rows; the panel holds the segments' steps one after the other.
template <int NB, int MV>
FASTNN_AVX512 void quad_tile(int64_t M, const DotOperands& ops, const float* panel, float* c, int64_t ldc, int64_t n,
                             const Epilogue<float>& ep) {
  static_assert(NB % 4 == 0, "columns are reduced four at a time");
  __m512 acc[NB][MV];
#pragma GCC unroll 16
  for (int j = 0; j < NB; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < MV; ++v) acc[j][v] = _mm512_setzero_ps();
  for (int sg = 0; sg < ops.count; ++sg) {
    const int64_t K = ops.seg[sg].K, ldb = ops.seg[sg].ldb;
    const float* w = ops.seg[sg].bt + n * ldb;
    const int64_t full = K / kQuad;
    for (int64_t s = 0; s < full; ++s) {
      __m512 xv[MV];
#pragma GCC unroll 4
      for (int v = 0; v < MV; ++v) xv[v] = _mm512_load_ps(panel + (s * MV + v) * 16);
#pragma GCC unroll 16
      for (int j = 0; j < NB; ++j) {
        const __m512 b = _mm512_broadcast_f32x4(_mm_loadu_ps(w + j * ldb + kQuad * s));
#pragma GCC unroll 4
        for (int v = 0; v < MV; ++v) acc[j][v] = _mm512_fmadd_ps(b, xv[v], acc[j][v]);
      }
    }
    if (full * kQuad < K) {  // the last 1-3 k: the panel holds zeros past K, the weights are masked
      const __mmask8 tail = static_cast<__mmask8>((1u << (K - kQuad * full)) - 1u);
      __m512 xv[MV];
      for (int v = 0; v < MV; ++v) xv[v] = _mm512_load_ps(panel + (full * MV + v) * 16);
      for (int j = 0; j < NB; ++j) {
        const __m512 b = _mm512_broadcast_f32x4(_mm_maskz_loadu_ps(tail, w + j * ldb + kQuad * full));
        for (int v = 0; v < MV; ++v) acc[j][v] = _mm512_fmadd_ps(b, xv[v], acc[j][v]);
      }
    }
    panel += quad_steps(K) * MV * 16;
  }
#pragma GCC unroll 4
  for (int j = 0; j < NB; j += 4) {
    const __m128 bias_n = ep.bias_n ? _mm_loadu_ps(ep.bias_n + n + j) : _mm_setzero_ps();
#pragma GCC unroll 4
    for (int v = 0; v < MV; ++v) {
      const __m512 sums = reduce_quads(acc[j][v], acc[j + 1][v], acc[j + 2][v], acc[j + 3][v]);
      const int64_t m0 = kQuad * v;
      store_row<0>(sums, m0, c, ldc, n + j, bias_n, ep);
      if (m0 + 1 < M) store_row<1>(sums, m0 + 1, c, ldc, n + j, bias_n, ep);
      if (m0 + 2 < M) store_row<2>(sums, m0 + 2, c, ldc, n + j, bias_n, ep);
      if (m0 + 3 < M) store_row<3>(sums, m0 + 3, c, ldc, n + j, bias_n, ep);
    }
  }
}

template <int NB, int MV>
int64_t quad_columns(int64_t M, int64_t n0, int64_t n1, const DotOperands& ops, float* c, int64_t ldc,
                     const Epilogue<float>& ep) {
  thread_local AlignedBuffer<float> panel_buf;
  int64_t steps = 0;
  for (int s = 0; s < ops.count; ++s) steps += quad_steps(ops.seg[s].K);
  float* panel = panel_buf.get(static_cast<size_t>(steps * MV * 16));
  for (int s = 0, at = 0; s < ops.count; at += quad_steps(ops.seg[s].K) * MV * 16, ++s)
    pack_quad_panel<MV>(ops.seg[s].a, ops.seg[s].lda, M, ops.seg[s].K, panel + at);
  return for_column_tiles<NB>(M, n0, n1, c, ldc, ep, [&](int64_t n) { quad_tile<NB, MV>(M, ops, panel, c, ldc, n, ep); });
}

}  // namespace

int64_t gemm_bcast_quad_f32(int64_t M, int64_t n0, int64_t n1, const DotOperands& ops, float* c, int64_t ldc,
                            const Epilogue<float>& ep) {
  if (!bcast_quad_takes(M) || ops.total_k() <= 0 || !use_avx512()) return 0;
  // registers: NB * MV accumulators + MV panel vectors + one broadcast
  switch (quad_vectors(M)) {
    case 1: return quad_columns<16, 1>(M, n0, n1, ops, c, ldc, ep);
    case 2: return quad_columns<12, 2>(M, n0, n1, ops, c, ldc, ep);
    case 3: return quad_columns<8, 3>(M, n0, n1, ops, c, ldc, ep);
    default: return quad_columns<4, 4>(M, n0, n1, ops, c, ldc, ep);
  }
}

}  // namespace fastnn::cpu

#else

namespace fastnn::cpu {
int64_t gemm_bcast_quad_f32(int64_t, int64_t, int64_t, const DotOperands&, float*, int64_t, const Epilogue<float>&) {
  return 0;
}
}  // namespace fastnn::cpu

#endif
