// Small-M GEMM on pre-packed B panels (see rnn_small_gemm.h).
#include "rnn_small_gemm.h"

#include <algorithm>

#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FASTNN_RNN_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))
#define FASTNN_RNN_HAVE_AVX512 1
#endif

namespace fastnn::cpu::rnn {
namespace {

#ifdef FASTNN_RNN_HAVE_AVX512
// Asks for the C tile a kernel call will add to (M rows, `lines` cache lines each) before its K
// loop: the step's gate rows were written by the input projection, often on the other core, and
// the loads at the end of the call would otherwise wait on them one miss after another. Measured
// (rnn_layer LSTM forward recurrence, 2 threads, in-process A/B): H=256 batch 4 +5%, batch 8 +4%,
// batch 1 +2%, H=128 batch 4 +4%, H=512 no change.
template <int M>
FASTNN_RNN_AVX512 inline void prefetch_tile(const float* c, int64_t ldc, int lines) {
  for (int m = 0; m < M; ++m)
    for (int l = 0; l < lines; ++l) _mm_prefetch(reinterpret_cast<const char*>(c + m * ldc + l * 16), _MM_HINT_T0);
}

// Writes (or accumulates) the M x 32 block of strip s from its two accumulator vectors per row.
template <int M>
FASTNN_RNN_AVX512 inline void store_strip(const __m512 (&v0)[M], const __m512 (&v1)[M], int64_t s, int64_t N,
                                          float* c, int64_t ldc, const float* bias, bool accumulate) {
  const int64_t j0 = s * 32, valid = std::min<int64_t>(32, N - j0);
  const __mmask16 m0 = valid >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << valid) - 1);
  const __mmask16 m1 = valid >= 32 ? __mmask16(0xFFFF) : valid > 16 ? __mmask16((1u << (valid - 16)) - 1) : 0;
  __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
  if (bias) {
    bias0 = _mm512_maskz_loadu_ps(m0, bias + j0);
    bias1 = _mm512_maskz_loadu_ps(m1, bias + j0 + 16);
  }
  for (int m = 0; m < M; ++m) {
    float* cm = c + m * ldc + j0;
    __m512 a0 = _mm512_add_ps(v0[m], bias0), a1 = _mm512_add_ps(v1[m], bias1);
    if (accumulate) {
      a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(m0, cm));
      a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(m1, cm + 16));
    }
    _mm512_mask_storeu_ps(cm, m0, a0);
    _mm512_mask_storeu_ps(cm + 16, m1, a1);
  }
}

