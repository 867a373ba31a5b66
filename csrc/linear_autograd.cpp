// Autograd for fastnn::linear and fastnn::linear_with_preact, in C++ so that
// a call costs a dispatcher hop rather than a trip through Python: small
// layers (and recurrent steps) are dominated by per-call overhead.
//
// The backward of each is the fastnn::linear_backward op. gelu/silu need the
// pre-activation z in backward, so linear keeps z (via linear_with_preact)
// only when a gradient is required; relu/tanh/sigmoid use the output.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "backward_op_scope.h"
#include "cpu/gemm/activation.h"
#include "linear.h"

namespace fastnn {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor call_linear(const at::Tensor& input, const at::Tensor& weight,
                       const c10::optional<at::Tensor>& bias, c10::string_view act) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("fastnn::linear", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&,
                                         const c10::optional<at::Tensor>&, c10::string_view)>();
  return op.call(input, weight, bias, act);
}

std::tuple<at::Tensor, at::Tensor> call_linear_with_preact(const at::Tensor& input, const at::Tensor& weight,
                                                           const c10::optional<at::Tensor>& bias,
                                                           c10::string_view act) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("fastnn::linear_with_preact", "")
                       .typed<std::tuple<at::Tensor, at::Tensor>(
                           const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&,
                           c10::string_view)>();
  return op.call(input, weight, bias, act);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> call_linear_backward(
    const at::Tensor& grad, const at::Tensor& input, const at::Tensor& weight, const at::Tensor& saved,
    c10::string_view act, std::array<bool, 3> mask) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("fastnn::linear_backward", "")
                       .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
                           const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                           c10::string_view, std::array<bool, 3>)>();
  BackwardOpScope below_autograd;  // see backward_op_scope.h
  return op.call(grad, input, weight, saved, act, mask);
}

// Shared backward: saved = {input, weight, y or z (undefined for 'none')}.
variable_list linear_grads(AutogradContext* ctx, const at::Tensor& grad_output) {
  const auto saved = ctx->get_saved_variables();
  const std::string act = ctx->saved_data["activation"].toStringRef();
  const bool has_bias = ctx->saved_data["has_bias"].toBool();
  const std::array<bool, 3> mask = {ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                    has_bias && ctx->needs_input_grad(2)};
  variable_list out(4);
  if (!grad_output.defined() || !(mask[0] || mask[1] || mask[2])) return out;
  const at::Tensor s = saved[2].defined() ? saved[2] : at::empty({0}, grad_output.options());
  auto [gi, gw, gb] = call_linear_backward(grad_output, saved[0], saved[1], s, act, mask);
  if (mask[0]) out[0] = gi;
  if (mask[1]) out[1] = gw;
  if (mask[2]) out[2] = gb;
  forbid_double_backward(out, {grad_output, saved[0], saved[1]}, "fastnn.Linear (fastnn::linear)");
  return out;
}

void save_common(AutogradContext* ctx, const c10::optional<at::Tensor>& bias, const std::string& act) {
  ctx->saved_data["activation"] = act;
  ctx->saved_data["has_bias"] = bias.has_value() && bias->defined();
}

struct LinearFunction : public torch::autograd::Function<LinearFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight,
                            const c10::optional<at::Tensor>& bias, const std::string& act) {
    at::AutoDispatchBelowADInplaceOrView guard;
    save_common(ctx, bias, act);
    const cpu::Act a = parse_activation("linear", act);
    if (cpu::act_grad_needs_preact(a)) {
      auto [out, preact] = call_linear_with_preact(input, weight, bias, act);
      ctx->save_for_backward({input, weight, preact});
      return out;
    }
    at::Tensor out = call_linear(input, weight, bias, act);
    ctx->save_for_backward({input, weight, a == cpu::Act::None ? at::Tensor() : out});
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return linear_grads(ctx, grads[0]);
  }
};

struct LinearWithPreactFunction : public torch::autograd::Function<LinearWithPreactFunction> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight,
                               const c10::optional<at::Tensor>& bias, const std::string& act) {
    at::AutoDispatchBelowADInplaceOrView guard;
    save_common(ctx, bias, act);
    auto [out, preact] = call_linear_with_preact(input, weight, bias, act);
    const cpu::Act a = parse_activation("linear", act);
    ctx->save_for_backward({input, weight, a == cpu::Act::None ? at::Tensor() : (cpu::act_grad_needs_preact(a) ? preact : out)});
    ctx->mark_non_differentiable({preact});
    return {out, preact};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return linear_grads(ctx, grads[0]);
  }
};

bool any_requires_grad(const at::Tensor& input, const at::Tensor& weight,
                       const c10::optional<at::Tensor>& bias) {
  return at::GradMode::is_enabled() &&
         (input.requires_grad() || weight.requires_grad() ||
          (bias.has_value() && bias->defined() && bias->requires_grad()));
}

at::Tensor linear_autograd(const at::Tensor& input, const at::Tensor& weight,
                           const c10::optional<at::Tensor>& bias, c10::string_view act) {
  if (!any_requires_grad(input, weight, bias)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return call_linear(input, weight, bias, act);
  }
  return LinearFunction::apply(input, weight, bias, std::string(act));
}

std::tuple<at::Tensor, at::Tensor> linear_with_preact_autograd(const at::Tensor& input, const at::Tensor& weight,
                                                               const c10::optional<at::Tensor>& bias,
                                                               c10::string_view act) {
  if (!any_requires_grad(input, weight, bias)) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return call_linear_with_preact(input, weight, bias, act);
  }
  auto outs = LinearWithPreactFunction::apply(input, weight, bias, std::string(act));
  return {outs[0], outs[1]};
}

}  // namespace
}  // namespace fastnn

TORCH_LIBRARY_IMPL(fastnn, Autograd, m) {
  m.impl("linear", &fastnn::linear_autograd);
  m.impl("linear_with_preact", &fastnn::linear_with_preact_autograd);
}
