// fastnn::rnn_cell schema and argument checks (all backends); see rnn_cell.h.
#include "rnn_cell.h"

#include <torch/library.h>

#include <array>

namespace fastnn {
namespace {

const char* kOp = "rnn_cell";


}  // namespace

RnnCellDims check_rnn_cell_args(const std::string& mode, const at::Tensor& input,
                                const c10::optional<at::Tensor>& hx, const c10::optional<at::Tensor>& cx,
                                const at::Tensor& w_ih, const at::Tensor& w_hh,
                                const c10::optional<at::Tensor>& b_ih, const c10::optional<at::Tensor>& b_hh) {
  RnnCellDims d;
  d.mode = parse_rnn_mode(mode, kOp);
  d.gates = d.mode == RnnMode::LSTM ? 4 : d.mode == RnnMode::GRU ? 3 : 1;
  TORCH_CHECK(input.scalar_type() == at::kFloat || input.scalar_type() == at::kDouble, kOp,
              ": input must be float32 or float64, got ", input.scalar_type());
  TORCH_CHECK(input.dim() == 2, kOp, ": input must be 2-D [batch, input_size], got ", input.dim(),
              "-D with shape ", input.sizes());
  TORCH_CHECK(w_ih.dim() == 2 && w_ih.size(0) % d.gates == 0 && w_ih.size(0) > 0, kOp, ": w_ih must be 2-D [",
              d.gates, "*hidden_size, input_size], got shape ", w_ih.sizes());
  d.B = input.size(0);
  d.I = input.size(1);
  d.H = w_ih.size(0) / d.gates;
  TORCH_CHECK(w_ih.size(1) == d.I, kOp, ": input.size(1) must equal input_size = w_ih.size(1) = ", w_ih.size(1),
              ", got ", d.I);
  const int64_t G = d.gates * d.H;
  check_rnn_tensor(kOp, "w_ih", w_ih, input, {G, d.I}, "[G*hidden_size, input_size]");
  check_rnn_tensor(kOp, "w_hh", w_hh, input, {G, d.H}, "[G*hidden_size, hidden_size]");
  d.has_bias = rnn_given(b_ih);
  TORCH_CHECK(d.has_bias == rnn_given(b_hh), kOp, ": b_ih and b_hh must both be given or both be None");
  if (d.has_bias) {
    check_rnn_tensor(kOp, "b_ih", *b_ih, input, {G}, "[G*hidden_size]");
    check_rnn_tensor(kOp, "b_hh", *b_hh, input, {G}, "[G*hidden_size]");
  }
  d.has_h = rnn_given(hx);
  d.has_c = rnn_given(cx);
  if (d.has_h) check_rnn_tensor(kOp, "hx", *hx, input, {d.B, d.H}, "[batch, hidden_size]");
  TORCH_CHECK(!d.has_c || d.mode == RnnMode::LSTM, kOp, ": cx (cell state) is only used by mode 'lstm', got one for '",
              mode, "'");
  if (d.has_c) check_rnn_tensor(kOp, "cx", *cx, input, {d.B, d.H}, "[batch, hidden_size]");
  return d;
}

void check_rnn_cell_backward_args(const RnnCellDims& d, const c10::optional<at::Tensor>& grad_hy,
                                  const c10::optional<at::Tensor>& grad_cy, const at::Tensor& hy,
                                  const at::Tensor& workspace) {
  const char* op = "rnn_cell_backward";
  const std::array<int64_t, 2> dims{d.B, d.H};
  const c10::IntArrayRef state(dims);
  TORCH_CHECK(hy.sizes() == state, op, ": hy must have shape [batch, hidden_size] = ", state, ", got ", hy.sizes());
  const int64_t cols = rnn_workspace_cols(d.mode, d.H);
  TORCH_CHECK(workspace.sizes() == c10::IntArrayRef({d.B, cols}), op, ": workspace must have shape [", d.B, ", ",
              cols, "] (from rnn_cell), got ", workspace.sizes());
  if (rnn_given(grad_hy))
    TORCH_CHECK(grad_hy->sizes() == state, op, ": grad_hy must have shape ", state, ", got ", grad_hy->sizes());
  if (rnn_given(grad_cy))
    TORCH_CHECK(grad_cy->sizes() == state, op, ": grad_cy must have shape ", state, ", got ", grad_cy->sizes());
}

}  // namespace fastnn

TORCH_LIBRARY_FRAGMENT(fastnn, m) {
  // One cell step (see rnn_cell.h). cy is empty for gru/rnn.
  m.def(
      "rnn_cell(str mode, Tensor input, Tensor? hx, Tensor? cx, Tensor w_ih, Tensor w_hh, Tensor? b_ih, "
      "Tensor? b_hh) -> (Tensor hy, Tensor cy, Tensor workspace)");
  // Gradients of rnn_cell; a missing incoming grad (None) counts as zeros.
  // output_mask: [input, states (hx, cx), weights, biases]; a gradient not
  // asked for, or of a state that was None, comes back empty.
  m.def(
      "rnn_cell_backward(str mode, Tensor? grad_hy, Tensor? grad_cy, Tensor input, Tensor? hx, Tensor? cx, "
      "Tensor w_ih, Tensor w_hh, Tensor hy, Tensor workspace, bool[4] output_mask) "
      "-> (Tensor grad_input, Tensor grad_hx, Tensor grad_cx, Tensor grad_w_ih, Tensor grad_w_hh, "
      "Tensor grad_b_ih, Tensor grad_b_hh)");
}
