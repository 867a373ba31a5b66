// Implicit im2col for channels_last (NHWC): the reduction index is
// (kh, kw, c), so each window tap is a contiguous run of channels.
#include <c10/util/Exception.h>

#include <cstring>
#include <type_traits>
#include <vector>

#include "conv_common.h"

namespace fastnn::cpu::conv {

template <typename T>
PackFn<T> nhwc_im2col(const Geom& g, const T* x, int64_t xc) {
  return [g, x, xc](int64_t r0, int64_t rc, int64_t k0, int64_t kc, int64_t width, T* dst) {
    if constexpr (std::is_same_v<T, float>) {
      if (avx512::nhwc_im2col_f32(g, x, xc, r0, rc, k0, kc, width, dst)) return;
    }
    TORCH_CHECK(width <= 64, "nhwc_im2col: panel width ", width, " > 64");
    thread_local std::vector<T> zeros;
    if (static_cast<int64_t>(zeros.size()) < g.C) zeros.assign(g.C, T(0));
    const T* img[64];
    int64_t ih0[64], iw0[64];
    const T* src[64];
    const int64_t P = g.P(), img_stride = g.H * g.W * xc;
    for (int64_t s0 = 0; s0 < rc; s0 += width) {
      const int64_t rows = std::min(width, rc - s0);
      T* d = dst + (s0 / width) * kc * width;
      for (int64_t r = 0; r < width; ++r) {
        img[r] = nullptr;
        if (r >= rows) continue;
        const int64_t t = r0 + s0 + r, n = t / P, p = t % P;
        img[r] = x + n * img_stride;
        ih0[r] = (p / g.OW) * g.sh - g.ph;
        iw0[r] = (p % g.OW) * g.sw - g.pw;
      }
      for (int64_t k = k0; k < k0 + kc;) {
        const int64_t tap = k / g.C, c0 = k % g.C, run = std::min(g.C - c0, k0 + kc - k);
        const int64_t kh = tap / g.KW, kw = tap % g.KW;
        for (int64_t r = 0; r < width; ++r) {
          const int64_t ih = ih0[r] + kh * g.dh, iw = iw0[r] + kw * g.dw;
          const bool inside = img[r] && ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
          src[r] = inside ? img[r] + (ih * g.W + iw) * xc + c0 : zeros.data();
        }
        T* dk = d + (k - k0) * width;
        if (width == 8) {  // the AVX-512 / AVX2 micro-kernels' MR
          for (int64_t j = 0; j < run; ++j)
            for (int r = 0; r < 8; ++r) dk[j * 8 + r] = src[r][j];
        } else {
          for (int64_t j = 0; j < run; ++j)
            for (int64_t r = 0; r < width; ++r) dk[j * width + r] = src[r][j];
        }
        k += run;
      }
    }
  };
}

template <typename T>
PackFn<T> nhwc_im2col_t(const Geom& g, const T* x, int64_t xc, int64_t t0, bool ones_row) {
  return [g, x, xc, t0, ones_row](int64_t r0, int64_t rc, int64_t k0, int64_t kc, int64_t width, T* dst) {
    const int64_t P = g.P(), K = g.K(), img_stride = g.H * g.W * xc;
    for (int64_t s0 = 0; s0 < rc; s0 += width) {
      const int64_t rows = std::min(width, rc - s0);
      T* d = dst + (s0 / width) * kc * width;
      for (int64_t k = 0; k < kc; ++k) {
        const int64_t t = t0 + k0 + k, n = t / P, p = t % P;
        const int64_t ih0 = (p / g.OW) * g.sh - g.ph, iw0 = (p % g.OW) * g.sw - g.pw;
        const T* im = x + n * img_stride;
        T* dk = d + k * width;
        int64_t r = 0;
        for (int64_t row = r0 + s0; r < rows;) {
          if (row >= K) {  // ones row (grad_bias) or padding rows
            dk[r++] = row++ == K && ones_row ? T(1) : T(0);
            continue;
          }
          const int64_t tap = row / g.C, c0 = row % g.C;
          const int64_t run = std::min({g.C - c0, rows - r, K - row});
          const int64_t ih = ih0 + (tap / g.KW) * g.dh, iw = iw0 + (tap % g.KW) * g.dw;
          if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W)
            std::memcpy(dk + r, im + (ih * g.W + iw) * xc + c0, sizeof(T) * run);
          else
            std::fill(dk + r, dk + r + run, T(0));
          r += run;
          row += run;
        }
        std::fill(dk + rows, dk + width, T(0));
      }
    }
  };
}

#define FASTNN_INSTANTIATE(T)                                                               \
  template PackFn<T> nhwc_im2col<T>(const Geom&, const T*, int64_t);                        \
  template PackFn<T> nhwc_im2col_t<T>(const Geom&, const T*, int64_t, int64_t, bool);
FASTNN_INSTANTIATE(float)
FASTNN_INSTANTIATE(double)
#undef FASTNN_INSTANTIATE

}  // namespace fastnn::cpu::conv
