// Packing of strided row sources into the panel layout of gemm.h.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "gemm.h"
#include "pack_x86.h"

namespace fastnn::cpu {

template <typename T>
void pack_strided(const T* data, int64_t rs, int64_t cs, int64_t r0, int64_t rc, int64_t k0,
                  int64_t kc, int64_t width, T* dst) {
  if constexpr (std::is_same_v<T, float>) {
    // k-contiguous rows (a weight [N, K] read as B): 8x8 register transposes
    if (cs == 1 && rs != 1 && pack_rowmajor_f32_x86(data + r0 * rs + k0, rs, rc, kc, width, dst)) return;
    // rows contiguous for a fixed k (an activation read transposed, as in dW = dY^T X)
    if (rs == 1 && cs != 1 && pack_colmajor_f32_x86(data + r0 + k0 * cs, cs, rc, kc, width, dst)) return;
  }
  for (int64_t s0 = 0; s0 < rc; s0 += width) {
    const int64_t rows = std::min(width, rc - s0);
    T* d = dst + (s0 / width) * kc * width;
    const T* src = data + (r0 + s0) * rs + k0 * cs;
    if (rs == 1) {
      // rows are contiguous for a fixed k: copy `rows` elements per k
      // (a plain loop: a memcpy call per dozen floats cost more than the copy)
      for (int64_t k = 0; k < kc; ++k) {
        const T* sk = src + k * cs;
        T* dk = d + k * width;
        for (int64_t r = 0; r < rows; ++r) dk[r] = sk[r];
        for (int64_t r = rows; r < width; ++r) dk[r] = T(0);
      }
    } else {
      // k is the contiguous (or generic) direction: gather in 16-wide k chunks
      // so both the reads and the writes stay within a few cache lines
      for (int64_t kb = 0; kb < kc; kb += 16) {
        const int64_t ke = std::min(kc, kb + 16);
        for (int64_t r = 0; r < rows; ++r) {
          const T* sr = src + r * rs;
          for (int64_t k = kb; k < ke; ++k) d[k * width + r] = sr[k * cs];
        }
        for (int64_t r = rows; r < width; ++r)
          for (int64_t k = kb; k < ke; ++k) d[k * width + r] = T(0);
      }
    }
  }
}

template void pack_strided<float>(const float*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                  int64_t, int64_t, float*);
template void pack_strided<double>(const double*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                   int64_t, int64_t, double*);

}  // namespace fastnn::cpu
