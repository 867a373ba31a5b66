// CPU kernel for fastnn::conv2d_backward. Only the gradients in output_mask
// are computed.
//   grad_input, stride 1: a stride-1 convolution of grad_output with the
//     flipped, channel-transposed weight (the forward implicit GEMM again).
//   grad_input, strided: column blocks W^T * grad_output, scattered by col2im.
//   grad_weight (+ grad_bias in the same GEMM, via a row of ones appended to
//     the im2col operand): grad_output * col^T over all pixels of the batch,
//     the pixel range split over threads with one partial sum per thread;
//     float32 first tries the direct kernels (conv_nhwc_direct.cpp,
//     conv_nchw_grad_weight.cpp), which read the image in place.
//   depthwise: direct loops.
#include <torch/library.h>

#include <tuple>
#include <type_traits>
#include <vector>

#include "../linear.h"  // check_cpu_dtype
#include "conv_driver.h"
#include "gemm/activation.h"
#include "output_cache.h"

namespace fastnn::cpu::conv {
namespace {

template <typename T>
void grad_input_strided(const Geom& g, const at::Tensor& gy, const at::Tensor& w, int64_t G, bool nhwc,
                        at::Tensor& gx) {
  const int64_t Ctot = gx.size(1), OCtot = w.size(0), P = g.P(), HW = g.H * g.W, K = g.K();
  // column block: K x chunk pixels, about 512 KB of float
  const int64_t chunk = std::clamp<int64_t>((int64_t(1) << 17) / std::max<int64_t>(K, 1) / 32 * 32, 32, P);
  const at::Tensor wl = nhwc ? w.permute({0, 2, 3, 1}).contiguous() : w.contiguous();  // [OC, K]
  const T* wp = wl.data_ptr<T>();
  const T* gyp = gy.data_ptr<T>();
  T* gxp = gx.data_ptr<T>();
  gx.zero_();
  for_each_image(g.N, [&](int64_t n, bool par) {
    thread_local std::vector<T> col;
    col.resize(static_cast<size_t>(K * chunk));
    for (int64_t gi = 0; gi < G; ++gi) {
      const T* wg = wp + gi * g.OC * K;
      for (int64_t p0 = 0; p0 < P; p0 += chunk) {
        const int64_t np = std::min(chunk, P - p0);
        if (!nhwc) {
          // col[k, j] = sum_oc W[oc, k] * gy[oc, p0 + j]
          gemm<T>(K, np, g.OC, RowSource<T>::view(wg, 1, K),
                  RowSource<T>::view(gyp + (n * OCtot + gi * g.OC) * P + p0, 1, P), {col.data(), np, 1}, {},
                  par);
          nchw_col2im<T>(g, col.data(), np, p0, np, gxp + (n * Ctot + gi * g.C) * HW);
        } else {
          // col[j, k] = sum_oc gy[p0 + j, oc] * W[oc, k]
          gemm<T>(np, K, g.OC, RowSource<T>::view(gyp + (n * P + p0) * OCtot + gi * g.OC, OCtot, 1),
                  RowSource<T>::view(wg, 1, K), {col.data(), K, 1}, {}, par);
          nhwc_col2im<T>(g, col.data(), K, p0, np, gxp + n * HW * Ctot + gi * g.C, Ctot);
        }
      }
    }
  });
}

template <typename T>
void grad_input(const Geom& g, const at::Tensor& gy, const at::Tensor& w, const ConvParams& p, bool nhwc,
                bool depthwise, at::Tensor& gx) {
  if (depthwise) {
    const at::Tensor wc = w.contiguous();
    depthwise_grad_input<T>(g, gx.size(1), nhwc, gy.data_ptr<T>(), wc.data_ptr<T>(), gx.data_ptr<T>());
    return;
  }
  // The stride-1 transposed convolution packs OC*KH*KW values per input pixel
  // for 2*C flops each; with few input channels (a network's first layer)
  // the column GEMM + col2im is cheaper.
  const bool few_channels = g.C < 16 && g.C * 2 < g.OC;
  if (g.sh != 1 || g.sw != 1 || few_channels) return grad_input_strided<T>(g, gy, w, p.groups, nhwc, gx);
  // gx = conv(gy, W'), W'[g*C + c, oc, kh, kw] = W[g*OC + oc, c, KH-1-kh, KW-1-kw],
  // stride 1, padding d*(k-1) - p (possibly negative), same dilation and groups.
  const int64_t G = p.groups;
  const at::Tensor wt = w.reshape({G, g.OC, g.C, g.KH, g.KW}).transpose(1, 2).flip({3, 4}).reshape(
      {G * g.C, g.OC, g.KH, g.KW});
  ConvParams q = p;
  q.padding = {g.dh * (g.KH - 1) - g.ph, g.dw * (g.KW - 1) - g.pw};
  forward_into(gy, wt, at::Tensor(), q, Act::None, nhwc, gx);
}

// Column sums of grad_output per channel (grad_bias alone).
template <typename T>
void grad_bias_only(const at::Tensor& gy, bool nhwc, T* gb) {
  const int64_t N = gy.size(0), OC = gy.size(1), P = gy.size(2) * gy.size(3);
  const T* d = gy.data_ptr<T>();
  if (!nhwc) {
    at::parallel_for(0, OC, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) {
        T s = 0;
        for (int64_t n = 0; n < N; ++n) s += vsum(d + (n * OC + c) * P, P);
        gb[c] = s;
      }
    });
  } else {
    std::fill(gb, gb + OC, T(0));
    for (int64_t t = 0; t < N * P; ++t) vadd(gb, d + t * OC, OC);
  }
}

