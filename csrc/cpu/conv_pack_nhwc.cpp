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
    if (static_cast<int64_t>(zeros.size()) < g.KW * g.C) zeros.assign(g.KW * g.C, T(0));
    const T* img[64];
    int64_t ih0[64], iw0[64];
    const T* src[64];
    const int64_t img_stride = g.H * g.W * xc;
    for (int64_t s0 = 0; s0 < rc; s0 += width) {
      const int64_t rows = std::min(width, rc - s0);
      T* d = dst + (s0 / width) * kc * width;
      PixelCursor pc(r0 + s0, g.OH, g.OW);
      strip_window_origins(g, pc, x, img_stride, width, rows, img, ih0, iw0);
      TapCursor tc(g, k0);
      for (int64_t k = k0; k < k0 + kc;) {
        int64_t run = k0 + kc - k;
        for (int64_t r = 0; r < width; ++r) {
          int64_t len;
          src[r] = nhwc_tap(g, img[r], ih0[r], iw0[r], tc.kh, tc.kw, tc.c, xc, zeros.data(), &len);
          run = std::min(run, len);
        }
        T* dk = d + (k - k0) * width;
        for (int64_t j = 0; j < run; ++j)
          for (int64_t r = 0; r < width; ++r) dk[j * width + r] = src[r][j];
        k += run;
        tc.advance(g, run);
      }
    }
  };
}

template <typename T>
PackFn<T> nhwc_im2col_t(const Geom& g, const T* x, int64_t xc, int64_t t0, bool ones_row) {
  return [g, x, xc, t0, ones_row](int64_t r0, int64_t rc, int64_t k0, int64_t kc, int64_t width, T* dst) {
    if constexpr (std::is_same_v<T, float>) {
      if (avx512::nhwc_im2col_t_f32(g, x, xc, t0, ones_row, r0, rc, k0, kc, width, dst)) return;
    }
    const int64_t K = g.K(), img_stride = g.H * g.W * xc;
    thread_local std::vector<T> zeros;
    if (static_cast<int64_t>(zeros.size()) < g.KW * g.C) zeros.assign(g.KW * g.C, T(0));
    for (int64_t s0 = 0; s0 < rc; s0 += width) {
      const int64_t rows = std::min(width, rc - s0);
      T* d = dst + (s0 / width) * kc * width;
      const TapCursor first(g, std::min(r0 + s0, K));
      PixelCursor pc(t0 + k0, g.OH, g.OW);
      for (int64_t k = 0; k < kc; ++k, pc.next()) {
        const int64_t ih0 = pc.oh * g.sh - g.ph, iw0 = pc.ow * g.sw - g.pw;
        const T* im = x + pc.n * img_stride;
        T* dk = d + k * width;
        int64_t r = 0;
        TapCursor tc = first;
        for (int64_t row = r0 + s0; r < rows;) {
          if (row >= K) {  // ones row (grad_bias) or padding rows
            dk[r++] = row++ == K && ones_row ? T(1) : T(0);
            continue;
          }
          int64_t len;
          const T* src = nhwc_tap(g, im, ih0, iw0, tc.kh, tc.kw, tc.c, xc, zeros.data(), &len);
          const int64_t run = std::min({len, rows - r, K - row});
          for (int64_t j = 0; j < run; ++j) dk[r + j] = src[j];  // short runs: no memcpy call
          r += run;
          row += run;
          tc.advance(g, run);
        }
        std::fill(dk + rows, dk + width, T(0));
      }
    }
  };
}

template <typename T>
PackFn<T> nhwc_grad_rows(const T* gy, int64_t yc, int64_t t0) {
  return [gy, yc, t0](int64_t r0, int64_t rc, int64_t k0, int64_t kc, int64_t width, T* dst) {
    for (int64_t s0 = 0; s0 < rc; s0 += width) {
      const int64_t rows = std::min(width, rc - s0);
      T* d = dst + (s0 / width) * kc * width;
      const T* src = gy + (t0 + k0) * yc + r0 + s0;
      if (rows == 8 && width == 8) {  // fixed-size copies the compiler turns into vector moves
        for (int64_t k = 0; k < kc; ++k)
          for (int r = 0; r < 8; ++r) d[k * 8 + r] = src[k * yc + r];
        continue;
      }
      for (int64_t k = 0; k < kc; ++k) {
        for (int64_t r = 0; r < rows; ++r) d[k * width + r] = src[k * yc + r];
        for (int64_t r = rows; r < width; ++r) d[k * width + r] = T(0);
      }
    }
  };
}

#define FASTNN_INSTANTIATE(T)                                                               \
  template PackFn<T> nhwc_im2col<T>(const Geom&, const T*, int64_t);                        \
  template PackFn<T> nhwc_im2col_t<T>(const Geom&, const T*, int64_t, int64_t, bool);   \
  template PackFn<T> nhwc_grad_rows<T>(const T*, int64_t, int64_t);
FASTNN_INSTANTIATE(float)
FASTNN_INSTANTIATE(double)
#undef FASTNN_INSTANTIATE

}  // namespace fastnn::cpu::conv
