// Portable C++ micro-kernels: plain loops the compiler can vectorise for the
// baseline ISA. Used on CPUs without AVX2 and for testing (FASTNN_ISA=portable).
#include "microkernel.h"

namespace fastnn::cpu {
namespace {

template <typename T, int MR, int NR>
void portable_kernel(int64_t kc, const T* a, const T* b, int64_t ldb, T* c, int64_t ldc,
                     bool load_c) {
  T acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const T* ak = a + k * MR;
    const T* bk = b + k * ldb;
    for (int i = 0; i < MR; ++i) {
      const T ai = ak[i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * bk[j];
    }
  }
  for (int i = 0; i < MR; ++i) {
    T* ci = c + i * ldc;
    if (load_c) {
      for (int j = 0; j < NR; ++j) ci[j] += acc[i][j];
    } else {
      for (int j = 0; j < NR; ++j) ci[j] = acc[i][j];
    }
  }
}

}  // namespace

MicroKernel<float> microkernel_f32_portable() {
  return {4, 16, &portable_kernel<float, 4, 16>, "portable"};
}

MicroKernel<double> microkernel_f64_portable() {
  return {4, 8, &portable_kernel<double, 4, 8>, "portable"};
}

}  // namespace fastnn::cpu
