// Register-blocked micro-kernels, one per ISA, chosen at run time.
// A kernel computes a full MR x NR tile from a packed A panel and a B panel
// whose rows are ldb apart (ldb = NR when packed; the row stride of an
// n-contiguous B when it is read in place):
//   acc(i, j) = sum_k a[k*MR + i] * b[k*ldb + j]
//   c[i*ldc + j] = (load_c ? c[i*ldc + j] : 0) + acc(i, j)
#pragma once

#include <cstdint>

namespace fastnn::cpu {

template <typename T>
using MicroKernelFn = void (*)(int64_t kc, const T* a, const T* b, int64_t ldb, T* c, int64_t ldc,
                                bool load_c);

template <typename T>
struct MicroKernel {
  int mr;
  int nr;
  MicroKernelFn<T> fn;
  const char* name;
};

// Per-ISA kernels (defined in microkernel_<isa>.cpp).
MicroKernel<float> microkernel_f32_avx512();
MicroKernel<float> microkernel_f32_avx2();
MicroKernel<float> microkernel_f32_portable();
MicroKernel<double> microkernel_f64_avx512();
MicroKernel<double> microkernel_f64_portable();

// Best kernel for this CPU (FASTNN_ISA=avx512|avx2|portable overrides, for testing).
template <typename T>
const MicroKernel<T>& best_microkernel();

}  // namespace fastnn::cpu

namespace fastnn::cpu {
// True when the AVX-512 float paths are in use (CPU support, and FASTNN_ISA
// not forcing a narrower ISA).
bool use_avx512();
}  // namespace fastnn::cpu
