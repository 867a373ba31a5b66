// Depthwise convolution (groups == in_channels == out_channels) as direct
// loops: each output channel sees one input channel, so a GEMM would have
// K = KH*KW only. NCHW vectorises along image rows, NHWC along channels.
#include <type_traits>
#include <vector>

#include "conv_common.h"

namespace fastnn::cpu::conv {
namespace {

// Channel-block size for NHWC tasks: enough blocks for every thread, whole vectors.
int64_t channel_block(int64_t channels) {
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t cb = ceil_div(ceil_div(channels, threads), 16) * 16;
  return std::clamp<int64_t>(cb, 16, 256);
}

// w [C, KK] -> wt [KK, C] so a tap's weights are contiguous over channels.
template <typename T>
std::vector<T> taps_major(const T* w, int64_t channels, int64_t KK) {
  std::vector<T> wt(static_cast<size_t>(channels * KK));
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t t = 0; t < KK; ++t) wt[t * channels + c] = w[c * KK + t];
  return wt;
}

}  // namespace

template <typename T>
void depthwise_forward(const Geom& g, int64_t CH, bool nhwc, const T* x, const T* w, const T* bias, T* y) {
  if constexpr (std::is_same_v<T, float>) {
    if (avx512::depthwise_forward_f32(g, CH, nhwc, x, w, bias, y)) return;
  }
  const int64_t KK = g.KH * g.KW, HW = g.H * g.W, P = g.P();
  if (!nhwc) {
    at::parallel_for(0, g.N * CH, 1, [&](int64_t b, int64_t e) {
      for (int64_t plane = b; plane < e; ++plane) {
        const int64_t c = plane % CH;
        const T* xp = x + plane * HW;
        const T* wc = w + c * KK;
        T* yp = y + plane * P;
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          T* yr = yp + oh * g.OW;
          std::fill(yr, yr + g.OW, bias ? bias[c] : T(0));
          for (int64_t kh = 0; kh < g.KH; ++kh) {
            const int64_t ih = oh * g.sh + kh * g.dh - g.ph;
            if (ih < 0 || ih >= g.H) continue;
            const T* xr = xp + ih * g.W;
            for (int64_t kw = 0; kw < g.KW; ++kw) {
              const int64_t off = kw * g.dw - g.pw;
              const T wv = wc[kh * g.KW + kw];
              int64_t lo, hi;
              g.valid_range(0, g.OW, off, &lo, &hi);
              if (g.sw == 1) {
                if (hi > lo) vaxpy(yr + lo, wv, xr + off + lo, hi - lo);
              } else {
                for (int64_t j = lo; j < hi; ++j) yr[j] += wv * xr[j * g.sw + off];
              }
            }
          }
        }
      }
    });
    return;
  }
  const std::vector<T> wt = taps_major(w, CH, KK);
  at::parallel_for(0, g.N * g.OH, 1, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const int64_t n = row / g.OH, oh = row % g.OH;
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        T* yo = y + (row * g.OW + ow) * CH;
        if (bias) std::copy(bias, bias + CH, yo);
        else std::fill(yo, yo + CH, T(0));
        for (int64_t kh = 0; kh < g.KH; ++kh) {
          const int64_t ih = oh * g.sh + kh * g.dh - g.ph;
          if (ih < 0 || ih >= g.H) continue;
          for (int64_t kw = 0; kw < g.KW; ++kw) {
            const int64_t iw = ow * g.sw + kw * g.dw - g.pw;
            if (iw < 0 || iw >= g.W) continue;
            vfma(yo, wt.data() + (kh * g.KW + kw) * CH, x + ((n * g.H + ih) * g.W + iw) * CH, CH);
          }
        }
      }
    }
  });
}

template <typename T>
void depthwise_grad_input(const Geom& g, int64_t CH, bool nhwc, const T* gy, const T* w, T* gx) {
  const int64_t KK = g.KH * g.KW, HW = g.H * g.W, P = g.P();
  if (g.sh == 1 && g.sw == 1) {
    // stride 1: a depthwise convolution of gy with the flipped kernel,
    // padding d*(k-1) - p, output size H x W (the forward kernel again)
    std::vector<T> wf(static_cast<size_t>(CH * KK));
    for (int64_t c = 0; c < CH; ++c)
      for (int64_t t = 0; t < KK; ++t) wf[c * KK + t] = w[c * KK + KK - 1 - t];
    Geom t = g;
    t.H = g.OH, t.W = g.OW, t.OH = g.H, t.OW = g.W;
    t.ph = g.dh * (g.KH - 1) - g.ph, t.pw = g.dw * (g.KW - 1) - g.pw;
    return depthwise_forward<T>(t, CH, nhwc, gy, wf.data(), nullptr, gx);
  }
  if (!nhwc) {
    at::parallel_for(0, g.N * CH, 1, [&](int64_t b, int64_t e) {
      for (int64_t plane = b; plane < e; ++plane) {
        const int64_t c = plane % CH;
        const T* gp = gy + plane * P;
        const T* wc = w + c * KK;
        T* xp = gx + plane * HW;
        std::fill(xp, xp + HW, T(0));
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          const T* gr = gp + oh * g.OW;
          for (int64_t kh = 0; kh < g.KH; ++kh) {
            const int64_t ih = oh * g.sh + kh * g.dh - g.ph;
            if (ih < 0 || ih >= g.H) continue;
            T* xr = xp + ih * g.W;
            for (int64_t kw = 0; kw < g.KW; ++kw) {
              const int64_t off = kw * g.dw - g.pw;
              const T wv = wc[kh * g.KW + kw];
              int64_t lo, hi;
              g.valid_range(0, g.OW, off, &lo, &hi);
              if (g.sw == 1) {
                if (hi > lo) vaxpy(xr + off + lo, wv, gr + lo, hi - lo);
              } else {
                for (int64_t j = lo; j < hi; ++j) xr[j * g.sw + off] += wv * gr[j];
              }
            }
          }
        }
      }
    });
    return;
  }
  // NHWC: windows of neighbouring pixels overlap, so tasks own (image, channel block).
  const std::vector<T> wt = taps_major(w, CH, KK);
  const int64_t cb = channel_block(CH), nb = ceil_div(CH, cb);
  at::parallel_for(0, g.N * nb, 1, [&](int64_t b, int64_t e) {
    for (int64_t task = b; task < e; ++task) {
      const int64_t n = task / nb, c0 = (task % nb) * cb, cl = std::min(cb, CH - c0);
      T* xi = gx + n * HW * CH + c0;
      for (int64_t i = 0; i < HW; ++i) std::fill(xi + i * CH, xi + i * CH + cl, T(0));
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const T* go = gy + ((n * g.OH + oh) * g.OW + ow) * CH + c0;
          for (int64_t kh = 0; kh < g.KH; ++kh) {
            const int64_t ih = oh * g.sh + kh * g.dh - g.ph;
            if (ih < 0 || ih >= g.H) continue;
            for (int64_t kw = 0; kw < g.KW; ++kw) {
              const int64_t iw = ow * g.sw + kw * g.dw - g.pw;
              if (iw < 0 || iw >= g.W) continue;
              vfma(xi + (ih * g.W + iw) * CH, wt.data() + (kh * g.KW + kw) * CH + c0, go, cl);
            }
          }
        }
      }
    }
  });
}

