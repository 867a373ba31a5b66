// Autograd for fastnn::rnn_cell, in C++: a cell runs once per time step from
// Python, and a Python autograd.Function would cost more than a small step's
// math. The backward is the fastnn::rnn_cell_backward op.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "backward_op_scope.h"
#include "rnn_cell.h"

namespace fastnn {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using OptTensor = c10::optional<at::Tensor>;
using CellOut = std::tuple<at::Tensor, at::Tensor, at::Tensor>;
using CellGradOut = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

CellOut call_cell(c10::string_view mode, const at::Tensor& input, const OptTensor& hx, const OptTensor& cx,
                  const at::Tensor& w_ih, const at::Tensor& w_hh, const OptTensor& b_ih, const OptTensor& b_hh) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("fastnn::rnn_cell", "")
                       .typed<CellOut(c10::string_view, const at::Tensor&, const OptTensor&, const OptTensor&,
                                      const at::Tensor&, const at::Tensor&, const OptTensor&, const OptTensor&)>();
  return op.call(mode, input, hx, cx, w_ih, w_hh, b_ih, b_hh);
}

CellGradOut call_cell_backward(c10::string_view mode, const OptTensor& grad_hy, const OptTensor& grad_cy,
                               const at::Tensor& input, const OptTensor& hx, const OptTensor& cx,
                               const at::Tensor& w_ih, const at::Tensor& w_hh, const at::Tensor& hy,
                               const at::Tensor& workspace, std::array<bool, 4> mask) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("fastnn::rnn_cell_backward", "")
                       .typed<CellGradOut(c10::string_view, const OptTensor&, const OptTensor&, const at::Tensor&,
                                          const OptTensor&, const OptTensor&, const at::Tensor&, const at::Tensor&,
                                          const at::Tensor&, const at::Tensor&, std::array<bool, 4>)>();
  BackwardOpScope below_autograd;  // see backward_op_scope.h
  return op.call(mode, grad_hy, grad_cy, input, hx, cx, w_ih, w_hh, hy, workspace, mask);
}

OptTensor opt(const at::Tensor& t) { return t.defined() ? OptTensor(t) : c10::nullopt; }
bool wants_grad(const OptTensor& t) { return rnn_given(t) && t->requires_grad(); }

// Argument positions of rnn_cell (one gradient slot per argument).
enum Arg { kMode, kInput, kHx, kCx, kWih, kWhh, kBih, kBhh, kArgs };

struct RnnCellFunction : public torch::autograd::Function<RnnCellFunction> {
  static variable_list forward(AutogradContext* ctx, const std::string& mode, const at::Tensor& input,
                               const OptTensor& hx, const OptTensor& cx, const at::Tensor& w_ih,
                               const at::Tensor& w_hh, const OptTensor& b_ih, const OptTensor& b_hh) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [hy, cy, ws] = call_cell(mode, input, hx, cx, w_ih, w_hh, b_ih, b_hh);
    ctx->set_materialize_grads(false);  // a missing gradient reaches the backward op as None (zeros)
    ctx->saved_data["mode"] = mode;
    // needs_input_grad counts only the tensor arguments that were given: map argument -> edge
    std::vector<int64_t> edge(kArgs, -1);
    const bool present[kArgs] = {false, true, rnn_given(hx), rnn_given(cx), true, true, rnn_given(b_ih), rnn_given(b_hh)};
    int64_t e = 0;
    for (int i = 0; i < kArgs; ++i)
      if (present[i]) edge[i] = e++;
    ctx->saved_data["edges"] = c10::IValue(edge);
    ctx->save_for_backward({input, hx.value_or(at::Tensor()), cx.value_or(at::Tensor()), w_ih, w_hh, hy, ws});
    ctx->mark_non_differentiable({ws});
    if (mode != "lstm") ctx->mark_non_differentiable({cy});
    return {hy, cy, ws};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const std::string mode = ctx->saved_data["mode"].toStringRef();
    const auto edge = ctx->saved_data["edges"].toIntVector();
    auto needs = [&](int arg) { return edge[arg] >= 0 && ctx->needs_input_grad(edge[arg]); };
    const std::array<bool, 4> mask = {needs(kInput), needs(kHx) || needs(kCx), needs(kWih) || needs(kWhh),
                                      needs(kBih) || needs(kBhh)};
    auto [gi, ghx, gcx, gw_ih, gw_hh, gb_ih, gb_hh] =
        call_cell_backward(mode, opt(grads[0]), mode == "lstm" ? opt(grads[1]) : c10::nullopt, s[0], opt(s[1]),
                           opt(s[2]), s[3], s[4], s[5], s[6], mask);
    variable_list out(kArgs);
    if (needs(kInput)) out[kInput] = gi;
    if (needs(kHx)) out[kHx] = ghx;
    if (needs(kCx)) out[kCx] = gcx;
    if (needs(kWih)) out[kWih] = gw_ih;
    if (needs(kWhh)) out[kWhh] = gw_hh;
    if (needs(kBih)) out[kBih] = gb_ih;
    if (needs(kBhh)) out[kBhh] = gb_hh;
    forbid_double_backward(out, {grads[0], grads[1], s[0], s[1], s[2], s[3], s[4]},
                           "fastnn.LSTMCell/GRUCell/RNNCell (fastnn::rnn_cell)");
    return out;
  }
};

CellOut rnn_cell_autograd(c10::string_view mode, const at::Tensor& input, const OptTensor& hx, const OptTensor& cx,
                          const at::Tensor& w_ih, const at::Tensor& w_hh, const OptTensor& b_ih,
                          const OptTensor& b_hh) {
  const bool grad = at::GradMode::is_enabled() &&
                    (input.requires_grad() || wants_grad(hx) || wants_grad(cx) || w_ih.requires_grad() ||
                     w_hh.requires_grad() || wants_grad(b_ih) || wants_grad(b_hh));
  if (!grad) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return call_cell(mode, input, hx, cx, w_ih, w_hh, b_ih, b_hh);
  }
  auto outs = RnnCellFunction::apply(std::string(mode), input, hx, cx, w_ih, w_hh, b_ih, b_hh);
  return {outs[0], outs[1], outs[2]};
}

}  // namespace
}  // namespace fastnn

TORCH_LIBRARY_IMPL(fastnn, Autograd, m) { m.impl("rnn_cell", &fastnn::rnn_cell_autograd); }
