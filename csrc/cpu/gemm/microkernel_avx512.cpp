// AVX-512 micro-kernels. Compiled for the baseline ISA with per-function
// target attributes, so one build runs on any x86-64 and these are only
// called after a run-time CPU check (see best_microkernel).
#include "microkernel.h"

#include <cstdint>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FASTNN_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))

namespace fastnn::cpu {
namespace {

// float: MR rows x 16*NV columns (NV zmm per row). Each k step loads NV B
// vectors and broadcasts MR values of A: MR*NV FMAs on MR*NV accumulators.
// 6 x 64 is the main kernel: 10 loads per 24 FMAs (12 x 32 needs 14) measured
// 97% of the FMA peak with its operands in L1, against 89% for 12 x 32. The
// 12 x 32 kernel stays for panels packed 32 wide (the recurrent step kernels,
// and N whose last 64-wide strip would be half empty; see panel_width).
// PREFETCH: B rows 8 steps ahead, for a B read in place (rows far apart).
// STREAM: C is written with non-temporal stores (aligned, load_c false) and not fetched first.
template <int MR, int NV, bool PREFETCH, bool STREAM = false>
FASTNN_AVX512 void f32_kernel(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc,
                              bool load_c) {
  __m512 acc[MR][NV];
  // C rows are far apart (row stride ldc): fetch them now so the final
  // load/store does not stall on cache misses.
  if constexpr (!STREAM) {
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16 * j), _MM_HINT_T0);
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_setzero_ps();
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    __m512 bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = _mm512_loadu_ps(b + 16 * j);
    if constexpr (PREFETCH) {
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) _mm_prefetch(reinterpret_cast<const char*>(b + 8 * ldb + 16 * j), _MM_HINT_T0);
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm512_fmadd_ps(ai, bv[j], acc[i][j]);
    }
    a += MR;
    b += ldb;
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      if constexpr (STREAM) {
        _mm512_stream_ps(ci + 16 * j, acc[i][j]);
      } else {
        if (load_c) acc[i][j] = _mm512_add_ps(acc[i][j], _mm512_loadu_ps(ci + 16 * j));
        _mm512_storeu_ps(ci + 16 * j, acc[i][j]);
      }
    }
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

template <int NV>
struct F32 {
  template <int MR>
  struct Rows {
    static void run(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc,
                    bool load_c) {
      if (ldb == 16 * NV) {
        f32_kernel<MR, NV, false>(kc, a, b, ldb, c, ldc, load_c);  // packed: rows adjacent
      } else {
        f32_kernel<MR, NV, true>(kc, a, b, ldb, c, ldc, load_c);
      }
    }
  };
};
template <int NV>
struct F32Stream {
  template <int MR>
  struct Rows {
    static void run(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, bool) {
      if (ldb == 16 * NV) {
        f32_kernel<MR, NV, false, true>(kc, a, b, ldb, c, ldc, false);
      } else {
        f32_kernel<MR, NV, true, true>(kc, a, b, ldb, c, ldc, false);
      }
    }
  };
};
template <int MR>
struct F64 {
  static void run(int64_t kc, const double* a, const double* b, int64_t ldb, double* c, int64_t ldc,
                  bool load_c) {
    f64_kernel<MR>(kc, a, b, ldb, c, ldc, load_c);
  }
};

}  // namespace

FASTNN_AVX512 bool stream_tile_f32_avx512(const float* tile, int64_t ldt, float* c, int64_t ldc, int64_t m,
                                          int64_t n) {
  if (!use_avx512()) return false;
  for (int64_t i = 0; i < m; ++i) {
    const float* src = tile + i * ldt;
    float* dst = c + i * ldc;
    int64_t j = 0;
    if ((reinterpret_cast<uintptr_t>(dst) & 63) == 0)
      for (; j + 16 <= n; j += 16) _mm512_stream_ps(dst + j, _mm512_loadu_ps(src + j));
    for (; j < n; ++j) dst[j] = src[j];
  }
  return true;
}

void stream_fence() { _mm_sfence(); }

MicroKernel<float> microkernel_f32_avx512() {
  MicroKernel<float> k{6, 64, &F32<4>::Rows<6>::run, "avx512"};
  fill_row_kernels<float, F32<4>::Rows>(k.rows, std::make_integer_sequence<int, 6>{});
  fill_row_kernels<float, F32Stream<4>::Rows>(k.stream_rows, std::make_integer_sequence<int, 6>{});
  return k;
}

MicroKernel<float> microkernel_f32_avx512_narrow() {
  MicroKernel<float> k{12, 32, &F32<2>::Rows<12>::run, "avx512"};
  fill_row_kernels<float, F32<2>::Rows>(k.rows, std::make_integer_sequence<int, 12>{});
  fill_row_kernels<float, F32Stream<2>::Rows>(k.stream_rows, std::make_integer_sequence<int, 12>{});
  return k;
}

MicroKernel<double> microkernel_f64_avx512() {
  MicroKernel<double> k{8, 16, &F64<8>::run, "avx512"};
  fill_row_kernels<double, F64>(k.rows, std::make_integer_sequence<int, 8>{});
  return k;
}

}  // namespace fastnn::cpu

#else  // not x86-64: never selected, falls back to the portable kernels

namespace fastnn::cpu {
bool stream_tile_f32_avx512(const float*, int64_t, float*, int64_t, int64_t, int64_t) { return false; }
void stream_fence() {}
MicroKernel<float> microkernel_f32_avx512() { return microkernel_f32_portable(); }
MicroKernel<float> microkernel_f32_avx512_narrow() { return microkernel_f32_portable(); }
MicroKernel<double> microkernel_f64_avx512() { return microkernel_f64_portable(); }
}  // namespace fastnn::cpu

#endif
