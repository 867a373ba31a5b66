#pragma once
#include <cstdint>

namespace fastnn::cpu {
// Packs rc rows of src (row stride rs, k contiguous), kc values each, into the
// panel layout of gemm.h with the given strip width. Returns false (nothing
// written) when the CPU lacks AVX2 or width is not a multiple of 4.
bool pack_rowmajor_f32_x86(const float* src, int64_t rs, int64_t rc, int64_t kc, int64_t width, float* dst);
// Same panels from rows that are contiguous for a fixed k (a matrix read
// transposed: row stride 1, k stride cs): one masked AVX-512 copy of the
// strip's rows per k. Returns false without the AVX-512 kernels (use_avx512) or for width > 32.
bool pack_colmajor_f32_x86(const float* src, int64_t cs, int64_t rc, int64_t kc, int64_t width, float* dst);
}  // namespace fastnn::cpu
