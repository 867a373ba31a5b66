// col2im: scatter-adds column blocks (products W^T * grad_output) back onto
// the input gradient; used for strided convolutions, whose input gradient is
// not a plain stride-1 convolution.
#include "conv_common.h"

namespace fastnn::cpu::conv {

template <typename T>
void nchw_col2im(const Geom& g, const T* col, int64_t ld, int64_t p0, int64_t np, T* gx) {
  const int64_t HW = g.H * g.W, K = g.K(), KK = g.KH * g.KW;
  for (int64_t k = 0; k < K; ++k) {
    const int64_t c = k / KK, kh = (k % KK) / g.KW, kw = k % g.KW;
    const int64_t offw = kw * g.dw - g.pw;
    const T* ck = col + k * ld;
    T* gxc = gx + c * HW;
    for (int64_t j = 0, p = p0; j < np;) {
      const int64_t oh = p / g.OW, ow0 = p % g.OW, len = std::min(g.OW - ow0, np - j);
      const int64_t ih = oh * g.sh + kh * g.dh - g.ph;
      if (ih >= 0 && ih < g.H) {
        int64_t lo, hi;
        g.valid_range(ow0, len, offw, &lo, &hi);
        T* gr = gxc + ih * g.W + ow0 * g.sw + offw;
        const T* cs = ck + j;
        if (g.sw == 1) {
          if (hi > lo) vadd(gr + lo, cs + lo, hi - lo);
        } else {
          for (int64_t i = lo; i < hi; ++i) gr[i * g.sw] += cs[i];
        }
      }
      j += len;
      p += len;
    }
  }
}

template <typename T>
void nhwc_col2im(const Geom& g, const T* col, int64_t ld, int64_t p0, int64_t np, T* gx_img, int64_t xc) {
  for (int64_t j = 0; j < np; ++j) {
    const int64_t p = p0 + j, oh = p / g.OW, ow = p % g.OW;
    const T* cj = col + j * ld;
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const int64_t ih = oh * g.sh + kh * g.dh - g.ph;
      if (ih < 0 || ih >= g.H) continue;
      const int64_t iw0 = ow * g.sw - g.pw;
      if (g.dw == 1 && xc == g.C && iw0 >= 0 && iw0 + g.KW <= g.W) {  // the window row is one run
        vadd(gx_img + (ih * g.W + iw0) * xc, cj + kh * g.KW * g.C, g.KW * g.C);
        continue;
      }
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t iw = iw0 + kw * g.dw;
        if (iw < 0 || iw >= g.W) continue;
        vadd(gx_img + (ih * g.W + iw) * xc, cj + (kh * g.KW + kw) * g.C, g.C);
      }
    }
  }
}

template void nchw_col2im<float>(const Geom&, const float*, int64_t, int64_t, int64_t, float*);
template void nchw_col2im<double>(const Geom&, const double*, int64_t, int64_t, int64_t, double*);
template void nhwc_col2im<float>(const Geom&, const float*, int64_t, int64_t, int64_t, float*, int64_t);
template void nhwc_col2im<double>(const Geom&, const double*, int64_t, int64_t, int64_t, double*, int64_t);

}  // namespace fastnn::cpu::conv
