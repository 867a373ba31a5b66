// Autograd for fastnn::conv2d and fastnn::conv2d_with_preact, in C++ (as for
// linear): a call costs a dispatcher hop instead of a trip through Python's
// torch.library autograd, which dominated small convolutions (~30 us a call).
//
// The backward of each is the fastnn::conv2d_backward op. gelu/silu need the
// pre-activation in backward: conv2d then runs conv2d_with_preact when a
// gradient is required; relu/tanh/sigmoid use the output.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "backward_op_scope.h"
#include "cpu/gemm/activation.h"
#include "linear.h"  // parse_activation

namespace fastnn {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using OptTensor = c10::optional<at::Tensor>;
using Ints = c10::IntArrayRef;

at::Tensor call_conv(const at::Tensor& input, const at::Tensor& weight, const OptTensor& bias, Ints stride,
                     Ints padding, Ints dilation, int64_t groups, c10::string_view act) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("fastnn::conv2d", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const OptTensor&, Ints, Ints, Ints,
                                         int64_t, c10::string_view)>();
  return op.call(input, weight, bias, stride, padding, dilation, groups, act);
}

std::tuple<at::Tensor, at::Tensor> call_conv_with_preact(const at::Tensor& input, const at::Tensor& weight,
                                                         const OptTensor& bias, Ints stride, Ints padding,
                                                         Ints dilation, int64_t groups, c10::string_view act) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("fastnn::conv2d_with_preact", "")
                       .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                                 const OptTensor&, Ints, Ints, Ints, int64_t,
                                                                 c10::string_view)>();
  return op.call(input, weight, bias, stride, padding, dilation, groups, act);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> call_conv_backward(const at::Tensor& grad, const at::Tensor& input,
                                                                  const at::Tensor& weight, const at::Tensor& saved,
                                                                  Ints stride, Ints padding, Ints dilation,
                                                                  int64_t groups, c10::string_view act,
                                                                  std::array<bool, 3> mask) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("fastnn::conv2d_backward", "")
                       .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
                           const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, Ints, Ints,
                           Ints, int64_t, c10::string_view, std::array<bool, 3>)>();
  BackwardOpScope below_autograd;  // see backward_op_scope.h
  return op.call(grad, input, weight, saved, stride, padding, dilation, groups, act, mask);
}

// Everything backward needs besides the saved tensors {input, weight, y or z}.
void save_params(AutogradContext* ctx, const OptTensor& bias, Ints stride, Ints padding, Ints dilation,
                 int64_t groups, const std::string& act) {
  ctx->saved_data["stride"] = stride.vec();
  ctx->saved_data["padding"] = padding.vec();
  ctx->saved_data["dilation"] = dilation.vec();
  ctx->saved_data["groups"] = groups;
  ctx->saved_data["activation"] = act;
  ctx->saved_data["has_bias"] = bias.has_value() && bias->defined();
}

variable_list conv_grads(AutogradContext* ctx, const at::Tensor& grad_output, size_t n_inputs) {
  const auto saved = ctx->get_saved_variables();
  const bool has_bias = ctx->saved_data["has_bias"].toBool();
  const std::array<bool, 3> mask = {ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                    has_bias && ctx->needs_input_grad(2)};
  variable_list out(n_inputs);
  if (!grad_output.defined() || !(mask[0] || mask[1] || mask[2])) return out;
  const at::Tensor s = saved[2].defined() ? saved[2] : at::empty({0}, grad_output.options());
  const auto stride = ctx->saved_data["stride"].toIntVector(), padding = ctx->saved_data["padding"].toIntVector(),
             dilation = ctx->saved_data["dilation"].toIntVector();
  auto [gi, gw, gb] = call_conv_backward(grad_output, saved[0], saved[1], s, stride, padding, dilation,
                                         ctx->saved_data["groups"].toInt(),
                                         ctx->saved_data["activation"].toStringRef(), mask);
  if (mask[0]) out[0] = gi;
  if (mask[1]) out[1] = gw;
  if (mask[2]) out[2] = gb;
  forbid_double_backward(out, {grad_output, saved[0], saved[1]}, "fastnn.Conv1d/Conv2d (fastnn::conv2d)");
  return out;
}

constexpr size_t kConvArgs = 8;  // input, weight, bias, stride, padding, dilation, groups, activation

struct ConvFunction : public torch::autograd::Function<ConvFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight,
                            const OptTensor& bias, Ints stride, Ints padding, Ints dilation, int64_t groups,
                            const std::string& act) {
    at::AutoDispatchBelowADInplaceOrView guard;
    save_params(ctx, bias, stride, padding, dilation, groups, act);
    const cpu::Act a = parse_activation("conv2d", act);
    if (cpu::act_grad_needs_preact(a)) {
      auto [out, preact] = call_conv_with_preact(input, weight, bias, stride, padding, dilation, groups, act);
      ctx->save_for_backward({input, weight, preact});
      return out;
    }
    at::Tensor out = call_conv(input, weight, bias, stride, padding, dilation, groups, act);
    ctx->save_for_backward({input, weight, a == cpu::Act::None ? at::Tensor() : out});
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return conv_grads(ctx, grads[0], kConvArgs);
  }
};

struct ConvWithPreactFunction : public torch::autograd::Function<ConvWithPreactFunction> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight,
                               const OptTensor& bias, Ints stride, Ints padding, Ints dilation, int64_t groups,
                               const std::string& act) {
    at::AutoDispatchBelowADInplaceOrView guard;
    save_params(ctx, bias, stride, padding, dilation, groups, act);
    auto [out, preact] = call_conv_with_preact(input, weight, bias, stride, padding, dilation, groups, act);
    const cpu::Act a = parse_activation("conv2d", act);
    ctx->save_for_backward(
        {input, weight, a == cpu::Act::None ? at::Tensor() : (cpu::act_grad_needs_preact(a) ? preact : out)});
    ctx->mark_non_differentiable({preact});
    return {out, preact};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return conv_grads(ctx, grads[0], kConvArgs);
  }
};

bool any_requires_grad(const at::Tensor& input, const at::Tensor& weight, const OptTensor& bias) {
  return at::GradMode::is_enabled() &&
         (input.requires_grad() || weight.requires_grad() ||
          (bias.has_value() && bias->defined() && bias->requires_grad()));
}

at::Tensor conv2d_autograd(const at::Tensor& input, const at::Tensor& weight, const OptTensor& bias, Ints stride,
                           Ints padding, Ints dilation, int64_t groups, c10::string_view act) {
  if (!any_requires_grad(input, weight, bias)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return call_conv(input, weight, bias, stride, padding, dilation, groups, act);
  }
  return ConvFunction::apply(input, weight, bias, stride, padding, dilation, groups, std::string(act));
}

std::tuple<at::Tensor, at::Tensor> conv2d_with_preact_autograd(const at::Tensor& input, const at::Tensor& weight,
                                                               const OptTensor& bias, Ints stride, Ints padding,
                                                               Ints dilation, int64_t groups, c10::string_view act) {
  if (!any_requires_grad(input, weight, bias)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return call_conv_with_preact(input, weight, bias, stride, padding, dilation, groups, act);
  }
  auto outs = ConvWithPreactFunction::apply(input, weight, bias, stride, padding, dilation, groups, std::string(act));
  return {outs[0], outs[1]};
}

}  // namespace
}  // namespace fastnn

TORCH_LIBRARY_IMPL(fastnn, Autograd, m) {
  m.impl("conv2d", &fastnn::conv2d_autograd);
  m.impl("conv2d_with_preact", &fastnn::conv2d_with_preact_autograd);
}
