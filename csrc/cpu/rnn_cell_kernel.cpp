// CPU ops fastnn::rnn_cell / rnn_cell_backward (one step, see rnn_cell.h):
// argument checks, outputs from the output cache, and the dtype dispatch to
// the team kernels of rnn_cell_team.h (the weights are read in place, never packed).
#include <ATen/ATen.h>
#include <torch/library.h>

#include <cstring>
#include <tuple>

#include "../rnn_cell.h"
#include "output_cache.h"
#include "rnn_cell_team.h"

namespace fastnn {
namespace {

using cpu::empty_cached;

std::tuple<at::Tensor, at::Tensor, at::Tensor> rnn_cell_cpu(
    c10::string_view mode, const at::Tensor& input, const c10::optional<at::Tensor>& hx,
    const c10::optional<at::Tensor>& cx, const at::Tensor& w_ih, const at::Tensor& w_hh,
    const c10::optional<at::Tensor>& b_ih, const c10::optional<at::Tensor>& b_hh) {
  const RnnCellDims d = check_rnn_cell_args(std::string(mode), input, hx, cx, w_ih, w_hh, b_ih, b_hh);
  const auto opts = input.options();
  const bool lstm = d.mode == RnnMode::LSTM;
  cpu::rnn::CellTensors in{input.contiguous(), d.has_h ? hx->contiguous() : at::Tensor(), at::Tensor(),
                           w_ih, w_hh, b_ih.value_or(at::Tensor()), b_hh.value_or(at::Tensor())};
  at::Tensor hy = empty_cached({d.B, d.H}, opts);
  // cy starts as cx (or zeros) and the gate math updates it in place
  at::Tensor cy = !lstm ? at::empty({0}, opts) : d.has_c ? cpu::copy_cached(*cx) : empty_cached({d.B, d.H}, opts);
  if (lstm && !d.has_c) std::memset(cy.data_ptr(), 0, cy.numel() * cy.element_size());
  at::Tensor ws = empty_cached({d.B, rnn_workspace_cols(d.mode, d.H)}, opts);
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "fastnn_rnn_cell", [&] {
    cpu::rnn::cell_forward<scalar_t>(d, in, hy.data_ptr<scalar_t>(), lstm ? cy.data_ptr<scalar_t>() : nullptr,
                                     ws.data_ptr<scalar_t>());
  });
  return {hy, cy, ws};
}

// ---- backward -------------------------------------------------------------------------------------

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> rnn_cell_backward_cpu(
    c10::string_view mode, const c10::optional<at::Tensor>& grad_hy, const c10::optional<at::Tensor>& grad_cy,
    const at::Tensor& input, const c10::optional<at::Tensor>& hx, const c10::optional<at::Tensor>& cx,
    const at::Tensor& w_ih, const at::Tensor& w_hh, const at::Tensor& hy, const at::Tensor& workspace,
    std::array<bool, 4> mask) {
  const RnnCellDims d =
      check_rnn_cell_args(std::string(mode), input, hx, cx, w_ih, w_hh, c10::nullopt, c10::nullopt);
  check_rnn_cell_backward_args(d, grad_hy, grad_cy, hy, workspace);
  const auto opts = input.options();
  const int64_t G = d.gates * d.H;
  const bool lstm = d.mode == RnnMode::LSTM;
  cpu::rnn::CellGradTensors g;
  if (mask[0]) g.input = empty_cached({d.B, d.I}, opts);
  if (mask[1] && d.has_h) g.hx = empty_cached({d.B, d.H}, opts);
  if (mask[1] && d.has_c) g.cx = empty_cached({d.B, d.H}, opts);
  if (mask[2]) {
    g.w_ih = empty_cached({G, d.I}, opts);
    g.w_hh = empty_cached({G, d.H}, opts);
  }
  if (mask[3]) {
    g.b_ih = empty_cached({G}, opts);
    g.b_hh = empty_cached({G}, opts);
  }
  auto contig = [](const c10::optional<at::Tensor>& t) {
    return t.has_value() && t->defined() ? t->contiguous() : at::Tensor();
  };
  const cpu::rnn::CellTensors in{input.contiguous(), contig(hx), lstm ? contig(cx) : at::Tensor(), w_ih, w_hh,
                                 at::Tensor(), at::Tensor()};
  const at::Tensor gh = contig(grad_hy), gc = lstm ? contig(grad_cy) : at::Tensor();
  const at::Tensor hyc = hy.contiguous(), wsc = workspace.contiguous();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "fastnn_rnn_cell_backward", [&] {
    cpu::rnn::cell_backward<scalar_t>(d, in, hyc, wsc, gh, gc, g);
  });
  const at::Tensor empty = at::empty({0}, opts);
  auto or_empty = [&](const at::Tensor& t) { return t.defined() ? t : empty; };
  return {or_empty(g.input), or_empty(g.hx), or_empty(g.cx), or_empty(g.w_ih), or_empty(g.w_hh),
          or_empty(g.b_ih), or_empty(g.b_hh)};
}

}  // namespace
}  // namespace fastnn

TORCH_LIBRARY_IMPL(fastnn, CPU, m) {
  m.impl("rnn_cell", &fastnn::rnn_cell_cpu);
  m.impl("rnn_cell_backward", &fastnn::rnn_cell_backward_cpu);
}
