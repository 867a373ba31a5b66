// Register-blocked micro-kernels, one per ISA, chosen at run time.
// A kernel computes a full MR x NR tile from a packed A panel and a B panel
// whose rows are ldb apart (ldb = NR when packed; the row stride of an
// n-contiguous B when it is read in place):
//   acc(i, j) = sum_k a[k*MR + i] * b[k*ldb + j]
//   c[i*ldc + j] = (load_c ? c[i*ldc + j] : 0) + acc(i, j)
#pragma once

#include <cstdint>
#include <utility>

namespace fastnn::cpu {

template <typename T>
using MicroKernelFn = void (*)(int64_t kc, const T* a, const T* b, int64_t ldb, T* c, int64_t ldc,
                                bool load_c);

constexpr int kMaxMR = 16;

template <typename T>
struct MicroKernel {
  int mr;
  int nr;
  MicroKernelFn<T> fn;  // the full mr-row kernel, == rows[mr]
  const char* name;
  // rows[m] computes an m x NR tile (1 <= m <= mr) from an A panel packed with
  // width m: a partial last row strip (or a product with M < mr, such as a
  // recurrent step at batch 1) does no work for zero-padded rows.
  MicroKernelFn<T> rows[kMaxMR + 1] = {};
  // stream_rows[m]: the same tile written to C with non-temporal stores, for a C written once and
  // not read again soon (weight gradients): C 64-byte aligned, ldc a multiple of 64 bytes, load_c
  // false. Null where the ISA has none (the caller then streams a finished tile from scratch).
  MicroKernelFn<T> stream_rows[kMaxMR + 1] = {};
};

// Fills table[1..MR] (a MicroKernel's rows or stream_rows) with Kernel<1>..Kernel<MR>.
template <typename T, template <int> class Kernel, int... I>
void fill_row_kernels(MicroKernelFn<T> (&table)[kMaxMR + 1], std::integer_sequence<int, I...>) {
  ((table[I + 1] = &Kernel<I + 1>::run), ...);
}

// Per-ISA kernels (defined in microkernel_<isa>.cpp).
MicroKernel<float> microkernel_f32_avx512();         // 6 x 64
MicroKernel<float> microkernel_f32_avx512_narrow();  // 12 x 32
MicroKernel<float> microkernel_f32_avx2();
MicroKernel<float> microkernel_f32_portable();
MicroKernel<double> microkernel_f64_avx512();
MicroKernel<double> microkernel_f64_portable();

// Best kernel for this CPU (FASTNN_ISA=avx512|avx2|portable overrides, for testing).
template <typename T>
const MicroKernel<T>& best_microkernel();

// The kernel for B panels packed `nr` wide: the best kernel, or (AVX-512
// float) the 12 x 32 one for 32-wide panels. Every panel width a PackedB can
// have (best_microkernel().nr, narrow_microkernel().nr) has one.
template <typename T>
const MicroKernel<T>& microkernel_for_width(int64_t nr);

// The kernel of the narrowest panels: 12 x 32 under AVX-512 float (the
// recurrent step kernels are written for 32-wide panels), else the best one.
template <typename T>
const MicroKernel<T>& narrow_microkernel();

}  // namespace fastnn::cpu

namespace fastnn::cpu {
// Copies an m x n float tile (row stride ldt) to c (row stride ldc) with non-temporal stores
// where a row is 64-byte aligned (plain stores elsewhere); false (nothing done) without AVX-512.
bool stream_tile_f32_avx512(const float* tile, int64_t ldt, float* c, int64_t ldc, int64_t m, int64_t n);
// Orders the non-temporal stores before everything after it (they are weakly ordered): called
// once a GEMM share that streamed tiles is done, before other threads may read C.
void stream_fence();

// True when the AVX-512 float paths are in use (CPU support, and FASTNN_ISA
// not forcing a narrower ISA).
bool use_avx512();
}  // namespace fastnn::cpu
