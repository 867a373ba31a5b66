// Implicit im2col for NCHW: packers that read convolution windows straight
// from the image into the GEMM core's panel layout (see gemm.h), so no
// im2col buffer is ever materialised.
#include <cstring>
#include <type_traits>
#include <vector>

#include "conv_common.h"

namespace fastnn::cpu::conv {

void Geom::valid_range(int64_t ow0, int64_t n, int64_t off, int64_t* lo, int64_t* hi) const {
  const int64_t base = ow0 * sw + off;  // input column of j = 0
  int64_t l = base >= 0 ? 0 : ceil_div(-base, sw);
  int64_t h = W - 1 - base < 0 ? 0 : std::min(n, (W - 1 - base) / sw + 1);
  l = std::min(l, n);
  *lo = l;
  *hi = std::max(h, l);
}

namespace {

// A run of consecutive output pixels on one output row (of one image).
struct PixelRun {
  int64_t n, oh, ow0, len, pos;  // image, row, first column, length, position in the block
};

// Splits pixels [t, t + count) (t counted over the batch, P per image) into runs.
void pixel_runs(int64_t t, int64_t count, int64_t P, int64_t OW, std::vector<PixelRun>* runs) {
  runs->clear();
  for (int64_t pos = 0; pos < count;) {
    const int64_t n = t / P, p = t % P, oh = p / OW, ow = p % OW;
    const int64_t len = std::min(OW - ow, count - pos);
    runs->push_back({n, oh, ow, len, pos});
    pos += len;
    t += len;
  }
}

// dst[j*step] = x[(ow0 + j)*sw + off] of input row `xr` (or 0 outside the
// image) for j < len; xr == nullptr means the whole row is padding.
template <typename T>
inline void gather_row(const Geom& g, const T* xr, int64_t ow0, int64_t len, int64_t off, T* dst,
                       int64_t step) {
  int64_t lo = len, hi = len;
  if (xr) g.valid_range(ow0, len, off, &lo, &hi);
  const T* src = xr ? xr + ow0 * g.sw + off : nullptr;
  if (step == 1) {
    std::fill(dst, dst + lo, T(0));
    if (g.sw == 1) {
      if (hi > lo) std::memcpy(dst + lo, src + lo, sizeof(T) * (hi - lo));
    } else {
      for (int64_t j = lo; j < hi; ++j) dst[j] = src[j * g.sw];
    }
    std::fill(dst + hi, dst + len, T(0));
  } else {
    for (int64_t j = 0; j < lo; ++j) dst[j * step] = T(0);
    for (int64_t j = lo; j < hi; ++j) dst[j * step] = src[j * g.sw];
    for (int64_t j = hi; j < len; ++j) dst[j * step] = T(0);
  }
}

}  // namespace

template <typename T>
PackFn<T> nchw_im2col(const Geom& g, const T* x) {
  return [g, x](int64_t r0, int64_t rc, int64_t k0, int64_t kc, int64_t width, T* dst) {
    if constexpr (std::is_same_v<T, float>) {
      if (avx512::nchw_im2col_f32(g, x, r0, rc, k0, kc, width, dst)) return;
    }
    const int64_t HW = g.H * g.W, KK = g.KH * g.KW;
    thread_local std::vector<PixelRun> runs;
    for (int64_t s0 = 0; s0 < rc; s0 += width) {
      const int64_t rows = std::min(width, rc - s0);
      T* d = dst + (s0 / width) * kc * width;
      pixel_runs(r0 + s0, rows, g.P(), g.OW, &runs);
      int64_t c = k0 / KK, kk = k0 % KK, kh = kk / g.KW, kw = kk % g.KW;
      for (int64_t k = 0; k < kc; ++k) {
        T* dk = d + k * width;
        const T* xc = x + c * HW;
        const int64_t offw = kw * g.dw - g.pw;
        for (const PixelRun& s : runs) {
          const int64_t ih = s.oh * g.sh + kh * g.dh - g.ph;
          gather_row(g, ih >= 0 && ih < g.H ? xc + ih * g.W : nullptr, s.ow0, s.len, offw, dk + s.pos, 1);
        }
        std::fill(dk + rows, dk + width, T(0));
        if (++kw == g.KW) {
          kw = 0;
          if (++kh == g.KH) kh = 0, ++c;
        }
      }
    }
  };
}

template <typename T>
PackFn<T> nchw_im2col_t(const Geom& g, const T* x, int64_t x_img, int64_t t0, bool ones_row) {
  return [g, x, x_img, t0, ones_row](int64_t r0, int64_t rc, int64_t k0, int64_t kc, int64_t width, T* dst) {
    if constexpr (std::is_same_v<T, float>) {
      if (avx512::nchw_im2col_t_f32(g, x, x_img, t0, ones_row, r0, rc, k0, kc, width, dst)) return;
    }
    const int64_t HW = g.H * g.W, KK = g.KH * g.KW, K = g.K();
    thread_local std::vector<PixelRun> runs;
    pixel_runs(t0 + k0, kc, g.P(), g.OW, &runs);
    for (int64_t s0 = 0; s0 < rc; s0 += width) {
      const int64_t rows = std::min(width, rc - s0);
      T* d = dst + (s0 / width) * kc * width;
      for (int64_t r = 0; r < width; ++r) {
        const int64_t row = r0 + s0 + r;
        if (r >= rows || row > K || (row == K && !ones_row)) {
          for (int64_t k = 0; k < kc; ++k) d[k * width + r] = T(0);
          continue;
        }
        if (row == K) {  // ones: its product with grad_output is grad_bias
          for (int64_t k = 0; k < kc; ++k) d[k * width + r] = T(1);
          continue;
        }
        const int64_t c = row / KK, kh = (row % KK) / g.KW, kw = row % g.KW;
        const int64_t offw = kw * g.dw - g.pw;
        for (const PixelRun& s : runs) {
          const int64_t ih = s.oh * g.sh + kh * g.dh - g.ph;
          const T* xr = ih >= 0 && ih < g.H ? x + s.n * x_img + c * HW + ih * g.W : nullptr;
          gather_row(g, xr, s.ow0, s.len, offw, d + s.pos * width + r, width);
        }
      }
    }
  };
}

template <typename T>
PackFn<T> nchw_grad_rows(const T* gy, int64_t P, int64_t y_img, int64_t t0) {
  return [gy, P, y_img, t0](int64_t r0, int64_t rc, int64_t k0, int64_t kc, int64_t width, T* dst) {
    if constexpr (std::is_same_v<T, float>) {
      if (avx512::nchw_grad_rows_f32(gy, P, y_img, t0, r0, rc, k0, kc, width, dst)) return;
    }
    for (int64_t s0 = 0; s0 < rc; s0 += width) {
      const int64_t rows = std::min(width, rc - s0);
      T* d = dst + (s0 / width) * kc * width;
      for (int64_t r = 0; r < width; ++r) {
        if (r >= rows) {
          for (int64_t k = 0; k < kc; ++k) d[k * width + r] = T(0);
          continue;
        }
        const int64_t oc = r0 + s0 + r;
        for (int64_t k = 0, t = t0 + k0; k < kc;) {
          const int64_t n = t / P, p = t % P, len = std::min(P - p, kc - k);
          const T* src = gy + n * y_img + oc * P + p;
          for (int64_t j = 0; j < len; ++j) d[(k + j) * width + r] = src[j];
          k += len;
          t += len;
        }
      }
    }
  };
}

#define FASTNN_INSTANTIATE(T)                                                          \
  template PackFn<T> nchw_im2col<T>(const Geom&, const T*);                            \
  template PackFn<T> nchw_im2col_t<T>(const Geom&, const T*, int64_t, int64_t, bool);  \
  template PackFn<T> nchw_grad_rows<T>(const T*, int64_t, int64_t, int64_t);
FASTNN_INSTANTIATE(float)
FASTNN_INSTANTIATE(double)
#undef FASTNN_INSTANTIATE

}  // namespace fastnn::cpu::conv
