// The CPU convolution drivers shared by the forward and backward ops.
#pragma once

#include <ATen/ATen.h>

#include "../conv.h"
#include "conv_common.h"

namespace fastnn::cpu::conv {

// Geometry of one group for input x [N, C, H, W] and weight [OC, C/groups, KH, KW].
Geom make_geom(const at::Tensor& x, const at::Tensor& w, const ConvParams& p);

// groups == in_channels == out_channels: handled by the direct kernels.
bool is_depthwise(const at::Tensor& x, const at::Tensor& w, int64_t groups);

// out = act(conv(x, w) + bias), written into `out`, which has the output
// shape and is contiguous in x's layout (NHWC when `nhwc`); x is contiguous
// in that layout too. Padding may be negative (the backward pass uses it).
void forward_into(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, const ConvParams& p,
                  Act act, bool nhwc, at::Tensor& out);

// Float32 convolution reading the image in place (no im2col packing;
// conv_nhwc_direct.cpp), x and y both channels_last or both NCHW (nchw).
// wperm: weight as [OC_total, KH, KW, C]. Returns false (nothing written)
// where it does not apply (no AVX-512, NCHW with fewer than 8 channels per
// group, windows of more than 64 taps).
bool direct_conv_forward_f32(const Geom& g, bool nchw, int64_t groups, int64_t Ctot, int64_t OCtot, const float* x,
                             const float* wperm, const float* bias, Act act, float* y);

// The weight (and bias) gradient of a channels_last one (conv_nhwc_grad_weight.cpp):
// gw [OC_total, KH, KW, C] (channels_last weight order) and gb [OC_total], either
// may be null. Returns false where it does not apply (no AVX-512, fewer than 12
// channels per group, more than 64 taps).
bool nhwc_direct_grad_weight_f32(const Geom& g, int64_t groups, int64_t Ctot, int64_t OCtot, const float* x,
                                 const float* gy, float* gw, float* gb);

// The weight gradient of an NCHW float32 convolution (conv_nchw_grad_weight.cpp):
// gw [OC_total, C, KH, KW]. Returns false where it does not apply (no AVX-512,
// a zero-bordered copy of the image over 128 MiB).
bool nchw_direct_grad_weight_f32(const Geom& g, int64_t groups, int64_t Ctot, int64_t OCtot, const float* x,
                                 const float* gy, float* gw);

// x[i] = act(x[i]) over a whole (contiguous) tensor, in parallel.
void apply_act_tensor(Act act, at::Tensor& t);

}  // namespace fastnn::cpu::conv
