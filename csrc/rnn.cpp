// fastnn::rnn_layer schema and argument checks (all backends).
#include "rnn.h"

#include <torch/library.h>

namespace fastnn {
void check_rnn_tensor(const char* op, const char* arg, const at::Tensor& t, const at::Tensor& input,
                      std::initializer_list<int64_t> shape, const char* shape_name) {
  TORCH_CHECK(t.sizes() == c10::IntArrayRef(shape), op, ": ", arg, " must have shape ", shape_name,
              " = ", c10::IntArrayRef(shape), ", got ", t.sizes());
  TORCH_CHECK(t.scalar_type() == input.scalar_type(), op, ": ", arg, " dtype must match input dtype ",
              input.scalar_type(), ", got ", t.scalar_type());
  TORCH_CHECK(t.device() == input.device(), op, ": ", arg, " must be on the input's device ",
              input.device(), ", got ", t.device());
}

namespace {

const char* kOp = "rnn_layer";

void check_tensor(const char* arg, const at::Tensor& t, const at::Tensor& input,
                  std::initializer_list<int64_t> shape, const char* shape_name) {
  check_rnn_tensor(kOp, arg, t, input, shape, shape_name);
}


}  // namespace

RnnMode parse_rnn_mode(const std::string& mode, const char* op) {
  if (mode == "lstm") return RnnMode::LSTM;
  if (mode == "gru") return RnnMode::GRU;
  if (mode == "rnn_tanh") return RnnMode::RNN_TANH;
  if (mode == "rnn_relu") return RnnMode::RNN_RELU;
  TORCH_CHECK(false, op, ": mode must be one of 'lstm', 'gru', 'rnn_tanh', 'rnn_relu', got '", mode, "'");
}

int64_t rnn_workspace_cols(RnnMode mode, int64_t H) {
  return mode == RnnMode::LSTM ? 5 * H : mode == RnnMode::GRU ? 4 * H : 0;
}

RnnDims check_rnn_layer_args(const std::string& mode, const at::Tensor& input,
                             const c10::optional<at::Tensor>& batch_sizes, const at::Tensor& hx,
                             const c10::optional<at::Tensor>& cx, const at::Tensor& w_ih,
                             const at::Tensor& w_hh, const c10::optional<at::Tensor>& b_ih,
                             const c10::optional<at::Tensor>& b_hh,
                             const c10::optional<at::Tensor>& w_hr) {
  RnnDims d;
  d.mode = parse_rnn_mode(mode);
  d.gates = d.mode == RnnMode::LSTM ? 4 : d.mode == RnnMode::GRU ? 3 : 1;
  d.packed = rnn_given(batch_sizes);
  TORCH_CHECK(input.scalar_type() == at::kFloat || input.scalar_type() == at::kDouble, kOp,
              ": input must be float32 or float64, got ", input.scalar_type());
  TORCH_CHECK(input.dim() == (d.packed ? 2 : 3), kOp, ": input must be ",
              d.packed ? "2-D [sum(batch_sizes), input_size] (packed)" : "3-D [T, batch, input_size]",
              ", got ", input.dim(), "-D with shape ", input.sizes());
  TORCH_CHECK(w_ih.dim() == 2 && w_ih.size(0) % d.gates == 0 && w_ih.size(0) > 0, kOp,
              ": w_ih must be 2-D [", d.gates, "*hidden_size, input_size], got shape ", w_ih.sizes());
  d.H = w_ih.size(0) / d.gates;
  d.I = input.size(-1);
  TORCH_CHECK(w_ih.size(1) == d.I, kOp, ": input.size(-1) must equal input_size = w_ih.size(1) = ",
              w_ih.size(1), ", got ", d.I);
  check_tensor("w_ih", w_ih, input, {d.gates * d.H, d.I}, "[G*hidden_size, input_size]");
  const bool proj = rnn_given(w_hr);
  TORCH_CHECK(!proj || d.mode == RnnMode::LSTM, kOp, ": w_hr (projection) is only supported for mode 'lstm'");
  TORCH_CHECK(!proj || w_hr->dim() == 2, kOp, ": w_hr must be 2-D [proj_size, hidden_size], got shape ",
              w_hr->sizes());
  d.P = proj ? w_hr->size(0) : d.H;
  if (proj) check_tensor("w_hr", *w_hr, input, {d.P, d.H}, "[proj_size, hidden_size]");
  check_tensor("w_hh", w_hh, input, {d.gates * d.H, d.P}, "[G*hidden_size, proj_size or hidden_size]");
  if (rnn_given(b_ih)) check_tensor("b_ih", *b_ih, input, {d.gates * d.H}, "[G*hidden_size]");
  if (rnn_given(b_hh)) check_tensor("b_hh", *b_hh, input, {d.gates * d.H}, "[G*hidden_size]");
  TORCH_CHECK(rnn_given(b_ih) == rnn_given(b_hh), kOp, ": b_ih and b_hh must both be given or both be None");

  if (d.packed) {
    const at::Tensor& bs = *batch_sizes;
    TORCH_CHECK(bs.dim() == 1 && bs.scalar_type() == at::kLong && bs.device().is_cpu(), kOp,
                ": batch_sizes must be a 1-D int64 CPU tensor, got ", bs.dim(), "-D ", bs.scalar_type(),
                " on ", bs.device());
    d.T = bs.size(0);
    const at::Tensor bsc = bs.contiguous();
    const int64_t* p = bsc.data_ptr<int64_t>();
    d.batch_sizes.assign(p, p + d.T);
    d.B = d.T ? d.batch_sizes[0] : 0;
    int64_t total = 0;
    for (int64_t t = 0; t < d.T; ++t) {
      TORCH_CHECK(d.batch_sizes[t] > 0 && (t == 0 || d.batch_sizes[t] <= d.batch_sizes[t - 1]), kOp,
                  ": batch_sizes must be positive and non-increasing, got ", bs);
      d.offsets.push_back(total);
      total += d.batch_sizes[t];
    }
    TORCH_CHECK(total == input.size(0), kOp, ": packed input must have sum(batch_sizes) = ", total,
                " rows, got ", input.size(0));
    d.rows = total;
  } else {
    d.T = input.size(0);
    d.B = input.size(1);
    d.rows = d.T * d.B;
    d.batch_sizes.assign(d.T, d.B);
    for (int64_t t = 0; t < d.T; ++t) d.offsets.push_back(t * d.B);
  }
  check_tensor("hx", hx, input, {d.B, d.P}, "[batch, proj_size or hidden_size]");
  if (d.mode == RnnMode::LSTM) {
    TORCH_CHECK(rnn_given(cx), kOp, ": cx (initial cell state) is required for mode 'lstm'");
    check_tensor("cx", *cx, input, {d.B, d.H}, "[batch, hidden_size]");
  }
  return d;
}

void check_rnn_backward_args(const RnnDims& d, const c10::optional<at::Tensor>& grad_output,
                             const c10::optional<at::Tensor>& grad_hy,
                             const c10::optional<at::Tensor>& grad_cy, const at::Tensor& output,
                             const at::Tensor& workspace) {
  const char* op = "rnn_layer_backward";
  TORCH_CHECK(output.dim() == 2 || output.dim() == 3, op, ": output must be 2-D or 3-D, got shape ",
              output.sizes());
  TORCH_CHECK(output.numel() == d.rows * d.P && output.size(-1) == d.P, op,
              ": output must have ", d.rows, " rows of size ", d.P, ", got shape ", output.sizes());
  TORCH_CHECK(workspace.numel() == d.rows * rnn_workspace_cols(d.mode, d.H), op,
              ": workspace must have ", d.rows, " x ", rnn_workspace_cols(d.mode, d.H),
              " elements (from rnn_layer), got shape ", workspace.sizes());
  if (rnn_given(grad_output))
    TORCH_CHECK(grad_output->sizes() == output.sizes(), op, ": grad_output must have output's shape ",
                output.sizes(), ", got ", grad_output->sizes());
  if (rnn_given(grad_hy))
    TORCH_CHECK(grad_hy->sizes() == c10::IntArrayRef({d.B, d.P}), op, ": grad_hy must have shape [",
                d.B, ", ", d.P, "], got ", grad_hy->sizes());
  if (rnn_given(grad_cy) && d.mode == RnnMode::LSTM)
    TORCH_CHECK(grad_cy->sizes() == c10::IntArrayRef({d.B, d.H}), op, ": grad_cy must have shape [",
                d.B, ", ", d.H, "], got ", grad_cy->sizes());
}

}  // namespace fastnn

