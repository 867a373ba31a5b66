// AVX-512 micro-kernels. Compiled for the baseline ISA with per-function
// target attributes, so one build runs on any x86-64 and these are only
// called after a run-time CPU check (see best_microkernel).
#include "microkernel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FASTNN_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))

namespace fastnn::cpu {
namespace {

// float: MR rows x 32 columns (two zmm per row). Each k step loads two B
// vectors and broadcasts MR values of A: 2*MR FMAs on 2*MR accumulators.
template <int MR>
FASTNN_AVX512 void f32_kernel(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc,
                              bool load_c) {
  __m512 acc0[MR], acc1[MR];
  // C rows are far apart (row stride ldc): fetch them now so the final
  // load/store does not stall on cache misses.
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16), _MM_HINT_T0);
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    acc0[i] = _mm512_setzero_ps();
    acc1[i] = _mm512_setzero_ps();
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_loadu_ps(b);
    const __m512 b1 = _mm512_loadu_ps(b + 16);
    // B rows 8 steps ahead (both cache lines: rows are far apart when B is read in place)
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * ldb), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(b + 8 * ldb + 16), _MM_HINT_T0);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc0[i] = _mm512_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(ai, b1, acc1[i]);
    }
    a += MR;
    b += ldb;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    if (load_c) {
      acc0[i] = _mm512_add_ps(acc0[i], _mm512_loadu_ps(ci));
      acc1[i] = _mm512_add_ps(acc1[i], _mm512_loadu_ps(ci + 16));
    }
    _mm512_storeu_ps(ci, acc0[i]);
    _mm512_storeu_ps(ci + 16, acc1[i]);
  }
}

// double: 8 rows x 16 columns (two zmm of 8 doubles per row).
template <int MR>
FASTNN_AVX512 void f64_kernel(int64_t kc, const double* a, const double* b, int64_t ldb, double* c, int64_t ldc,
                              bool load_c) {
  __m512d acc0[MR], acc1[MR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    acc0[i] = _mm512_setzero_pd();
    acc1[i] = _mm512_setzero_pd();
  }
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    const __m512d b0 = _mm512_loadu_pd(b);
    const __m512d b1 = _mm512_loadu_pd(b + 8);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512d ai = _mm512_set1_pd(a[i]);
      acc0[i] = _mm512_fmadd_pd(ai, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_pd(ai, b1, acc1[i]);
    }
    a += MR;
    b += ldb;
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    double* ci = c + i * ldc;
    if (load_c) {
      acc0[i] = _mm512_add_pd(acc0[i], _mm512_loadu_pd(ci));
      acc1[i] = _mm512_add_pd(acc1[i], _mm512_loadu_pd(ci + 8));
    }
    _mm512_storeu_pd(ci, acc0[i]);
    _mm512_storeu_pd(ci + 8, acc1[i]);
  }
}

template <int MR>
struct F32 {
  static void run(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, bool load_c) {
    f32_kernel<MR>(kc, a, b, ldb, c, ldc, load_c);
  }
};
template <int MR>
struct F64 {
  static void run(int64_t kc, const double* a, const double* b, int64_t ldb, double* c, int64_t ldc,
                  bool load_c) {
    f64_kernel<MR>(kc, a, b, ldb, c, ldc, load_c);
  }
};

}  // namespace

MicroKernel<float> microkernel_f32_avx512() {
  MicroKernel<float> k{12, 32, &F32<12>::run, "avx512"};
  fill_row_kernels<float, F32>(k, std::make_integer_sequence<int, 12>{});
  return k;
}

MicroKernel<double> microkernel_f64_avx512() {
  MicroKernel<double> k{8, 16, &F64<8>::run, "avx512"};
  fill_row_kernels<double, F64>(k, std::make_integer_sequence<int, 8>{});
  return k;
}

}  // namespace fastnn::cpu

#else  // not x86-64: never selected, falls back to the portable kernels

namespace fastnn::cpu {
MicroKernel<float> microkernel_f32_avx512() { return microkernel_f32_portable(); }
MicroKernel<double> microkernel_f64_avx512() { return microkernel_f64_portable(); }
}  // namespace fastnn::cpu

#endif