// M rows (1..4) x one strip of 32 columns: per K step, two B vectors feed
// 2*M FMAs; even and odd k use separate accumulators so that even one row
// keeps four independent FMA chains in flight. No software prefetch of the strip
// ahead: the hardware's stream prefetch keeps up, and the prefetch instructions
// took load slots from a loop bound by its loads (measured on the AMD EPYC Zen 4 VM,
// in-process A/B, 2 threads, without them: LSTM forward 200,1,512->512 -5% to -10%,
// 100,1,1024 -8%, batch 1-2 at H=128-256 -4% to -5%; forward+backward 200,1,512 -6%,
// 100,2,256 -3%; benchmarks/kernel_changes_2026-11-28.md, "Thirteenth session").
template <int M>
FASTNN_RNN_AVX512 void one_strip(int64_t s, const float* a, int64_t lda, const PackedB<float>& b, float* c,
                                 int64_t ldc, const float* bias, bool accumulate, bool backwards) {
  const int64_t K = b.K, kc = b.kc, kblocks = (K + kc - 1) / kc;
  __m512 acc0[M], acc1[M], odd0[M], odd1[M];
  for (int m = 0; m < M; ++m) acc0[m] = acc1[m] = odd0[m] = odd1[m] = _mm512_setzero_ps();
  if (accumulate) prefetch_tile<M>(c + s * 32, ldc, 2);
  for (int64_t pi = 0; pi < kblocks; ++pi) {
    const int64_t pc = (backwards ? kblocks - 1 - pi : pi) * kc;
    const int64_t kcb = std::min(kc, K - pc);
    const float* bp = b.block(pc) + s * kcb * 32;
    const float* ap = a + pc;
    int64_t k = 0;
    for (; k + 1 < kcb; k += 2) {
      const __m512 b0 = _mm512_load_ps(bp + k * 32), b1 = _mm512_load_ps(bp + k * 32 + 16);
      const __m512 c0 = _mm512_load_ps(bp + k * 32 + 32), c1 = _mm512_load_ps(bp + k * 32 + 48);
      for (int m = 0; m < M; ++m) {
        const __m512 am = _mm512_set1_ps(ap[m * lda + k]);
        const __m512 an = _mm512_set1_ps(ap[m * lda + k + 1]);
        acc0[m] = _mm512_fmadd_ps(am, b0, acc0[m]);
        acc1[m] = _mm512_fmadd_ps(am, b1, acc1[m]);
        odd0[m] = _mm512_fmadd_ps(an, c0, odd0[m]);
        odd1[m] = _mm512_fmadd_ps(an, c1, odd1[m]);
      }
    }
    for (; k < kcb; ++k) {
      const __m512 b0 = _mm512_load_ps(bp + k * 32), b1 = _mm512_load_ps(bp + k * 32 + 16);
      for (int m = 0; m < M; ++m) {
        const __m512 am = _mm512_set1_ps(ap[m * lda + k]);
        acc0[m] = _mm512_fmadd_ps(am, b0, acc0[m]);
        acc1[m] = _mm512_fmadd_ps(am, b1, acc1[m]);
      }
    }
  }
  for (int m = 0; m < M; ++m) {
    acc0[m] = _mm512_add_ps(acc0[m], odd0[m]);
    acc1[m] = _mm512_add_ps(acc1[m], odd1[m]);
  }
  store_strip<M>(acc0, acc1, s, b.N, c, ldc, bias, accumulate);
}

// M rows (3..4) x two strips (64 columns): each broadcast of A feeds 4 FMAs,
// so a K step loads 4 B vectors + M broadcasts for 4*M FMAs (one strip at a
// time needs 2 + M loads for only 2*M FMAs and is bound by the load ports).
template <int M>
FASTNN_RNN_AVX512 void two_strips(int64_t s, const float* a, int64_t lda, const PackedB<float>& b, float* c,
                                  int64_t ldc, const float* bias, bool accumulate, bool backwards) {
  const int64_t K = b.K, kc = b.kc, kblocks = (K + kc - 1) / kc;
  __m512 x0[M], x1[M], y0[M], y1[M];
  for (int m = 0; m < M; ++m) x0[m] = x1[m] = y0[m] = y1[m] = _mm512_setzero_ps();
  if (accumulate) prefetch_tile<M>(c + s * 32, ldc, 4);
  for (int64_t pi = 0; pi < kblocks; ++pi) {
    const int64_t pc = (backwards ? kblocks - 1 - pi : pi) * kc;
    const int64_t kcb = std::min(kc, K - pc);
    const float* bp = b.block(pc) + s * kcb * 32;
    const float* bq = bp + kcb * 32;  // strip s + 1
    const float* ap = a + pc;
    for (int64_t k = 0; k < kcb; ++k) {
      _mm_prefetch(reinterpret_cast<const char*>(bp + k * 32 + 512), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(bq + k * 32 + 512), _MM_HINT_T0);
      const __m512 b0 = _mm512_load_ps(bp + k * 32), b1 = _mm512_load_ps(bp + k * 32 + 16);
      const __m512 q0 = _mm512_load_ps(bq + k * 32), q1 = _mm512_load_ps(bq + k * 32 + 16);
      for (int m = 0; m < M; ++m) {
        const __m512 am = _mm512_set1_ps(ap[m * lda + k]);
        x0[m] = _mm512_fmadd_ps(am, b0, x0[m]);
        x1[m] = _mm512_fmadd_ps(am, b1, x1[m]);
        y0[m] = _mm512_fmadd_ps(am, q0, y0[m]);
        y1[m] = _mm512_fmadd_ps(am, q1, y1[m]);
      }
    }
  }
  store_strip<M>(x0, x1, s, b.N, c, ldc, bias, accumulate);
  store_strip<M>(y0, y1, s + 1, b.N, c, ldc, bias, accumulate);
}

