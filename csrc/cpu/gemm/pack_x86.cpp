// Fast packing of row-major float rows (k contiguous) into panels whose width
// is a multiple of 4: 8x8 (and 4x8) blocks are transposed in registers (AVX2
// shuffles) instead of element by element. Falls back (returns false) elsewhere.
#include "pack_x86.h"

#include "microkernel.h"  // use_avx512

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

namespace fastnn::cpu {
namespace {

// ROWS = 8: an 8x8 block; ROWS = 6: 6 rows x 8 k, storing 6 floats per k
// (a 6-wide strip); ROWS = 4: 4 rows x 8 k, storing 4 floats per k (the last
// group of a 12-wide strip).
template <int ROWS>
__attribute__((target("avx2"))) inline void transpose8x8_store(const float* src, int64_t rs, float* dst,
                                                              int64_t dst_stride) {
  const __m256 zero = _mm256_setzero_ps();
  __m256 r0 = _mm256_loadu_ps(src + 0 * rs), r1 = _mm256_loadu_ps(src + 1 * rs);
  __m256 r2 = _mm256_loadu_ps(src + 2 * rs), r3 = _mm256_loadu_ps(src + 3 * rs);
  __m256 r4 = ROWS >= 6 ? _mm256_loadu_ps(src + 4 * rs) : zero, r5 = ROWS >= 6 ? _mm256_loadu_ps(src + 5 * rs) : zero;
  __m256 r6 = ROWS == 8 ? _mm256_loadu_ps(src + 6 * rs) : zero, r7 = ROWS == 8 ? _mm256_loadu_ps(src + 7 * rs) : zero;
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  if constexpr (ROWS == 6) {
    const __m256i six = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
    _mm256_maskstore_ps(dst + 0 * dst_stride, six, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_maskstore_ps(dst + 1 * dst_stride, six, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_maskstore_ps(dst + 2 * dst_stride, six, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_maskstore_ps(dst + 3 * dst_stride, six, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_maskstore_ps(dst + 4 * dst_stride, six, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_maskstore_ps(dst + 5 * dst_stride, six, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_maskstore_ps(dst + 6 * dst_stride, six, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_maskstore_ps(dst + 7 * dst_stride, six, _mm256_permute2f128_ps(u3, u7, 0x31));
  } else if constexpr (ROWS == 8) {
    _mm256_storeu_ps(dst + 0 * dst_stride, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + 1 * dst_stride, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * dst_stride, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * dst_stride, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * dst_stride, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * dst_stride, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * dst_stride, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * dst_stride, _mm256_permute2f128_ps(u3, u7, 0x31));
  } else {  // rows 0-3 of each k sit in the low 128 bits
    _mm_storeu_ps(dst + 0 * dst_stride, _mm256_castps256_ps128(u0));
    _mm_storeu_ps(dst + 1 * dst_stride, _mm256_castps256_ps128(u1));
    _mm_storeu_ps(dst + 2 * dst_stride, _mm256_castps256_ps128(u2));
    _mm_storeu_ps(dst + 3 * dst_stride, _mm256_castps256_ps128(u3));
    _mm_storeu_ps(dst + 4 * dst_stride, _mm256_extractf128_ps(u0, 1));
    _mm_storeu_ps(dst + 5 * dst_stride, _mm256_extractf128_ps(u1, 1));
    _mm_storeu_ps(dst + 6 * dst_stride, _mm256_extractf128_ps(u2, 1));
    _mm_storeu_ps(dst + 7 * dst_stride, _mm256_extractf128_ps(u3, 1));
  }
}

bool cpu_has_avx2() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return has;
}

inline __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1u);
}

}  // namespace

__attribute__((target("avx512f"))) bool pack_colmajor_f32_x86(const float* src, int64_t cs, int64_t rc, int64_t kc,
                                                              int64_t width, float* dst) {
  if (width > 64 || !use_avx512()) return false;
  const int chunks = static_cast<int>((width + 15) / 16);
  __mmask16 store[4], load[4];
  for (int c = 0; c < 4; ++c) store[c] = first_lanes(width - 16 * c);
  if (width <= 16) {
    // Narrow strips (A's 6 or 12 rows: a transposed operand such as dY^T of a weight
    // gradient, whose k stride is a whole row of the source, often a multiple of 4 KiB):
    // strip by strip, every k would touch a new line of the same L1 set and evict the
    // last; instead 8 k at a time across all strips, reading each source row segment
    // once while its lines are in L1.
    const int64_t strips = (rc + width - 1) / width;
    for (int64_t k0 = 0; k0 < kc; k0 += 8) {
      const int64_t k1 = k0 + 8 < kc ? k0 + 8 : kc;
      for (int64_t s = 0; s < strips; ++s) {
        const int64_t rows = rc - s * width < width ? rc - s * width : width;
        const __mmask16 ld = first_lanes(rows);  // zeros past the last row
        float* d = dst + s * kc * width;
        const float* sp = src + s * width;
        for (int64_t k = k0; k < k1; ++k)
          _mm512_mask_storeu_ps(d + k * width, store[0], _mm512_maskz_loadu_ps(ld, sp + k * cs));
      }
    }
    return true;
  }
  for (int64_t s0 = 0; s0 < rc; s0 += width) {
    const int64_t rows = rc - s0 < width ? rc - s0 : width;
    for (int c = 0; c < 4; ++c) load[c] = first_lanes(rows - 16 * c);  // zeros past the last row
    float* d = dst + (s0 / width) * kc * width;
    const float* sp = src + s0;
    for (int64_t k = 0; k < kc; ++k)
      for (int c = 0; c < chunks; ++c)
        _mm512_mask_storeu_ps(d + k * width + 16 * c, store[c], _mm512_maskz_loadu_ps(load[c], sp + k * cs + 16 * c));
  }
  return true;
}

__attribute__((target("avx2"))) bool pack_rowmajor_f32_x86(const float* src, int64_t rs, int64_t rc,
                                                           int64_t kc, int64_t width, float* dst) {
  if ((width % 4 != 0 && width != 6) || !cpu_has_avx2()) return false;
  for (int64_t s0 = 0; s0 < rc; s0 += width) {
    const int64_t rows = rc - s0 < width ? rc - s0 : width;
    float* d = dst + (s0 / width) * kc * width;
    const float* sp = src + s0 * rs;
    // groups of 8 rows, then one of 4 (12-wide strips); a full 6-wide strip as one group of 6
    const bool six = width == 6 && rows == 6;
    const int64_t full8 = six ? 0 : rows / 8 * 8, full = six ? 6 : full8 + (rows - full8) / 4 * 4, kfull = kc / 8 * 8;
    // k outer: each 8-k chunk writes whole packed rows (width floats, full
    // cache lines) while the source lines of all rows stay in L1.
    for (int64_t k = 0; k < kfull; k += 8) {
      if (six) {
        transpose8x8_store<6>(sp + k, rs, d + k * width, width);
        continue;
      }
      for (int64_t r = 0; r < full8; r += 8) transpose8x8_store<8>(sp + r * rs + k, rs, d + k * width + r, width);
      if (full > full8) transpose8x8_store<4>(sp + full8 * rs + k, rs, d + k * width + full8, width);
    }
    for (int64_t r = 0; r < full; ++r)
      for (int64_t k = kfull; k < kc; ++k) d[k * width + r] = sp[r * rs + k];
    for (int64_t r = full; r < rows; ++r)
      for (int64_t k = 0; k < kc; ++k) d[k * width + r] = sp[r * rs + k];
    for (int64_t r = rows; r < width; ++r)
      for (int64_t k = 0; k < kc; ++k) d[k * width + r] = 0.0f;
  }
  return true;
}

}  // namespace fastnn::cpu

#else

namespace fastnn::cpu {
bool pack_rowmajor_f32_x86(const float*, int64_t, int64_t, int64_t, int64_t, float*) { return false; }
bool pack_colmajor_f32_x86(const float*, int64_t, int64_t, int64_t, int64_t, float*) { return false; }
}  // namespace fastnn::cpu

#endif
