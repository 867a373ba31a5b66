// CUDA kernels for fastnn::conv2d / conv2d_with_preact / conv2d_backward.
//
// Implicit GEMM on NHWC (channels_last) activations; NCHW inputs are copied to
// NHWC first and the results copied back, as the layout rule asks. Per group:
//   forward        out[pixel][oc]      = im2col(x)[pixel][(kh,kw,c)] . W[oc][(kh,kw,c)]
//   input grad     dx[pixel][c]        = gather(gz)[pixel][(kh,kw,oc)] . W^T[c][(kh,kw,oc)]
//   weight grad    dw[oc][(kh,kw,c)]   = gz^T[oc][pixel] . im2col(x)[pixel][(kh,kw,c)]
// with the bias gradient summed from the rows of gz^T inside the weight-grad
// GEMM. No im2col buffer: the operands gather their tiles (gemm_operands.cuh).
// Depthwise convolutions run direct kernels (conv_depthwise.cu).
#include <torch/library.h>

#include "../conv.h"
#include "../linear.h"
#include "conv_depthwise.cuh"
#include "elementwise.h"
#include "gemm_launch.cuh"

namespace fastnn::cuda {
namespace {

constexpr auto kCL = at::MemoryFormat::ChannelsLast;

// An NCHW-shaped tensor as a contiguous [N][H][W][C] view (copying to channels_last when needed).
at::Tensor nhwc(const at::Tensor& t) { return t.contiguous(kCL).permute({0, 2, 3, 1}); }

// A [N][H][W][C] tensor back to the NCHW shape, in the layout the op returns.
at::Tensor from_nhwc(const at::Tensor& t, bool channels_last) {
  const at::Tensor v = t.permute({0, 3, 1, 2});
  return v.contiguous(channels_last ? kCL : at::MemoryFormat::Contiguous);
}

ConvGeom make_geom(const at::Tensor& input, const at::Tensor& weight, const ConvParams& p,
                   const std::array<int64_t, 4>& out_shape) {
  ConvGeom g;
  g.N = int(input.size(0));
  g.C = int(input.size(1));
  g.H = int(input.size(2));
  g.W = int(input.size(3));
  g.OC = int(weight.size(0));
  g.KH = int(weight.size(2));
  g.KW = int(weight.size(3));
  g.OH = int(out_shape[2]);
  g.OW = int(out_shape[3]);
  g.sh = int(p.stride[0]);
  g.sw = int(p.stride[1]);
  g.ph = int(p.padding[0]);
  g.pw = int(p.padding[1]);
  g.dh = int(p.dilation[0]);
  g.dw = int(p.dilation[1]);
  g.Cg = int(weight.size(1));
  g.OCg = int(g.OC / p.groups);
  return g;
}

void check_sizes(const at::Tensor& input, const std::array<int64_t, 4>& out_shape) {
  const int64_t in_elems = input.numel(), out_elems = out_shape[0] * out_shape[1] * out_shape[2] * out_shape[3];
  TORCH_CHECK(in_elems < (int64_t(1) << 31) && out_elems < (int64_t(1) << 31),
              "conv2d (CUDA): input and output must have fewer than 2^31 elements, got input ", input.sizes(),
              " and output ", at::IntArrayRef(out_shape));
}

bool is_half(at::ScalarType s) { return s == at::kHalf || s == at::kBFloat16; }

bool aligned16(const at::Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0; }

std::tuple<at::Tensor, at::Tensor> conv2d_cuda_common(const at::Tensor& input, const at::Tensor& weight,
                                                      const c10::optional<at::Tensor>& bias,
                                                      at::IntArrayRef stride, at::IntArrayRef padding,
                                                      at::IntArrayRef dilation, int64_t groups,
                                                      c10::string_view activation, bool keep_preact) {
  const ConvParams p = make_conv_params(stride, padding, dilation, groups);
  const cpu::Act act = check_conv2d_args(input, weight, bias, p, std::string(activation));
  check_cuda_dtype("conv2d", "input", input);
  const c10::cuda::CUDAGuard guard(input.device());
  const auto shape = conv2d_output_shape(input, weight, p);
  check_sizes(input, shape);
  const bool cl = conv2d_channels_last(input, weight);
  const ConvGeom g = make_geom(input, weight, p, shape);
  const auto opts = input.options();
  at::Tensor out = at::empty({shape[0], shape[2], shape[3], shape[1]}, opts);
  at::Tensor pre = keep_preact ? at::empty_like(out) : at::Tensor();
  at::Tensor b;
  if (bias.has_value() && bias->defined()) b = bias->contiguous();
  const int64_t pixels = shape[0] * shape[2] * shape[3];
  if (pixels > 0 && g.OC > 0) {
    const at::Tensor x = nhwc(input);
    if (g.Cg == 1 && groups == g.C) {
      depthwise_forward(x, weight, b, g, int(act), out, keep_preact ? &pre : nullptr);
    } else {
      const at::Tensor wk = weight.permute({0, 2, 3, 1}).contiguous();  // [OC][KH][KW][Cg]
      const int64_t kdim = int64_t(g.KH) * g.KW * g.Cg;
      // Tensor cores stream 8 channels at a time.
      const bool tc = is_half(input.scalar_type()) && g.Cg % 8 == 0 && aligned16(x);
      AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "fastnn_conv2d_cuda", [&] {
        using T = typename CudaType<scalar_t>::type;
        for (int64_t gi = 0; gi < groups; ++gi) {
          const Im2colOperand<T, true> a{ptr_of<const T>(x) + gi * g.Cg, g, int(pixels), int(kdim)};
          const StridedOperand<T, true> w{ptr_of<const T>(wk) + gi * g.OCg * kdim, kdim, 1, g.OCg, int(kdim)};
          Epilogue<T> ep;
          ep.out = ptr_of<T>(out) + gi * g.OCg;
          ep.ld_out = g.OC;
          ep.preact = keep_preact ? ptr_of<T>(pre) + gi * g.OCg : nullptr;
          ep.ld_preact = g.OC;
          ep.bias = b.defined() ? ptr_of<const T>(b) + gi * g.OCg : nullptr;
          ep.act = int(act);
          gemm<T>(a, w, pixels, g.OCg, kdim, ep, nullptr, tc, opts);
        }
      });
    }
  }
  return {from_nhwc(out, cl), keep_preact ? from_nhwc(pre, cl) : at::empty({0}, opts)};
}

at::Tensor conv2d_cuda(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                       at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                       c10::string_view activation) {
  return std::get<0>(
      conv2d_cuda_common(input, weight, bias, stride, padding, dilation, groups, activation, false));
}

std::tuple<at::Tensor, at::Tensor> conv2d_with_preact_cuda(const at::Tensor& input, const at::Tensor& weight,
                                                           const c10::optional<at::Tensor>& bias,
                                                           at::IntArrayRef stride, at::IntArrayRef padding,
                                                           at::IntArrayRef dilation, int64_t groups,
                                                           c10::string_view activation) {
  return conv2d_cuda_common(input, weight, bias, stride, padding, dilation, groups, activation, true);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> conv2d_backward_cuda(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& weight, const at::Tensor& saved,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
    c10::string_view activation, std::array<bool, 3> mask) {
  const ConvParams p = make_conv_params(stride, padding, dilation, groups);
  const cpu::Act act = check_conv2d_backward_args(grad_output, input, weight, saved, p, std::string(activation));
  check_cuda_dtype("conv2d_backward", "input", input);
  const c10::cuda::CUDAGuard guard(input.device());
  const auto shape = conv2d_output_shape(input, weight, p);
  check_sizes(input, shape);
  const bool cl = conv2d_channels_last(input, weight);
  const ConvGeom g = make_geom(input, weight, p, shape);
  const auto opts = input.options();
  const int64_t out_pixels = shape[0] * shape[2] * shape[3];
  const int64_t in_pixels = int64_t(g.N) * g.H * g.W;
  const at::Tensor x = nhwc(input);
  const at::Tensor gy = nhwc(grad_output);
  const at::Tensor gz = act != cpu::Act::None ? activation_grad(gy, nhwc(saved), int(act)) : gy;

  at::Tensor dx = mask[0] ? at::empty({g.N, g.H, g.W, g.C}, opts) : at::Tensor();
  at::Tensor dw = mask[1] ? at::empty({g.OC, g.KH, g.KW, g.Cg}, weight.options()) : at::Tensor();
  at::Tensor db = mask[2] ? at::empty({g.OC}, weight.options()) : at::empty({0}, weight.options());
  const bool depthwise = g.Cg == 1 && groups == g.C;
  if (depthwise) {
    if (mask[0]) depthwise_backward_input(gz, weight, g, dx);
    if (mask[1]) {
      at::Tensor dw_flat = at::empty({g.OC, 1, g.KH, g.KW}, weight.options());
      depthwise_backward_weight(gz, x, g, dw_flat);
      dw = dw_flat.permute({0, 2, 3, 1});  // [OC][KH][KW][1], as the GEMM path returns it
    }
  } else {
    const bool half = is_half(input.scalar_type()) && aligned16(x) && aligned16(gz);
    const int64_t kdim_x = int64_t(g.KH) * g.KW * g.Cg, kdim_y = int64_t(g.KH) * g.KW * g.OCg;
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "fastnn_conv2d_backward_cuda", [&] {
      using T = typename CudaType<scalar_t>::type;
      if (mask[0]) {
        // [G][Cg][KH][KW][OCg]: W^T rows, contiguous along (kh, kw, oc).
        const at::Tensor wt = weight.reshape({groups, g.OCg, g.Cg, g.KH, g.KW}).permute({0, 2, 3, 4, 1}).contiguous();
        for (int64_t gi = 0; gi < groups; ++gi) {
          const DgradOperand<T> a{ptr_of<const T>(gz) + gi * g.OCg, g, int(in_pixels), int(kdim_y)};
          const StridedOperand<T, true> w{ptr_of<const T>(wt) + gi * g.Cg * kdim_y, kdim_y, 1, g.Cg, int(kdim_y)};
          Epilogue<T> ep;
          ep.out = ptr_of<T>(dx) + gi * g.Cg;
          ep.ld_out = g.C;
          gemm<T>(a, w, in_pixels, g.Cg, kdim_y, ep, nullptr, half && g.OCg % 8 == 0, opts);
        }
      }
      if (mask[1]) {
        for (int64_t gi = 0; gi < groups; ++gi) {
          const StridedOperand<T, false> a{ptr_of<const T>(gz) + gi * g.OCg, 1, g.OC, g.OCg, int(out_pixels)};
          const Im2colOperand<T, false> cols{ptr_of<const T>(x) + gi * g.Cg, g, int(out_pixels), int(kdim_x)};
          Epilogue<T> ep;
          ep.out = ptr_of<T>(dw) + gi * g.OCg * kdim_x;
          ep.ld_out = kdim_x;
          gemm<T>(a, cols, g.OCg, kdim_x, out_pixels, ep, mask[2] ? ptr_of<T>(db) + gi * g.OCg : nullptr,
                  half && g.OCg % 8 == 0 && g.Cg % 8 == 0, opts);
        }
      }
    });
  }
  if (mask[2] && (depthwise || !mask[1])) column_sums(gz.reshape({out_pixels, g.OC}), db);
  at::Tensor grad_input = mask[0] ? from_nhwc(dx, cl) : at::empty({0}, opts);
  at::Tensor grad_weight = mask[1] ? from_nhwc(dw, cl) : at::empty({0}, weight.options());
  return {grad_input, grad_weight, db};
}

}  // namespace
}  // namespace fastnn::cuda

TORCH_LIBRARY_IMPL(fastnn, CUDA, m) {
  m.impl("conv2d", &fastnn::cuda::conv2d_cuda);
  m.impl("conv2d_with_preact", &fastnn::cuda::conv2d_with_preact_cuda);
  m.impl("conv2d_backward", &fastnn::cuda::conv2d_backward_cuda);
}