TORCH_LIBRARY_FRAGMENT(fastnn, m) {
  // One recurrent layer, one direction, whole sequence (see rnn.h). cy is
  // empty for gru/rnn; workspace holds what backward needs.
  m.def(
      "rnn_layer(str mode, Tensor input, Tensor? batch_sizes, Tensor hx, Tensor? cx, Tensor w_ih, "
      "Tensor w_hh, Tensor? b_ih, Tensor? b_hh, Tensor? w_hr, bool reverse) "
      "-> (Tensor output, Tensor hy, Tensor cy, Tensor workspace)");
  // Gradients of rnn_layer. Missing incoming grads (None) count as zeros.
  // output_mask: [input, weights (w_ih, w_hh, w_hr), biases]; gradients not
  // asked for come back empty. grad_cx is empty for gru/rnn, grad_w_hr
  // without projection.
  m.def(
      "rnn_layer_backward(str mode, Tensor? grad_output, Tensor? grad_hy, Tensor? grad_cy, "
      "Tensor input, Tensor? batch_sizes, Tensor hx, Tensor? cx, Tensor w_ih, Tensor w_hh, "
      "Tensor? w_hr, Tensor output, Tensor workspace, bool reverse, bool[3] output_mask) "
      "-> (Tensor grad_input, Tensor grad_hx, Tensor grad_cx, Tensor grad_w_ih, Tensor grad_w_hh, "
      "Tensor grad_b_ih, Tensor grad_b_hh, Tensor grad_w_hr)");
}