// M rows (1..4) x all N columns.
template <int M>
FASTNN_RNN_AVX512 void small_f32(const float* a, int64_t lda, const PackedB<float>& b, float* c, int64_t ldc,
                                 const float* bias, bool accumulate, bool backwards) {
  const int64_t strips = (b.N + 31) / 32;
  if constexpr (M >= 3) {
    const int64_t pairs = strips / 2;
    if (strips % 2 && backwards) one_strip<M>(strips - 1, a, lda, b, c, ldc, bias, accumulate, backwards);
    for (int64_t pi = 0; pi < pairs; ++pi) {
      const int64_t s = 2 * (backwards ? pairs - 1 - pi : pi);
      two_strips<M>(s, a, lda, b, c, ldc, bias, accumulate, backwards);
    }
    if (strips % 2 && !backwards) one_strip<M>(strips - 1, a, lda, b, c, ldc, bias, accumulate, backwards);
  } else {
    for (int64_t si = 0; si < strips; ++si)
      one_strip<M>(backwards ? strips - 1 - si : si, a, lda, b, c, ldc, bias, accumulate, backwards);
  }
}

// The packed panels hold 32-column strips only under the AVX-512 kernel (public: isa_name()).
bool avx512_panels() {
  static const bool yes = std::strcmp(isa_name(), "avx512") == 0;
  return yes;
}

bool small_f32_dispatch(int64_t M, const float* a, int64_t lda, const PackedB<float>& b, float* c, int64_t ldc,
                        const float* bias, bool accumulate, bool backwards) {
  if (M > 8 || b.nr != 32 || !avx512_panels()) return false;
  for (int64_t m0 = 0; m0 < M; m0 += 4) {
    const int64_t rows = std::min<int64_t>(4, M - m0);
    const float* am = a + m0 * lda;
    float* cm = c + m0 * ldc;
    switch (rows) {
      case 1: small_f32<1>(am, lda, b, cm, ldc, bias, accumulate, backwards); break;
      case 2: small_f32<2>(am, lda, b, cm, ldc, bias, accumulate, backwards); break;
      case 3: small_f32<3>(am, lda, b, cm, ldc, bias, accumulate, backwards); break;
      default: small_f32<4>(am, lda, b, cm, ldc, bias, accumulate, backwards); break;
    }
  }
  return true;
}
#endif

}  // namespace

template <typename T>
void step_gemm(int64_t M, const T* a, int64_t lda, const PackedB<T>& b, T* c, int64_t ldc, const T* bias,
               bool accumulate, bool backwards, const T* a_packed) {
  if (M <= 0) return;
#ifdef FASTNN_RNN_HAVE_AVX512
  if constexpr (std::is_same_v<T, float>) {
    if (small_f32_dispatch(M, a, lda, b, c, ldc, bias, accumulate, backwards)) return;
  }
#endif
  Epilogue<T> ep;
  ep.bias_n = bias;
  ep.accumulate = accumulate;
  RowSource<T> as = RowSource<T>::view(a, lda, 1);
  as.prepacked = a_packed;
  gemm_packed(M, as, b, {c, ldc, 1}, ep, /*parallel=*/false);
}

template void step_gemm<float>(int64_t, const float*, int64_t, const PackedB<float>&, float*, int64_t,
                               const float*, bool, bool, const float*);
template void step_gemm<double>(int64_t, const double*, int64_t, const PackedB<double>&, double*, int64_t,
                                const double*, bool, bool, const double*);

}  // namespace fastnn::cpu::rnn
