// CPU kernels for fastnn::conv2d / conv2d_with_preact: implicit GEMM on the
// GEMM core (im2col tiles packed on the fly), depthwise direct loops.
//
//   NCHW, per image and group: Y[oc, p] = W[oc, k] * col[k, p]
//        M = out channels, N = output pixels, bias per row (bias_m).
//   NHWC, whole batch per group: Y[t, oc] = col[t, k] * W[oc, k]^T
//        M = pixels of all images, N = out channels, bias per column (bias_n).
#include <torch/library.h>

#include <tuple>
#include <type_traits>

#include "../linear.h"  // check_cpu_dtype
#include "conv_driver.h"
#include "gemm/activation.h"
#include "output_cache.h"

namespace fastnn::cpu::conv {

Geom make_geom(const at::Tensor& x, const at::Tensor& w, const ConvParams& p) {
  Geom g;
  g.N = x.size(0);
  g.C = w.size(1);
  g.H = x.size(2);
  g.W = x.size(3);
  g.OC = w.size(0) / p.groups;
  g.KH = w.size(2);
  g.KW = w.size(3);
  g.sh = p.stride[0], g.sw = p.stride[1];
  g.ph = p.padding[0], g.pw = p.padding[1];
  g.dh = p.dilation[0], g.dw = p.dilation[1];
  g.OH = (g.H + 2 * g.ph - g.dh * (g.KH - 1) - 1) / g.sh + 1;
  g.OW = (g.W + 2 * g.pw - g.dw * (g.KW - 1) - 1) / g.sw + 1;
  return g;
}

bool is_depthwise(const at::Tensor& x, const at::Tensor& w, int64_t groups) {
  return groups > 1 && groups == x.size(1) && w.size(0) == x.size(1);
}

void apply_act_tensor(Act act, at::Tensor& t) {
  if (act == Act::None) return;
  AT_DISPATCH_FLOATING_TYPES(t.scalar_type(), "fastnn_conv_act", [&] {
    scalar_t* d = t.data_ptr<scalar_t>();
    at::parallel_for(0, t.numel(), 1 << 14, [&](int64_t b, int64_t e) { apply_act(act, d + b, e - b); });
  });
}

namespace {

template <typename T>
void forward_impl(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, const ConvParams& p,
                  Act act, bool nhwc, at::Tensor& out) {
  const Geom g = make_geom(x, w, p);
  const int64_t G = p.groups, Ctot = x.size(1), OCtot = w.size(0), P = g.P(), HW = g.H * g.W, K = g.K();
  const T* b = bias.defined() ? bias.data_ptr<T>() : nullptr;
  const T* xp = x.data_ptr<T>();
  T* y = out.data_ptr<T>();
  if (g.N == 0 || OCtot == 0 || P == 0) return;

  if (is_depthwise(x, w, G)) {
    const at::Tensor wc = w.contiguous();
    depthwise_forward<T>(g, Ctot, nhwc, xp, wc.data_ptr<T>(), b, y);
    apply_act_tensor(act, out);
    return;
  }
  Epilogue<T> ep;
  ep.act = act;
  if constexpr (std::is_same_v<T, float>) {
    if (!nhwc && !g.is_pointwise()) {
      const at::Tensor wperm = w.permute({0, 2, 3, 1}).contiguous();  // [OC, KH, KW, C]
      if (direct_conv_forward_f32(g, /*nchw=*/true, G, Ctot, OCtot, xp, wperm.data_ptr<T>(), b, act, y)) return;
    }
  }
  if (!nhwc) {
    const at::Tensor wc = w.contiguous();  // [OC, K], K = (c, kh, kw)
    const T* wp = wc.data_ptr<T>();
    for_each_image(g.N, [&](int64_t n, bool par) {
      for (int64_t gi = 0; gi < G; ++gi) {
        const T* xg = xp + (n * Ctot + gi * g.C) * HW;
        const RowSource<T> col = g.is_pointwise() ? RowSource<T>::view(xg, 1, HW)
                                                  : RowSource<T>::custom(nchw_im2col<T>(g, xg));
        Epilogue<T> e = ep;
        e.bias_m = b ? b + gi * g.OC : nullptr;
        gemm<T>(g.OC, P, K, RowSource<T>::view(wp + gi * g.OC * K, K, 1), col,
                {y + (n * OCtot + gi * g.OC) * P, P, 1}, e, par);
      }
    });
    return;
  }
  const at::Tensor wperm = w.permute({0, 2, 3, 1}).contiguous();  // [OC, K], K = (kh, kw, c)
  const T* wp = wperm.data_ptr<T>();
  if constexpr (std::is_same_v<T, float>) {
    if (direct_conv_forward_f32(g, /*nchw=*/false, G, Ctot, OCtot, xp, wp, b, act, y)) return;
  }
  for (int64_t gi = 0; gi < G; ++gi) {
    // (also for 1x1: the packer's 8x8 transposes beat the generic strided packing)
    const RowSource<T> col = RowSource<T>::custom(nhwc_im2col<T>(g, xp + gi * g.C, Ctot));
    Epilogue<T> e = ep;
    e.bias_n = b ? b + gi * g.OC : nullptr;
    gemm<T>(g.N * P, g.OC, K, col, RowSource<T>::view(wp + gi * g.OC * K, K, 1), {y + gi * g.OC, OCtot, 1}, e);
  }
}

}  // namespace

void forward_into(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, const ConvParams& p,
                  Act act, bool nhwc, at::Tensor& out) {
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "fastnn_conv2d", [&] {
    forward_impl<scalar_t>(x, w, bias, p, act, nhwc, out);
  });
}

}  // namespace fastnn::cpu::conv

