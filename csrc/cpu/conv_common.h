// Shared pieces of the CPU convolution kernels: the per-group geometry, the
// implicit-im2col packers (row sources for the GEMM core), col2im, the
// depthwise direct kernels and small vector loops.
//
// Layouts: NCHW tensors are contiguous; NHWC (channels_last) tensors are
// contiguous in channels_last, so pixel t = (n*H + h)*W + w has its channels
// at t*C_total. K (the GEMM reduction index) is ordered (c, kh, kw) for NCHW,
// matching the weight [OC, C, KH, KW], and (kh, kw, c) for NHWC, matching the
// weight permuted to [OC, KH, KW, C].
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>

#include "gemm/gemm.h"

namespace fastnn::cpu::conv {

struct Geom {
  int64_t N = 0, C = 0, H = 0, W = 0;  // batch, input channels of one group, input size
  int64_t OC = 0, OH = 0, OW = 0;      // output channels of one group, output size
  int64_t KH = 1, KW = 1;
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;  // padding may be negative (backward)
  int64_t K() const { return C * KH * KW; }
  int64_t P() const { return OH * OW; }  // output pixels per image
  // Output columns ow in [0, n) starting at ow0 whose input column
  // ow*sw + off lies in [0, W): returns [lo, hi).
  void valid_range(int64_t ow0, int64_t n, int64_t off, int64_t* lo, int64_t* hi) const;
  bool is_pointwise() const {  // 1x1, stride 1, no padding: im2col is the input itself
    return KH == 1 && KW == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
  }
};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Walks output pixels t, t+1, ... of the batch without a division per pixel.
struct PixelCursor {
  int64_t n, oh, ow, OH, OW;
  PixelCursor(int64_t t, int64_t OH_, int64_t OW_) : OH(OH_), OW(OW_) {
    const int64_t P = OH * OW, p = t % P;
    n = t / P;
    oh = p / OW;
    ow = p % OW;
  }
  void next() {
    if (++ow == OW) {
      ow = 0;
      if (++oh == OH) oh = 0, ++n;
    }
  }
};

// For the `width` output pixels of a packed strip starting at `pc` (which it
// advances): each pixel's image and the top-left input row/column of its
// window. Pixels past `rows` (zero padding of the strip) get a null image.
template <typename T>
inline void strip_window_origins(const Geom& g, PixelCursor& pc, const T* x, int64_t img_stride,
                                 int64_t width, int64_t rows, const T** img, int64_t* ih0, int64_t* iw0) {
  for (int64_t r = 0; r < width; ++r, pc.next()) {
    img[r] = nullptr;
    ih0[r] = iw0[r] = 0;
    if (r >= rows) continue;
    img[r] = x + pc.n * img_stride;
    ih0[r] = pc.oh * g.sh - g.ph;
    iw0[r] = pc.ow * g.sw - g.pw;
  }
}

// The k index (kh, kw, c) of NHWC im2col, advanced without divisions.
struct TapCursor {
  int64_t kh, kw, c;
  TapCursor(const Geom& g, int64_t k) {
    const int64_t tap = k / g.C;
    c = k % g.C;
    kh = tap / g.KW;
    kw = tap % g.KW;
  }
  void advance(const Geom& g, int64_t n) {
    c += n;
    while (c >= g.C) {
      c -= g.C;
      if (++kw == g.KW) kw = 0, ++kh;
    }
  }
};

// NHWC im2col source: for the output pixel whose window starts at (ih0, iw0)
// in image `img` (null: a padding row of the panel), the k index (kh, kw, c0)
// reads from the returned pointer; *len is how many consecutive k indices
// the pointer covers. With dilation 1 and ungrouped channels, the taps
// kw..KW-1 of a window row are adjacent in memory, so one run spans them all
// (long runs matter most when C is small). Padding reads from `zeros`
// (length >= KW*C).
template <typename T>
inline const T* nhwc_tap(const Geom& g, const T* img, int64_t ih0, int64_t iw0, int64_t kh, int64_t kw, int64_t c0,
                         int64_t xc, const T* zeros, int64_t* len) {
  const int64_t ih = ih0 + kh * g.dh, iw = iw0 + kw * g.dw;
  if (!img || ih < 0 || ih >= g.H) {
    *len = (g.KW - kw) * g.C - c0;
    return zeros;
  }
  if (iw < 0 || iw >= g.W) {
    *len = g.C - c0;
    return zeros;
  }
  const bool row_inside = g.dw == 1 && xc == g.C && iw0 + g.KW - 1 < g.W;
  *len = row_inside ? (g.KW - kw) * g.C - c0 : g.C - c0;
  return img + (ih * g.W + iw) * xc + c0;
}

// --- NCHW packers (conv_pack_nchw.cpp) ------------------------------------
// Rows = output pixels p of one image, k = (c, kh, kw). x: image n, group's
// first channel (channel stride H*W).
template <typename T>
PackFn<T> nchw_im2col(const Geom& g, const T* x);
// Rows = k index (c, kh, kw), plus a row of ones at index K when `ones_row`
// (its product with grad_output is grad_bias); inner = pixel t = n*P + p
// counted from t0. x: image 0, group's first channel; image stride x_img.
template <typename T>
PackFn<T> nchw_im2col_t(const Geom& g, const T* x, int64_t x_img, int64_t t0, bool ones_row);
// Rows = output channels of one group, inner = pixel t from t0 over the batch:
// element gy[n*y_img + oc*P + p].
template <typename T>
PackFn<T> nchw_grad_rows(const T* gy, int64_t P, int64_t y_img, int64_t t0);

// --- NHWC packers (conv_pack_nhwc.cpp) ------------------------------------
// Rows = output pixel t over the batch, k = (kh, kw, c). x: group's first
// channel of pixel 0; xc: channel stride between pixels (C_total).
template <typename T>
PackFn<T> nhwc_im2col(const Geom& g, const T* x, int64_t xc);
// Rows = k index (kh, kw, c) (+ ones row at K), inner = pixel t from t0.
template <typename T>
PackFn<T> nhwc_im2col_t(const Geom& g, const T* x, int64_t xc, int64_t t0, bool ones_row);
// Rows = output channels of one group, inner = pixel t from t0: gy[t*yc + oc]
// (grad_output^T; each k is a contiguous run of channels).
template <typename T>
PackFn<T> nhwc_grad_rows(const T* gy, int64_t yc, int64_t t0);

// AVX-512 float32 fast paths of the packers above (conv_pack_avx512.cpp);
// each returns false when it does not apply and the generic code runs.
namespace avx512 {
bool nchw_im2col_f32(const Geom& g, const float* x, int64_t r0, int64_t rc, int64_t k0, int64_t kc, int64_t width,
                     float* dst);
bool nchw_im2col_t_f32(const Geom& g, const float* x, int64_t x_img, int64_t t0, bool ones_row, int64_t r0,
                       int64_t rc, int64_t k0, int64_t kc, int64_t width, float* dst);
bool nhwc_im2col_f32(const Geom& g, const float* x, int64_t xc, int64_t r0, int64_t rc, int64_t k0, int64_t kc,
                     int64_t width, float* dst);
bool nhwc_im2col_t_f32(const Geom& g, const float* x, int64_t xc, int64_t t0, bool ones_row, int64_t r0, int64_t rc,
                       int64_t k0, int64_t kc, int64_t width, float* dst);
bool nchw_grad_rows_f32(const float* gy, int64_t P, int64_t y_img, int64_t t0, int64_t r0, int64_t rc, int64_t k0,
                        int64_t kc, int64_t width, float* dst);
// Depthwise (conv_depthwise_avx512.cpp): same contracts as the generic ones below.
bool depthwise_forward_f32(const Geom& g, int64_t channels, bool nhwc, const float* x, const float* w,
                           const float* bias, float* y);
bool depthwise_grad_weight_bias_f32(const Geom& g, int64_t channels, bool nhwc, const float* gy, const float* x,
                                    float* gw, float* gb);
}  // namespace avx512

// --- col2im (conv_col2im.cpp): scatter-add a column block back to the image.
// NCHW: col[k, j] (row stride ld), k = (c, kh, kw), pixels p0 + j, j < np;
// gx: image n, group's first channel.
template <typename T>
void nchw_col2im(const Geom& g, const T* col, int64_t ld, int64_t p0, int64_t np, T* gx);
// NHWC: col[j, k] (row stride ld), k = (kh, kw, c), pixels t0 + j of image n.
template <typename T>
void nhwc_col2im(const Geom& g, const T* col, int64_t ld, int64_t p0, int64_t np, T* gx_img, int64_t xc);

// --- depthwise direct kernels (conv_depthwise.cpp), groups == C_in == C_out.
// Geom has C = OC = 1; channels = the tensor's channel count; w is [C, KH*KW].
template <typename T>
void depthwise_forward(const Geom& g, int64_t channels, bool nhwc, const T* x, const T* w, const T* bias,
                       T* y);
template <typename T>
void depthwise_grad_input(const Geom& g, int64_t channels, bool nhwc, const T* gy, const T* w, T* gx);
// gw [C, KH*KW] and gb [C] (either may be null).
template <typename T>
void depthwise_grad_weight_bias(const Geom& g, int64_t channels, bool nhwc, const T* gy, const T* x, T* gw,
                                T* gb);

// --- vector loops (conv_vec.cpp), compiled per ISA with target_clones.
void vaxpy(float* y, float a, const float* x, int64_t n);  // y += a*x
void vaxpy(double* y, double a, const double* x, int64_t n);
void vfma(float* y, const float* a, const float* b, int64_t n);  // y += a*b
void vfma(double* y, const double* a, const double* b, int64_t n);
void vadd(float* y, const float* x, int64_t n);  // y += x
void vadd(double* y, const double* x, int64_t n);
float vdot(const float* a, const float* b, int64_t n);
double vdot(const double* a, const double* b, int64_t n);
float vsum(const float* a, int64_t n);
double vsum(const double* a, int64_t n);

// Runs fn(n, inner_parallel) for every image: images spread over threads
// when the batch keeps every thread busy, else one image at a time with the
// work inside fn parallel.
template <typename F>
void for_each_image(int64_t N, F&& fn) {
  const int64_t threads = at::in_parallel_region() ? 1 : at::get_num_threads();
  if (threads > 1 && N >= threads && (N % threads == 0 || N >= 4 * threads)) {
    at::parallel_for(0, N, 1, [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n) fn(n, false);
    });
  } else {
    for (int64_t n = 0; n < N; ++n) fn(n, threads > 1);
  }
}

}  // namespace fastnn::cpu::conv
