// Direct depthwise convolution kernels (see conv_depthwise.cuh).
#include "conv_depthwise.cuh"
#include "elementwise.h"
#include "gemm_epilogue.cuh"

namespace fastnn::cuda {
namespace {

// One thread per output element; neighbouring threads take neighbouring channels.
template <typename T>
__global__ void depthwise_forward_kernel(const T* x, const T* w, const T* bias, ConvGeom g, int act, T* out,
                                         T* pre) {
  const int64_t total = int64_t(g.N) * g.OH * g.OW * g.OC;
  const int mult = g.OC / g.C, taps = g.KH * g.KW;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int oc = int(i % g.OC);
    const int64_t p = i / g.OC;
    const int ow = int(p % g.OW), oh = int((p / g.OW) % g.OH), n = int(p / (int64_t(g.OW) * g.OH));
    const int c = oc / mult;
    acc_t<T> v = bias ? to_acc(bias[oc]) : acc_t<T>(0);
    for (int kh = 0; kh < g.KH; ++kh) {
      const int ih = oh * g.sh - g.ph + kh * g.dh;
      if (ih < 0 || ih >= g.H) continue;
      for (int kw = 0; kw < g.KW; ++kw) {
        const int iw = ow * g.sw - g.pw + kw * g.dw;
        if (iw < 0 || iw >= g.W) continue;
        v += to_acc(x[((int64_t(n) * g.H + ih) * g.W + iw) * g.C + c]) * to_acc(w[oc * taps + kh * g.KW + kw]);
      }
    }
    if (pre) pre[i] = from_acc<T>(v);
    out[i] = from_acc<T>(act_forward(act, v));
  }
}

// One thread per input element: the output pixels each tap of it feeds.
template <typename T>
__global__ void depthwise_input_grad_kernel(const T* gz, const T* w, ConvGeom g, T* dx) {
  const int64_t total = int64_t(g.N) * g.H * g.W * g.C;
  const int mult = g.OC / g.C, taps = g.KH * g.KW;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int c = int(i % g.C);
    const int64_t q = i / g.C;
    const int iw = int(q % g.W), ih = int((q / g.W) % g.H), n = int(q / (int64_t(g.W) * g.H));
    acc_t<T> v = 0;
    for (int kh = 0; kh < g.KH; ++kh) {
      const int hs = ih + g.ph - kh * g.dh;
      if (hs < 0 || hs % g.sh != 0 || hs / g.sh >= g.OH) continue;
      for (int kw = 0; kw < g.KW; ++kw) {
        const int ws = iw + g.pw - kw * g.dw;
        if (ws < 0 || ws % g.sw != 0 || ws / g.sw >= g.OW) continue;
        const T* row = gz + ((int64_t(n) * g.OH + hs / g.sh) * g.OW + ws / g.sw) * g.OC;
        for (int j = 0; j < mult; ++j)
          v += to_acc(row[c * mult + j]) * to_acc(w[(c * mult + j) * taps + kh * g.KW + kw]);
      }
    }
    dx[i] = from_acc<T>(v);
  }
}

// partial[chunk][oc][tap] = sum over the chunk's output pixels of gz * x.
template <typename T>
__global__ void depthwise_weight_partials_kernel(const T* gz, const T* x, ConvGeom g, int64_t pixels_per_chunk,
                                                 acc_t<T>* partial) {
  const int oc = blockIdx.x * blockDim.x + threadIdx.x;
  if (oc >= g.OC) return;
  const int mult = g.OC / g.C, c = oc / mult, taps = g.KH * g.KW;
  const int64_t pixels = int64_t(g.N) * g.OH * g.OW;
  const int64_t p0 = blockIdx.y * pixels_per_chunk, p1 = min(pixels, p0 + pixels_per_chunk);
  acc_t<T>* dst = partial + (int64_t(blockIdx.y) * g.OC + oc) * taps;
  for (int kh = 0; kh < g.KH; ++kh)
    for (int kw = 0; kw < g.KW; ++kw) {
      acc_t<T> v = 0;
      for (int64_t p = p0; p < p1; ++p) {
        const int ow = int(p % g.OW), oh = int((p / g.OW) % g.OH), n = int(p / (int64_t(g.OW) * g.OH));
        const int ih = oh * g.sh - g.ph + kh * g.dh, iw = ow * g.sw - g.pw + kw * g.dw;
        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
        v += to_acc(gz[p * g.OC + oc]) * to_acc(x[((int64_t(n) * g.H + ih) * g.W + iw) * g.C + c]);
      }
      dst[kh * g.KW + kw] = v;
    }
}

unsigned grid_for(int64_t total) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>(ceil_div(total, 256), int64_t(sm_count()) * 32)));
}

}  // namespace

void depthwise_forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, const ConvGeom& g,
                       int act, at::Tensor& out, at::Tensor* pre) {
  const at::Tensor w = weight.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "fastnn_depthwise_forward", [&] {
    using T = typename CudaType<scalar_t>::type;
    depthwise_forward_kernel<T><<<grid_for(out.numel()), 256, 0, current_stream()>>>(
        ptr_of<const T>(x), ptr_of<const T>(w), bias.defined() ? ptr_of<const T>(bias) : nullptr, g, act,
        ptr_of<T>(out), pre ? ptr_of<T>(*pre) : nullptr);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

void depthwise_backward_input(const at::Tensor& gz, const at::Tensor& weight, const ConvGeom& g, at::Tensor& dx) {
  const at::Tensor w = weight.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, gz.scalar_type(), "fastnn_depthwise_input_grad", [&] {
    using T = typename CudaType<scalar_t>::type;
    depthwise_input_grad_kernel<T><<<grid_for(dx.numel()), 256, 0, current_stream()>>>(
        ptr_of<const T>(gz), ptr_of<const T>(w), g, ptr_of<T>(dx));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

void depthwise_backward_weight(const at::Tensor& gz, const at::Tensor& x, const ConvGeom& g, at::Tensor& dw) {
  const int64_t pixels = int64_t(g.N) * g.OH * g.OW, taps = int64_t(g.KH) * g.KW;
  const int64_t col_blocks = ceil_div(g.OC, 256);
  const int64_t chunks = std::max<int64_t>(
      1, std::min<int64_t>(ceil_div(pixels, 32), ceil_div(int64_t(sm_count()) * 8, col_blocks)));
  const int64_t per_chunk = std::max<int64_t>(1, ceil_div(pixels, chunks));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, gz.scalar_type(), "fastnn_depthwise_weight_grad", [&] {
    using T = typename CudaType<scalar_t>::type;
    using A = acc_t<T>;
    at::Tensor partial =
        at::empty({chunks, g.OC * taps}, gz.options().dtype(std::is_same_v<A, double> ? at::kDouble : at::kFloat));
    const cudaStream_t stream = current_stream();
    depthwise_weight_partials_kernel<T><<<dim3(unsigned(col_blocks), unsigned(chunks)), 256, 0, stream>>>(
        ptr_of<const T>(gz), ptr_of<const T>(x), g, per_chunk, partial.data_ptr<A>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    const int n = int(g.OC * taps);
    sum_partials_kernel<T><<<unsigned(ceil_div(n, 256)), 256, 0, stream>>>(partial.data_ptr<A>(), int(chunks), n,
                                                                          ptr_of<T>(dw));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace fastnn::cuda
