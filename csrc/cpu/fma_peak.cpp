// Measures this machine's float32 FMA peak: each thread of torch's pool runs
// independent FMA chains (enough to cover FMA latency on every port) for a
// fixed time. The benchmark's "% of peak" divides by this number.
#include <ATen/Parallel.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "fma_peak.h"
#include "gemm/gemm.h"
#include "gemm/microkernel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

namespace fastnn::cpu {
namespace {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// 16 independent zmm chains x 16 lanes x 2 flops per iteration.
__attribute__((target("avx512f,fma"))) double fma_loop_avx512(int64_t iters) {
  __m512 acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_ps(1e-9f * static_cast<float>(i));
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-9f);
  for (int64_t k = 0; k < iters; ++k) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
  }
  float sink = 0;
  for (int i = 0; i < 16; ++i) sink += _mm512_reduce_add_ps(acc[i]);
  return sink == 12345.0f ? 0.0 : static_cast<double>(iters) * 16 * 16 * 2;
}

__attribute__((target("avx2,fma"))) double fma_loop_avx2(int64_t iters) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(1e-9f * static_cast<float>(i));
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-9f);
  for (int64_t k = 0; k < iters; ++k) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
  }
  alignas(32) float out[8];
  __m256 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, acc[i]);
  _mm256_store_ps(out, s);
  return out[0] == 12345.0f ? 0.0 : static_cast<double>(iters) * 12 * 8 * 2;
}
#endif

double fma_loop_portable(int64_t iters) {
  float acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = 1e-9f * static_cast<float>(i);
  for (int64_t k = 0; k < iters; ++k)
    for (int i = 0; i < 16; ++i) acc[i] = acc[i] * 0.999999f + 1e-9f;
  float sink = 0;
  for (float v : acc) sink += v;
  return sink == 12345.0f ? 0.0 : static_cast<double>(iters) * 16 * 2;
}

double fma_loop(int64_t iters) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (use_avx512()) return fma_loop_avx512(iters);
  if (std::strcmp(isa_name(), "avx2") == 0) return fma_loop_avx2(iters);
#endif
  return fma_loop_portable(iters);
}

}  // namespace

double fma_peak_gflops(double seconds) {
  const int64_t threads = at::get_num_threads();
  std::atomic<double> total{0.0};
  at::parallel_for(0, threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      fma_loop(1 << 16);  // warm up (clock ramp, code in cache)
      double flops = 0;
      const auto start = std::chrono::steady_clock::now();
      double elapsed = 0;
      while (elapsed < seconds) {
        flops += fma_loop(1 << 18);
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
      double expected = total.load();
      while (!total.compare_exchange_weak(expected, expected + flops / elapsed / 1e9)) {
      }
    }
  });
  return total.load();
}

}  // namespace fastnn::cpu
