// AVX-512 dot-product kernel for small-M GEMM (see gemm_dot.h): 4 rows of A
// against 4 rows of Bt, 16 vector accumulators along k, reduced at the end.
#include "activation.h"
#include "gemm_dot.h"
#include "microkernel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FASTNN_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))

namespace fastnn::cpu {
namespace {

// The 16 horizontal sums of a 4x4 tile of accumulators, as one vector in
// row-major order (lane 4i+j = sum of acc[i][j]): a transpose-and-add tree of
// 15 adds instead of 16 separate reductions.
FASTNN_AVX512 inline __m512 reduce16(const __m512 (&acc)[4][4]) {
  const __m512* a = &acc[0][0];
  __m512 v[8], w[4], u[2];
  // pairs: per 128-bit lane [a0+a2, b0+b2, a1+a3, b1+b3]
  for (int k = 0; k < 8; ++k)
    v[k] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * k], a[2 * k + 1]), _mm512_unpackhi_ps(a[2 * k], a[2 * k + 1]));
  // quads: per 128-bit lane the partial sums of 4 consecutive accumulators
  for (int k = 0; k < 4; ++k)
    w[k] = _mm512_add_ps(_mm512_shuffle_ps(v[2 * k], v[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(v[2 * k], v[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  // across 128-bit lanes
  for (int k = 0; k < 2; ++k)
    u[k] = _mm512_add_ps(_mm512_shuffle_f32x4(w[2 * k], w[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(w[2 * k], w[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

// acc[i][j] += a_i . b_j (16-lane partial sums) over every segment's K, for rows i0.. of A and rows
// n0.. of Bt.
template <int MI, int NJ>
FASTNN_AVX512 inline void dot_accumulate(const DotOperands& ops, int64_t i0, int64_t n0, __m512 (&acc)[MI][NJ]) {
  for (int s = 0; s < ops.count; ++s) {
    const DotOperands::Segment& sg = ops.seg[s];
    const float* a = sg.a + i0 * sg.lda;
    const float* b = sg.bt + n0 * sg.ldb;
    const int64_t K = sg.K, lda = sg.lda, ldb = sg.ldb;
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
      __m512 bv[NJ];
#pragma GCC unroll 4
      for (int j = 0; j < NJ; ++j) bv[j] = _mm512_loadu_ps(b + j * ldb + k);
#pragma GCC unroll 4
      for (int i = 0; i < MI; ++i) {
        const __m512 av = _mm512_loadu_ps(a + i * lda + k);
#pragma GCC unroll 4
        for (int j = 0; j < NJ; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
      }
    }
    if (k < K) {
      const __mmask16 m = static_cast<__mmask16>((1u << (K - k)) - 1u);
      __m512 bv[NJ];
#pragma GCC unroll 4
      for (int j = 0; j < NJ; ++j) bv[j] = _mm512_maskz_loadu_ps(m, b + j * ldb + k);
#pragma GCC unroll 4
      for (int i = 0; i < MI; ++i) {
        const __m512 av = _mm512_maskz_loadu_ps(m, a + i * lda + k);
#pragma GCC unroll 4
        for (int j = 0; j < NJ; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
      }
    }
  }
}

// A full 4x4 tile, written to C with the epilogue's bias / accumulate in
// vector form (the scalar epilogue cost as much as the dot products for K of
// a few hundred).
FASTNN_AVX512 void dot_tile_4x4_store(const DotOperands& ops, int64_t i0, int64_t n0, float* c, int64_t ldc,
                                      const float* bias_n, const float* bias_m, bool accumulate) {
  __m512 acc[4][4];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) acc[i][j] = _mm512_setzero_ps();
  dot_accumulate<4, 4>(ops, i0, n0, acc);
  alignas(64) float sums[16];
  _mm512_store_ps(sums, reduce16(acc));
  const __m128 bn = bias_n ? _mm_loadu_ps(bias_n) : _mm_setzero_ps();
  for (int i = 0; i < 4; ++i) {
    __m128 v = _mm_add_ps(_mm_load_ps(sums + 4 * i), bn);
    if (bias_m) v = _mm_add_ps(v, _mm_set1_ps(bias_m[i]));
    if (accumulate) v = _mm_add_ps(v, _mm_loadu_ps(c + i * ldc));
    _mm_storeu_ps(c + i * ldc, v);
  }
}

// out[i][j] = dot(a_i, b_j) for i < MI, j < NJ over every segment's K (rows i0.., columns n0..).
template <int MI, int NJ>
FASTNN_AVX512 void dot_tile(const DotOperands& ops, int64_t i0, int64_t n0, float out[4][4]) {
  __m512 acc[MI][NJ];
#pragma GCC unroll 4
  for (int i = 0; i < MI; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NJ; ++j) acc[i][j] = _mm512_setzero_ps();
  dot_accumulate<MI, NJ>(ops, i0, n0, acc);
#pragma GCC unroll 4
  for (int i = 0; i < MI; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NJ; ++j) out[i][j] = _mm512_reduce_add_ps(acc[i][j]);
}

using DotTileFn = void (*)(const DotOperands&, int64_t, int64_t, float[4][4]);

template <int MI>
DotTileFn tile_for_nj(int nj) {
  switch (nj) {
    case 1: return &dot_tile<MI, 1>;
    case 2: return &dot_tile<MI, 2>;
    case 3: return &dot_tile<MI, 3>;
    default: return &dot_tile<MI, 4>;
  }
}

DotTileFn tile_for(int mi, int nj) {
  switch (mi) {
    case 1: return tile_for_nj<1>(nj);
    case 2: return tile_for_nj<2>(nj);
    case 3: return tile_for_nj<3>(nj);
    default: return tile_for_nj<4>(nj);
  }
}

}  // namespace

bool gemm_dot_f32(int64_t M, int64_t n0, int64_t n1, const DotOperands& ops, float* c, int64_t ldc,
                  const Epilogue<float>& ep) {
  if (!use_avx512()) return false;
  n0 += gemm_bcast_quad_f32(M, n0, n1, ops, c, ldc, ep);
  n0 += gemm_bcast_f32(M, n0, n1, ops, c, ldc, ep);
  // Blocks of 16 Bt rows stay in L1 while all of A streams past them (measured: 16 beats 8 and 32).
  constexpr int64_t kNB = 16;
  float out[4][4];
  for (int64_t nb = n0; nb < n1; nb += kNB) {
    const int64_t ne = nb + kNB < n1 ? nb + kNB : n1;
    for (int64_t i = 0; i < M; i += 4) {
      const int mi = static_cast<int>(M - i < 4 ? M - i : 4);
      for (int64_t n = nb; n < ne; n += 4) {
        const int nj = static_cast<int>(ne - n < 4 ? ne - n : 4);
        if (mi == 4 && nj == 4) {
          dot_tile_4x4_store(ops, i, n, c + i * ldc + n, ldc, ep.bias_n ? ep.bias_n + n : nullptr,
                             ep.bias_m ? ep.bias_m + i : nullptr, ep.accumulate);
          continue;
        }
        tile_for(mi, nj)(ops, i, n, out);
        for (int ii = 0; ii < mi; ++ii) {
          float* crow = c + (i + ii) * ldc + n;
          for (int jj = 0; jj < nj; ++jj) {
            float v = out[ii][jj];
            if (ep.accumulate) v += crow[jj];
            if (ep.bias_n) v += ep.bias_n[n + jj];
            if (ep.bias_m) v += ep.bias_m[i + ii];
            crow[jj] = v;
          }
        }
      }
      for (int ii = 0; ii < mi; ++ii) apply_act(ep.act, c + (i + ii) * ldc + nb, ne - nb);
    }
  }
  return true;
}

}  // namespace fastnn::cpu

#else

namespace fastnn::cpu {
bool gemm_dot_f32(int64_t, int64_t, int64_t, const DotOperands&, float*, int64_t, const Epilogue<float>&) {
  return false;
}
}  // namespace fastnn::cpu

#endif
