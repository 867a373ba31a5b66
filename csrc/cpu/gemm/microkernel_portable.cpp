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

template <int MR>
struct F32 {
  static void run(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc, bool load_c) {
    portable_kernel<float, MR, 16>(kc, a, b, ldb, c, ldc, load_c);
  }
};
template <int MR>
struct F64 {
  static void run(int64_t kc, const double* a, const double* b, int64_t ldb, double* c, int64_t ldc,
                  bool load_c) {
    portable_kernel<double, MR, 8>(kc, a, b, ldb, c, ldc, load_c);
  }
};

}  // namespace

MicroKernel<float> microkernel_f32_portable() {
  MicroKernel<float> k{4, 16, &F32<4>::run, "portable"};
  fill_row_kernels<float, F32>(k.rows, std::make_integer_sequence<int, 4>{});
  return k;
}

MicroKernel<double> microkernel_f64_portable() {
  MicroKernel<double> k{4, 8, &F64<4>::run, "portable"};
  fill_row_kernels<double, F64>(k.rows, std::make_integer_sequence<int, 4>{});
  return k;
}

}  // namespace fastnn::cpu
