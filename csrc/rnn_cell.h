// fastnn::rnn_cell: one step of an LSTM/GRU/RNN cell (torch.nn.*Cell), as its
// own op rather than rnn_layer with T = 1: a cell is called once per step from
// Python, so the op does only what one step needs (no packing, no time loop).
//
//   rnn_cell(mode, input [B, I], hx [B, H]?, cx [B, H]?, w_ih, w_hh, b_ih?, b_hh?)
//     -> (hy [B, H], cy [B, H] (lstm; else empty), workspace)
// A missing hx / cx is a zero state: the hidden GEMM is skipped, not run on zeros.
// workspace: lstm [B, 5H] (i, f, g, o activated, c'), gru [B, 4H] (r, z, n,
// W_hn h + b_hn), rnn [B, 0] (backward uses hy).
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <string>

#include "rnn.h"

namespace fastnn {

struct RnnCellDims {
  RnnMode mode;
  int64_t gates, B, I, H;
  bool has_h, has_c, has_bias;
};

// Validates rnn_cell's arguments before any work (names argument, expected, got).
RnnCellDims check_rnn_cell_args(const std::string& mode, const at::Tensor& input,
                                const c10::optional<at::Tensor>& hx, const c10::optional<at::Tensor>& cx,
                                const at::Tensor& w_ih, const at::Tensor& w_hh,
                                const c10::optional<at::Tensor>& b_ih, const c10::optional<at::Tensor>& b_hh);

// Validates rnn_cell_backward's saved tensors and incoming gradients.
void check_rnn_cell_backward_args(const RnnCellDims& d, const c10::optional<at::Tensor>& grad_hy,
                                  const c10::optional<at::Tensor>& grad_cy, const at::Tensor& hy,
                                  const at::Tensor& workspace);

}  // namespace fastnn
