// AVX2+FMA micro-kernel (6 x 16 floats: 12 ymm accumulators), for x86-64
// CPUs without AVX-512. Same run-time selection as the AVX-512 kernel.
#include "microkernel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FASTNN_AVX2 __attribute__((target("avx2,fma")))

namespace fastnn::cpu {
namespace {

template <int MR>
FASTNN_AVX2 void f32_kernel(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc,
                            bool load_c) {
  __m256 acc0[MR], acc1[MR];
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    acc0[i] = _mm256_setzero_ps();
    acc1[i] = _mm256_setzero_ps();
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
    }
    a += MR;
    b += ldb;
  }
#pragma GCC unroll 6
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    if (load_c) {
      acc0[i] = _mm256_add_ps(acc0[i], _mm256_loadu_ps(ci));
      acc1[i] = _mm256_add_ps(acc1[i], _mm256_loadu_ps(ci + 8));
    }
    _mm256_storeu_ps(ci, acc0[i]);
    _mm256_storeu_ps(ci + 8, acc1[i]);
  }
}

template <int MR>
struct F32 {
  static void run(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, bool load_c) {
    f32_kernel<MR>(kc, a, b, ldb, c, ldc, load_c);
  }
};

}  // namespace

MicroKernel<float> microkernel_f32_avx2() {
  MicroKernel<float> k{6, 16, &F32<6>::run, "avx2"};
  fill_row_kernels<float, F32>(k.rows, std::make_integer_sequence<int, 6>{});
  return k;
}

}  // namespace fastnn::cpu

#else

namespace fastnn::cpu {
MicroKernel<float> microkernel_f32_avx2() { return microkernel_f32_portable(); }
}  // namespace fastnn::cpu

#endif