namespace fastnn {
namespace {

std::tuple<at::Tensor, at::Tensor> conv2d_cpu_common(const at::Tensor& input, const at::Tensor& weight,
                                                     const c10::optional<at::Tensor>& bias,
                                                     at::IntArrayRef stride, at::IntArrayRef padding,
                                                     at::IntArrayRef dilation, int64_t groups,
                                                     c10::string_view activation, bool keep_preact) {
  const ConvParams p = make_conv_params(stride, padding, dilation, groups);
  const cpu::Act act = check_conv2d_args(input, weight, bias, p, std::string(activation));
  check_cpu_dtype("conv2d", "input", input);
  const bool nhwc = conv2d_channels_last(input, weight);
  const auto fmt = nhwc ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  const at::Tensor x = input.contiguous(fmt);
  const at::Tensor b = bias.has_value() && bias->defined() ? bias->contiguous() : at::Tensor();
  const auto shape = conv2d_output_shape(input, weight, p);
  at::Tensor out = cpu::empty_cached(shape, input.options().memory_format(fmt));
  if (!keep_preact) {
    cpu::conv::forward_into(x, weight, b, p, act, nhwc, out);
    return {out, cpu::empty_cached({0}, input.options())};
  }
  at::Tensor pre = cpu::empty_cached(shape, input.options().memory_format(fmt));
  cpu::conv::forward_into(x, weight, b, p, cpu::Act::None, nhwc, pre);
  out.copy_(pre);
  cpu::conv::apply_act_tensor(act, out);
  return {out, pre};
}

at::Tensor conv2d_cpu(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                      at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                      c10::string_view activation) {
  return std::get<0>(conv2d_cpu_common(input, weight, bias, stride, padding, dilation, groups, activation, false));
}

std::tuple<at::Tensor, at::Tensor> conv2d_with_preact_cpu(const at::Tensor& input, const at::Tensor& weight,
                                                          const c10::optional<at::Tensor>& bias,
                                                          at::IntArrayRef stride, at::IntArrayRef padding,
                                                          at::IntArrayRef dilation, int64_t groups,
                                                          c10::string_view activation) {
  return conv2d_cpu_common(input, weight, bias, stride, padding, dilation, groups, activation, true);
}

}  // namespace
}  // namespace fastnn

TORCH_LIBRARY_IMPL(fastnn, CPU, m) {
  m.impl("conv2d", &fastnn::conv2d_cpu);
  m.impl("conv2d_with_preact", &fastnn::conv2d_with_preact_cpu);
}
