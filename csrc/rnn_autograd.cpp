// Autograd for fastnn::rnn_layer, in C++ so that a call costs a dispatcher hop
// rather than a trip through Python (cells run the op once per time step).
// The backward is the fastnn::rnn_layer_backward op.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "backward_op_scope.h"
#include "rnn.h"

namespace fastnn {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using OptTensor = c10::optional<at::Tensor>;
using LayerOut = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

LayerOut call_layer(c10::string_view mode, const at::Tensor& input, const OptTensor& batch_sizes,
                    const at::Tensor& hx, const OptTensor& cx, const at::Tensor& w_ih, const at::Tensor& w_hh,
                    const OptTensor& b_ih, const OptTensor& b_hh, const OptTensor& w_hr, bool reverse) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("fastnn::rnn_layer", "")
                       .typed<LayerOut(c10::string_view, const at::Tensor&, const OptTensor&, const at::Tensor&,
                                       const OptTensor&, const at::Tensor&, const at::Tensor&, const OptTensor&,
                                       const OptTensor&, const OptTensor&, bool)>();
  return op.call(mode, input, batch_sizes, hx, cx, w_ih, w_hh, b_ih, b_hh, w_hr, reverse);
}

using BackwardOut = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor,
                               at::Tensor>;

BackwardOut call_backward(c10::string_view mode, const OptTensor& grad_output, const OptTensor& grad_hy,
                          const OptTensor& grad_cy, const at::Tensor& input, const OptTensor& batch_sizes,
                          const at::Tensor& hx, const OptTensor& cx, const at::Tensor& w_ih, const at::Tensor& w_hh,
                          const OptTensor& w_hr, const at::Tensor& output, const at::Tensor& workspace,
                          bool reverse, std::array<bool, 3> mask) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("fastnn::rnn_layer_backward", "")
                       .typed<BackwardOut(c10::string_view, const OptTensor&, const OptTensor&, const OptTensor&,
                                          const at::Tensor&, const OptTensor&, const at::Tensor&, const OptTensor&,
                                          const at::Tensor&, const at::Tensor&, const OptTensor&, const at::Tensor&,
                                          const at::Tensor&, bool, std::array<bool, 3>)>();
  BackwardOpScope below_autograd;  // see backward_op_scope.h
  return op.call(mode, grad_output, grad_hy, grad_cy, input, batch_sizes, hx, cx, w_ih, w_hh, w_hr, output,
                 workspace, reverse, mask);
}

OptTensor opt(const at::Tensor& t) { return t.defined() ? OptTensor(t) : c10::nullopt; }

// Argument positions of rnn_layer (the backward returns one gradient per argument).
enum Arg { kMode, kInput, kBatchSizes, kHx, kCx, kWih, kWhh, kBih, kBhh, kWhr, kReverse, kArgs };

struct RnnLayerFunction : public torch::autograd::Function<RnnLayerFunction> {
  static variable_list forward(AutogradContext* ctx, const std::string& mode, const at::Tensor& input,
                               const OptTensor& batch_sizes, const at::Tensor& hx, const OptTensor& cx,
                               const at::Tensor& w_ih, const at::Tensor& w_hh, const OptTensor& b_ih,
                               const OptTensor& b_hh, const OptTensor& w_hr, bool reverse) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [out, hy, cy, ws] = call_layer(mode, input, batch_sizes, hx, cx, w_ih, w_hh, b_ih, b_hh, w_hr, reverse);
    ctx->set_materialize_grads(false);  // a missing gradient reaches the backward op as None (zeros)
    ctx->saved_data["mode"] = mode;
    ctx->saved_data["reverse"] = reverse;
    // needs_input_grad counts only the tensor arguments that were given: map argument -> edge
    std::vector<int64_t> edge(kArgs, -1);
    const bool present[kArgs] = {false, true, rnn_given(batch_sizes), true, rnn_given(cx), true, true,
                                 rnn_given(b_ih), rnn_given(b_hh), rnn_given(w_hr), false};
    int64_t e = 0;
    for (int i = 0; i < kArgs; ++i)
      if (present[i]) edge[i] = e++;
    ctx->saved_data["edges"] = c10::IValue(edge);
    ctx->save_for_backward({input, batch_sizes.value_or(at::Tensor()), hx, cx.value_or(at::Tensor()), w_ih, w_hh,
                            w_hr.value_or(at::Tensor()), out, ws});
    ctx->mark_non_differentiable({ws});
    if (mode != "lstm") ctx->mark_non_differentiable({cy});
    return {out, hy, cy, ws};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const std::string mode = ctx->saved_data["mode"].toStringRef();
    const bool reverse = ctx->saved_data["reverse"].toBool();
    const auto edge = ctx->saved_data["edges"].toIntVector();
    auto needs = [&](int arg) { return edge[arg] >= 0 && ctx->needs_input_grad(edge[arg]); };
    const std::array<bool, 3> mask = {needs(kInput), needs(kWih) || needs(kWhh) || needs(kWhr),
                                      needs(kBih) || needs(kBhh)};
    variable_list out(kArgs);
    auto [gi, ghx, gcx, gw_ih, gw_hh, gb_ih, gb_hh, gw_hr] =
        call_backward(mode, opt(grads[0]), opt(grads[1]), mode == "lstm" ? opt(grads[2]) : c10::nullopt, s[0],
                      opt(s[1]), s[2], opt(s[3]), s[4], s[5], opt(s[6]), s[7], s[8], reverse, mask);
    if (mask[0]) out[kInput] = gi;
    if (needs(kHx)) out[kHx] = ghx;
    if (needs(kCx)) out[kCx] = gcx;
    if (needs(kWih)) out[kWih] = gw_ih;
    if (needs(kWhh)) out[kWhh] = gw_hh;
    if (needs(kWhr)) out[kWhr] = gw_hr;
    if (needs(kBih)) out[kBih] = gb_ih;
    if (needs(kBhh)) out[kBhh] = gb_hh;
    forbid_double_backward(out, {grads[0], grads[1], grads[2], s[0], s[2], s[3], s[4], s[5], s[6]},
                           "fastnn.LSTM/GRU/RNN (fastnn::rnn_layer)");
    return out;
  }
};

LayerOut rnn_layer_autograd(c10::string_view mode, const at::Tensor& input, const OptTensor& batch_sizes,
                            const at::Tensor& hx, const OptTensor& cx, const at::Tensor& w_ih, const at::Tensor& w_hh,
                            const OptTensor& b_ih, const OptTensor& b_hh, const OptTensor& w_hr, bool reverse) {
  const bool grad = at::GradMode::is_enabled() &&
                    (input.requires_grad() || hx.requires_grad() || (rnn_given(cx) && cx->requires_grad()) ||
                     w_ih.requires_grad() || w_hh.requires_grad() || (rnn_given(b_ih) && b_ih->requires_grad()) ||
                     (rnn_given(b_hh) && b_hh->requires_grad()) || (rnn_given(w_hr) && w_hr->requires_grad()));
  if (!grad) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return call_layer(mode, input, batch_sizes, hx, cx, w_ih, w_hh, b_ih, b_hh, w_hr, reverse);
  }
  auto outs = RnnLayerFunction::apply(std::string(mode), input, batch_sizes, hx, cx, w_ih, w_hh, b_ih, b_hh, w_hr,
                                      reverse);
  return {outs[0], outs[1], outs[2], outs[3]};
}

}  // namespace
}  // namespace fastnn

TORCH_LIBRARY_IMPL(fastnn, Autograd, m) { m.impl("rnn_layer", &fastnn::rnn_layer_autograd); }