template <typename T>
void depthwise_grad_weight_bias(const Geom& g, int64_t CH, bool nhwc, const T* gy, const T* x, T* gw, T* gb) {
  if constexpr (std::is_same_v<T, float>) {
    if (avx512::depthwise_grad_weight_bias_f32(g, CH, nhwc, gy, x, gw, gb)) return;
  }
  const int64_t KK = g.KH * g.KW, HW = g.H * g.W, P = g.P();
  if (!nhwc) {
    at::parallel_for(0, CH, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        std::vector<T> acc(static_cast<size_t>(KK), T(0));
        T bsum = 0;
        for (int64_t n = 0; n < g.N; ++n) {
          const T* gp = gy + (n * CH + c) * P;
          const T* xp = x + (n * CH + c) * HW;
          for (int64_t oh = 0; oh < g.OH; ++oh) {
            const T* gr = gp + oh * g.OW;
            if (gb) bsum += vsum(gr, g.OW);
            if (!gw) continue;
            for (int64_t kh = 0; kh < g.KH; ++kh) {
              const int64_t ih = oh * g.sh + kh * g.dh - g.ph;
              if (ih < 0 || ih >= g.H) continue;
              const T* xr = xp + ih * g.W;
              for (int64_t kw = 0; kw < g.KW; ++kw) {
                const int64_t off = kw * g.dw - g.pw;
                int64_t lo, hi;
                g.valid_range(0, g.OW, off, &lo, &hi);
                T s = 0;
                if (g.sw == 1) {
                  if (hi > lo) s = vdot(gr + lo, xr + off + lo, hi - lo);
                } else {
                  for (int64_t j = lo; j < hi; ++j) s += gr[j] * xr[j * g.sw + off];
                }
                acc[kh * g.KW + kw] += s;
              }
            }
          }
        }
        if (gw) std::copy(acc.begin(), acc.end(), gw + c * KK);
        if (gb) gb[c] = bsum;
      }
    });
    return;
  }
  const int64_t cb = channel_block(CH), nb = ceil_div(CH, cb);
  at::parallel_for(0, nb, 1, [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; ++blk) {
      const int64_t c0 = blk * cb, cl = std::min(cb, CH - c0);
      std::vector<T> acc(static_cast<size_t>(KK * cl), T(0)), bsum(static_cast<size_t>(cl), T(0));
      for (int64_t n = 0; n < g.N; ++n) {
        for (int64_t oh = 0; oh < g.OH; ++oh) {
          for (int64_t ow = 0; ow < g.OW; ++ow) {
            const T* go = gy + ((n * g.OH + oh) * g.OW + ow) * CH + c0;
            if (gb) vadd(bsum.data(), go, cl);
            if (!gw) continue;
            for (int64_t kh = 0; kh < g.KH; ++kh) {
              const int64_t ih = oh * g.sh + kh * g.dh - g.ph;
              if (ih < 0 || ih >= g.H) continue;
              for (int64_t kw = 0; kw < g.KW; ++kw) {
                const int64_t iw = ow * g.sw + kw * g.dw - g.pw;
                if (iw < 0 || iw >= g.W) continue;
                vfma(acc.data() + (kh * g.KW + kw) * cl, go, x + ((n * g.H + ih) * g.W + iw) * CH + c0, cl);
              }
            }
          }
        }
      }
      for (int64_t c = 0; c < cl; ++c) {
        if (gw)
          for (int64_t t = 0; t < KK; ++t) gw[(c0 + c) * KK + t] = acc[t * cl + c];
        if (gb) gb[c0 + c] = bsum[c];
      }
    }
  });
}

#define FASTNN_INSTANTIATE(T)                                                                          \
  template void depthwise_forward<T>(const Geom&, int64_t, bool, const T*, const T*, const T*, T*);    \
  template void depthwise_grad_input<T>(const Geom&, int64_t, bool, const T*, const T*, T*);           \
  template void depthwise_grad_weight_bias<T>(const Geom&, int64_t, bool, const T*, const T*, T*, T*);
FASTNN_INSTANTIATE(float)
FASTNN_INSTANTIATE(double)
#undef FASTNN_INSTANTIATE

}  // namespace fastnn::cpu::conv
