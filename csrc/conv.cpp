// fastnn::conv2d schema and argument checks (all backends). The messages follow
// torch's own conv errors, naming the argument, what was expected and what was got.
#include "conv.h"

#include <torch/library.h>

#include "linear.h"  // parse_activation

namespace fastnn {

ConvParams make_conv_params(at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                            int64_t groups) {
  TORCH_CHECK(stride.size() == 2, "conv2d: stride must have 2 elements, got ", stride);
  TORCH_CHECK(padding.size() == 2, "conv2d: padding must have 2 elements, got ", padding);
  TORCH_CHECK(dilation.size() == 2, "conv2d: dilation must have 2 elements, got ", dilation);
  ConvParams p;
  for (int i = 0; i < 2; ++i) {
    p.stride[i] = stride[i];
    p.padding[i] = padding[i];
    p.dilation[i] = dilation[i];
  }
  p.groups = groups;
  return p;
}

cpu::Act check_conv2d_args(const at::Tensor& input, const at::Tensor& weight,
                           const c10::optional<at::Tensor>& bias, const ConvParams& p,
                           const std::string& activation) {
  TORCH_CHECK(at::isFloatingType(input.scalar_type()),
              "conv2d: input must be a floating-point tensor, got ", input.scalar_type());
  TORCH_CHECK(input.dim() == 4, "conv2d: expected 4-D input [batch, in_channels, height, width], got ",
              input.dim(), "-D input of size ", input.sizes());
  TORCH_CHECK(weight.dim() == 4,
              "conv2d: weight must be 4-D [out_channels, in_channels/groups, kernel_h, kernel_w], got ",
              weight.dim(), "-D weight of size ", weight.sizes());
  TORCH_CHECK(weight.scalar_type() == input.scalar_type(), "conv2d: weight dtype must match input dtype ",
              input.scalar_type(), ", got ", weight.scalar_type());
  TORCH_CHECK(weight.device() == input.device(), "conv2d: weight must be on the input's device ",
              input.device(), ", got ", weight.device());
  TORCH_CHECK(p.groups > 0, "conv2d: groups must be a positive integer, got ", p.groups);
  for (int i = 0; i < 2; ++i) {
    TORCH_CHECK(p.stride[i] > 0, "conv2d: stride must be positive (non-positive stride is not supported), got ",
                at::IntArrayRef(p.stride));
    TORCH_CHECK(p.dilation[i] > 0, "conv2d: dilation must be positive (dilation should be greater than zero), got ",
                at::IntArrayRef(p.dilation));
    TORCH_CHECK(p.padding[i] >= 0, "conv2d: padding must be non-negative (negative padding is not supported), got ",
                at::IntArrayRef(p.padding));
  }
  const int64_t oc = weight.size(0), icg = weight.size(1), c_in = input.size(1);
  TORCH_CHECK(oc % p.groups == 0, "conv2d: Given groups=", p.groups, ", expected weight to be divisible by ",
              p.groups, " at dimension 0 (out_channels), but got weight of size ", weight.sizes());
  TORCH_CHECK(c_in == icg * p.groups, "conv2d: Given groups=", p.groups, ", weight of size ", weight.sizes(),
              ", expected input", input.sizes(), " to have ", icg * p.groups, " channels, but got ", c_in,
              " channels instead");
  for (int i = 0; i < 2; ++i) {
    const int64_t padded = input.size(2 + i) + 2 * p.padding[i];
    const int64_t span = p.dilation[i] * (weight.size(2 + i) - 1) + 1;
    TORCH_CHECK(span <= padded, "conv2d: Calculated padded input size per channel: (",
                input.size(2) + 2 * p.padding[0], " x ", input.size(3) + 2 * p.padding[1],
                "). Kernel size: (", p.dilation[0] * (weight.size(2) - 1) + 1, " x ",
                p.dilation[1] * (weight.size(3) - 1) + 1,
                "). Kernel size can't be greater than actual input size");
  }
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == oc, "conv2d: bias must have shape [out_channels] = [", oc,
                "], got ", bias->sizes());
    TORCH_CHECK(bias->scalar_type() == input.scalar_type(), "conv2d: bias dtype must match input dtype ",
                input.scalar_type(), ", got ", bias->scalar_type());
    TORCH_CHECK(bias->device() == input.device(), "conv2d: bias must be on the input's device ",
                input.device(), ", got ", bias->device());
  }
  return parse_activation("conv2d", activation);
}

std::array<int64_t, 4> conv2d_output_shape(const at::Tensor& input, const at::Tensor& weight,
                                           const ConvParams& p) {
  std::array<int64_t, 4> s{input.size(0), weight.size(0), 0, 0};
  for (int i = 0; i < 2; ++i)
    s[2 + i] = (input.size(2 + i) + 2 * p.padding[i] - p.dilation[i] * (weight.size(2 + i) - 1) - 1) /
                   p.stride[i] + 1;
  return s;
}

bool conv2d_channels_last(const at::Tensor& input, const at::Tensor& weight) {
  return input.suggest_memory_format() == at::MemoryFormat::ChannelsLast ||
         weight.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
}

cpu::Act check_conv2d_backward_args(const at::Tensor& grad_output, const at::Tensor& input,
                                    const at::Tensor& weight, const at::Tensor& saved,
                                    const ConvParams& p, const std::string& activation) {
  const cpu::Act act = check_conv2d_args(input, weight, c10::nullopt, p, activation);
  const auto shape = conv2d_output_shape(input, weight, p);
  TORCH_CHECK(grad_output.sizes() == at::IntArrayRef(shape), "conv2d_backward: grad_output must have shape ",
              at::IntArrayRef(shape), ", got ", grad_output.sizes());
  TORCH_CHECK(grad_output.scalar_type() == input.scalar_type(),
              "conv2d_backward: grad_output dtype must match input dtype ", input.scalar_type(), ", got ",
              grad_output.scalar_type());
  TORCH_CHECK(grad_output.device() == input.device(), "conv2d_backward: grad_output must be on the input's device ",
              input.device(), ", got ", grad_output.device());
  if (act != cpu::Act::None) {
    TORCH_CHECK(saved.sizes() == grad_output.sizes(),
                "conv2d_backward: saved (output or pre-activation) must have grad_output's shape ",
                grad_output.sizes(), ", got ", saved.sizes());
  }
  return act;
}

}  // namespace fastnn

TORCH_LIBRARY_FRAGMENT(fastnn, m) {
  // y = act(conv2d(input, weight) + bias), symmetric zero padding (the Python
  // layer handles 'same', padding modes, conv1d and unbatched inputs).
  m.def(
      "conv2d(Tensor input, Tensor weight, Tensor? bias=None, int[2] stride=1, int[2] padding=0, "
      "int[2] dilation=1, int groups=1, str activation=\"none\") -> Tensor");
  // Same, also returning the pre-activation (what gelu/silu backward needs).
  m.def(
      "conv2d_with_preact(Tensor input, Tensor weight, Tensor? bias=None, int[2] stride=1, "
      "int[2] padding=0, int[2] dilation=1, int groups=1, str activation=\"none\") -> (Tensor, Tensor)");
  // saved: output y (relu/tanh/sigmoid), pre-activation z (gelu/silu), unused
  // for none. Gradients not asked for in output_mask come back empty.
  m.def(
      "conv2d_backward(Tensor grad_output, Tensor input, Tensor weight, Tensor saved, int[2] stride, "
      "int[2] padding, int[2] dilation, int groups, str activation, bool[3] output_mask) "
      "-> (Tensor, Tensor, Tensor)");
}