template <typename T>
void grad_weight_bias(const Geom& g, const at::Tensor& gy, const at::Tensor& x, int64_t G, bool nhwc,
                      bool depthwise, at::Tensor* gw, at::Tensor* gb) {
  const int64_t Ctot = x.size(1), OCtot = gy.size(1), P = g.P(), HW = g.H * g.W, K = g.K();
  const T* gyp = gy.data_ptr<T>();
  const T* xp = x.data_ptr<T>();
  T* gbp = gb ? gb->data_ptr<T>() : nullptr;
  if (depthwise) {
    at::Tensor tmp = gw ? cpu::empty_cached({OCtot, g.KH * g.KW}, gw->options()) : at::Tensor();
    depthwise_grad_weight_bias<T>(g, Ctot, nhwc, gyp, xp, gw ? tmp.data_ptr<T>() : nullptr, gbp);
    if (gw) gw->copy_(tmp.view(gw->sizes()));
    return;
  }
  if (!gw) return grad_bias_only<T>(gy, nhwc, gbp);
  T* gwp = gw->data_ptr<T>();  // [OC, K] in the layout's K order
  if constexpr (std::is_same_v<T, float>) {
    if (nhwc && nhwc_direct_grad_weight_f32(g, G, Ctot, OCtot, xp, gyp, gwp, gbp)) return;
    if (!nhwc && !g.is_pointwise() && nchw_direct_grad_weight_f32(g, G, Ctot, OCtot, xp, gyp, gwp)) {
      if (gbp) grad_bias_only<T>(gy, nhwc, gbp);
      return;
    }
  }
  const int64_t total = g.N * P, Kb = K + (gb ? 1 : 0);
  const int64_t threads = at::get_num_threads();
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(threads, total / 256));
  std::vector<T> partial(static_cast<size_t>(chunks * g.OC * Kb));
  for (int64_t gi = 0; gi < G; ++gi) {
    at::parallel_for(0, chunks, 1, [&](int64_t b, int64_t e) {
      for (int64_t ch = b; ch < e; ++ch) {
        const int64_t t0 = total * ch / chunks, t1 = total * (ch + 1) / chunks;
        RowSource<T> a, bt;
        if (!nhwc) {
          a = RowSource<T>::custom(nchw_grad_rows<T>(gyp + gi * g.OC * P, P, OCtot * P, t0));
          bt = RowSource<T>::custom(nchw_im2col_t<T>(g, xp + gi * g.C * HW, Ctot * HW, t0, gb != nullptr));
        } else {
          a = RowSource<T>::custom(nhwc_grad_rows<T>(gyp + gi * g.OC, OCtot, t0));
          bt = RowSource<T>::custom(nhwc_im2col_t<T>(g, xp + gi * g.C, Ctot, t0, gb != nullptr));
        }
        gemm<T>(g.OC, Kb, t1 - t0, a, bt, {partial.data() + ch * g.OC * Kb, Kb, 1}, {}, false);
      }
    });
    for (int64_t oc = 0; oc < g.OC; ++oc) {
      T* dst = gwp + (gi * g.OC + oc) * K;
      const T* src = partial.data() + oc * Kb;
      std::copy(src, src + K, dst);
      if (gb) gbp[gi * g.OC + oc] = src[K];
      for (int64_t ch = 1; ch < chunks; ++ch) {
        const T* s = src + ch * g.OC * Kb;
        vadd(dst, s, K);
        if (gb) gbp[gi * g.OC + oc] += s[K];
      }
    }
  }
}

}  // namespace
}  // namespace fastnn::cpu::conv

