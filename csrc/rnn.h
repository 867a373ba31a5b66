// fastnn recurrent ops: schema and the argument checks shared by every backend.
//
// One op runs one layer in one direction over a whole sequence (cells have
// their own op, fastnn::rnn_cell, see rnn_cell.h):
//   rnn_layer(mode, input, batch_sizes, hx, cx, w_ih, w_hh, b_ih, b_hh, w_hr, reverse)
//     -> (output, hy, cy, workspace)
// mode: "lstm" (gates i,f,g,o), "gru" (r,z,n), "rnn_tanh", "rnn_relu".
// input is time-major [T, B, I], or packed [sum(batch_sizes), I] when
// batch_sizes (int64, non-increasing, as in PackedSequence) is given: step t
// then covers rows [off_t, off_t + batch_sizes[t]) and batch rows b < batch_sizes[t].
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace fastnn {

enum class RnnMode : int { LSTM = 0, GRU = 1, RNN_TANH = 2, RNN_RELU = 3 };

// Sizes of one rnn_layer call, validated.
struct RnnDims {
  RnnMode mode;
  int64_t gates;  // G: 4 (lstm), 3 (gru), 1 (rnn)
  int64_t T, B, I, H, P;  // steps, batch, input size, hidden size, output (projection) size
  int64_t rows;           // rows of input/output: T*B, or sum(batch_sizes)
  bool packed;
  std::vector<int64_t> batch_sizes;  // per step (all B when not packed)
  std::vector<int64_t> offsets;      // first row of each step
};

RnnMode parse_rnn_mode(const std::string& mode, const char* op = "rnn_layer");

// An optional tensor argument that was given (not None, not undefined).
inline bool rnn_given(const c10::optional<at::Tensor>& t) { return t.has_value() && t->defined(); }

// TORCH_CHECKs that t has the given shape and input's dtype and device, naming op and argument.
void check_rnn_tensor(const char* op, const char* arg, const at::Tensor& t, const at::Tensor& input,
                      std::initializer_list<int64_t> shape, const char* shape_name);

// Columns of the saved workspace per row: lstm 5H (i,f,g,o activated, c),
// gru 4H (r, z, n, W_hn h + b_hn), rnn 0 (backward uses the output).
int64_t rnn_workspace_cols(RnnMode mode, int64_t H);

// Validates rnn_layer's arguments before any work (names argument, expected, got).
RnnDims check_rnn_layer_args(const std::string& mode, const at::Tensor& input,
                             const c10::optional<at::Tensor>& batch_sizes, const at::Tensor& hx,
                             const c10::optional<at::Tensor>& cx, const at::Tensor& w_ih,
                             const at::Tensor& w_hh, const c10::optional<at::Tensor>& b_ih,
                             const c10::optional<at::Tensor>& b_hh,
                             const c10::optional<at::Tensor>& w_hr);

// Validates rnn_layer_backward's extra arguments (saved tensors and incoming grads).
void check_rnn_backward_args(const RnnDims& d, const c10::optional<at::Tensor>& grad_output,
                             const c10::optional<at::Tensor>& grad_hy,
                             const c10::optional<at::Tensor>& grad_cy, const at::Tensor& output,
                             const at::Tensor& workspace);

}  // namespace fastnn
