// Small vector loops for the direct (depthwise) kernels and col2im. The
// build targets baseline x86-64, so each loop is cloned per ISA with
// target_clones and the best clone is picked at load time.
#include <cstdint>

#include "conv_common.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define FASTNN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FASTNN_CLONES
#endif

namespace fastnn::cpu::conv {

#define FASTNN_VEC_LOOPS(T)                                                             \
  FASTNN_CLONES void vaxpy(T* __restrict y, T a, const T* __restrict x, int64_t n) {  \
    for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];                                   \
  }                                                                                     \
  FASTNN_CLONES void vfma(T* __restrict y, const T* __restrict a, const T* __restrict b, \
                          int64_t n) {                                                  \
    for (int64_t i = 0; i < n; ++i) y[i] += a[i] * b[i];                                \
  }                                                                                     \
  FASTNN_CLONES void vadd(T* __restrict y, const T* __restrict x, int64_t n) {          \
    for (int64_t i = 0; i < n; ++i) y[i] += x[i];                                       \
  }                                                                                     \
  /* 16 partial sums so the loop vectorises without reassociation flags */              \
  FASTNN_CLONES T vdot(const T* __restrict a, const T* __restrict b, int64_t n) {       \
    T acc[16] = {};                                                                     \
    int64_t i = 0;                                                                      \
    for (; i + 16 <= n; i += 16)                                                        \
      for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];                       \
    T s = 0;                                                                            \
    for (; i < n; ++i) s += a[i] * b[i];                                                \
    for (int j = 0; j < 16; ++j) s += acc[j];                                           \
    return s;                                                                           \
  }                                                                                     \
  FASTNN_CLONES T vsum(const T* __restrict a, int64_t n) {                              \
    T acc[16] = {};                                                                     \
    int64_t i = 0;                                                                      \
    for (; i + 16 <= n; i += 16)                                                        \
      for (int j = 0; j < 16; ++j) acc[j] += a[i + j];                                  \
    T s = 0;                                                                            \
    for (; i < n; ++i) s += a[i];                                                       \
    for (int j = 0; j < 16; ++j) s += acc[j];                                           \
    return s;                                                                           \
  }

FASTNN_VEC_LOOPS(float)
FASTNN_VEC_LOOPS(double)

}  // namespace fastnn::cpu::conv