namespace fastnn {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> conv2d_backward_cpu(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& weight, const at::Tensor& saved,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
    c10::string_view activation, std::array<bool, 3> mask) {
  using namespace cpu::conv;
  const ConvParams p = make_conv_params(stride, padding, dilation, groups);
  const cpu::Act act = check_conv2d_backward_args(grad_output, input, weight, saved, p, std::string(activation));
  check_cpu_dtype("conv2d_backward", "input", input);
  const bool nhwc = conv2d_channels_last(input, weight);
  const auto fmt = nhwc ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  const at::Tensor x = input.contiguous(fmt);
  at::Tensor gy = grad_output.contiguous(fmt);
  // (outputs must not alias: a fresh empty tensor for each gradient not asked for)
  at::Tensor gx = cpu::empty_cached(mask[0] ? input.sizes() : at::IntArrayRef{0}, input.options().memory_format(
                                                                              mask[0] ? fmt : at::MemoryFormat::Contiguous));
  at::Tensor gw = cpu::empty_cached(mask[1] ? weight.sizes() : at::IntArrayRef{0}, weight.options().memory_format(
                                                                                mask[1] ? fmt : at::MemoryFormat::Contiguous));
  at::Tensor gb = cpu::empty_cached({mask[2] ? weight.size(0) : 0}, weight.options());
  const Geom g = make_geom(x, weight, p);
  if (g.N == 0 || gy.numel() == 0) {  // nothing flows back
    if (mask[0]) gx.zero_();
    if (mask[1]) gw.zero_();
    if (mask[2]) gb.zero_();
    return {gx, gw, gb};
  }
  if (act != cpu::Act::None) {  // gz = grad * act'(saved), then the linear conv backward
    const at::Tensor s = saved.contiguous(fmt);
    at::Tensor gz = cpu::empty_cached(gy.sizes(), gy.options().memory_format(fmt));
    AT_DISPATCH_FLOATING_TYPES(gy.scalar_type(), "fastnn_conv_act_grad", [&] {
      const scalar_t *gp = gy.data_ptr<scalar_t>(), *sp = s.data_ptr<scalar_t>();
      scalar_t* zp = gz.data_ptr<scalar_t>();
      at::parallel_for(0, gy.numel(), 1 << 14,
                       [&](int64_t b, int64_t e) { cpu::act_grad(act, gp + b, sp + b, zp + b, e - b); });
    });
    gy = gz;
  }
  const bool dw = is_depthwise(x, weight, groups);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "fastnn_conv2d_backward", [&] {
    if (mask[0]) grad_input<scalar_t>(g, gy, weight, p, nhwc, dw, gx);
    if (mask[1] || mask[2])
      grad_weight_bias<scalar_t>(g, gy, x, groups, nhwc, dw, mask[1] ? &gw : nullptr, mask[2] ? &gb : nullptr);
  });
  return {gx, gw, gb};
}

}  // namespace
}  // namespace fastnn

TORCH_LIBRARY_IMPL(fastnn, CPU, m) { m.impl("conv2d_backward", &fastnn::conv2d_backward_cpu); }
