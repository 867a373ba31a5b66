// CPU forward of fastnn::rnn_layer: one layer, one direction, whole sequence.
//   1. input projection of all steps as ONE GEMM (M = all rows), biases folded in;
//   2. per step: hidden GEMM against W_hh packed once, then the gate math on
//      the rows just written, then (LSTM proj_size) the projection GEMM.
// Saves only what backward needs (the workspace, see rnn.h).
#include <ATen/ATen.h>
#include <torch/library.h>

#include <atomic>
#include <chrono>
#include <tuple>

#include "../rnn.h"
#include "gemm/activation.h"
#include "output_cache.h"
#include "rnn_fused.h"
#include "rnn_path_choice.h"
#include "rnn_gates.h"
#include "rnn_steps.h"

namespace fastnn {
namespace {

using namespace cpu;
using cpu::rnn::for_rows;
using cpu::rnn::StepGemm;
using cpu::rnn::Steps;
using cpu::rnn::rows_of;

template <typename T>
void forward_impl(const RnnDims& d, bool reverse, const at::Tensor& x, const at::Tensor& w_ih,
                  const at::Tensor& w_hh, const at::Tensor& b_ih, const at::Tensor& b_hh,
                  const at::Tensor& w_hr, at::Tensor& out, at::Tensor& hy, at::Tensor& cy,
                  at::Tensor& ws) {
  const int64_t H = d.H, P = d.P, G = d.gates * H, rows = d.rows;
  const bool has_bias = b_ih.defined(), proj = w_hr.defined();
  const Steps steps{d, reverse};
  T* o = out.data_ptr<T>();
  T* h_state = hy.data_ptr<T>();  // hy starts as hx and is updated in place
  T* c_state = cy.defined() && cy.numel() ? cy.data_ptr<T>() : nullptr;
  T* w = ws.numel() ? ws.data_ptr<T>() : nullptr;

  // 1. input projection for every step. LSTM/RNN fold b_hh in as well; GRU
  // keeps b_hh for the hidden projection (its n gate needs W_hn h + b_hn alone).
  at::Tensor bias, xproj;
  if (has_bias && d.mode == RnnMode::GRU) {
    bias = b_ih.contiguous();
  } else if (has_bias) {  // a plain loop: an ATen add costs more than the sum for small layers
    const at::Tensor bi = b_ih.contiguous(), bh = b_hh.contiguous();
    bias = empty_cached({G}, b_ih.options());
    const T *pi = bi.data_ptr<T>(), *ph = bh.data_ptr<T>();
    T* pb = bias.data_ptr<T>();
    for (int64_t j = 0; j < G; ++j) pb[j] = pi[j] + ph[j];
  }
  Epilogue<T> ep_in;
  ep_in.bias_n = has_bias ? bias.data_ptr<T>() : nullptr;
  OutView<T> in_out;
  if (d.mode == RnnMode::LSTM) {
    in_out = {w, 5 * H, 1};  // gates go to the workspace's first 4H columns
  } else if (d.mode == RnnMode::GRU) {
    xproj = empty_cached({rows, G}, x.options());
    in_out = {xproj.data_ptr<T>(), G, 1};
  } else {
    in_out = {o, H, 1};  // pre-activations straight into the output
  }
  const auto project_rows = [&](int64_t r0, int64_t r1, bool parallel) {
    OutView<T> part = in_out;
    part.data += r0 * in_out.rs;
    gemm<T>(r1 - r0, G, d.I, RowSource<T>::view(x.data_ptr<T>() + r0 * d.I, d.I, 1), rows_of<T>(w_ih), part,
            ep_in, parallel);
  };
  const at::Tensor bhh = has_bias && d.mode == RnnMode::GRU ? b_hh.contiguous() : at::Tensor();
  const T* bhh_p = bhh.defined() ? bhh.data_ptr<T>() : nullptr;
  const T* xproj_p = xproj.defined() ? xproj.data_ptr<T>() : nullptr;
  // the recurrence on one worker beside the projection, or on the team after it (rnn_path_choice.h)
  const bool candidate = !proj && d.T >= 16 && cpu::rnn::recurrence_split_work(d) > 0 && d.I <= 2 * d.H &&
                         cpu::rnn::two_threads_small_w_hh(d, sizeof(T));
  const cpu::rnn::PathPick path =
      cpu::rnn::pick_path(cpu::rnn::Pass::Forward, d, sizeof(T), candidate, /*fixed: the team*/ false);
  const auto started = std::chrono::steady_clock::now();
  const auto record_trial = [&] {
    cpu::rnn::record_trial(path, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  };
  if (!proj && d.T > 1 && (path.beside || cpu::rnn::recurrence_leaves_a_thread(d))) {
    // the recurrence runs on one worker: the other thread projects the steps ahead of it
    std::atomic<int64_t> projected{0};
    cpu::rnn::run_beside(
        projected, d.T,
        [&] {
          cpu::rnn::for_step_chunks(d, reverse, [&](int64_t r0, int64_t r1, int64_t steps_done) {
            project_rows(r0, r1, /*parallel=*/false);
            projected.store(steps_done, std::memory_order_release);
          });
        },
        [&] { cpu::rnn::fused_forward<T>(d, reverse, w_hh, bhh_p, xproj_p, o, w, h_state, c_state, &projected); });
    record_trial();
    return;
  }
  project_rows(0, rows, /*parallel=*/true);

  // 2. recurrence: a team of workers over hidden-unit slices for sequences (or the batch's halves on
  // the two threads, recurrence_splits_batch);
  // single steps (T = 1) and projections step by step with the GEMM threaded inside
  // each step (for one step the team buys nothing)
  if (!proj && d.T > 1) {
    if (cpu::rnn::recurrence_splits_batch(d)) {
      cpu::rnn::for_batch_halves(d, [&](const RnnDims& half, int64_t b0, int64_t) {
        cpu::rnn::fused_forward<T>(half, reverse, w_hh, bhh_p, xproj_p, o, w, h_state + b0 * H,
                                   c_state ? c_state + b0 * H : nullptr);
      });
    } else {
      cpu::rnn::fused_forward<T>(d, reverse, w_hh, bhh_p, xproj_p, o, w, h_state, c_state);
    }
    record_trial();
    return;
  }
  const StepGemm<T> hidden(rows_of<T>(w_hh), G, P, d.T);
  std::optional<StepGemm<T>> projection;
  at::Tensor gh, hraw;
  if (d.mode == RnnMode::GRU) gh = empty_cached({d.B, G}, x.options());
  if (proj) {
    hraw = empty_cached({d.B, H}, x.options());
    projection.emplace(rows_of<T>(w_hr), P, H, d.T);
  }
  Epilogue<T> ep_acc;
  ep_acc.accumulate = true;
  Epilogue<T> ep_hh;  // GRU hidden projection: W_hh h + b_hh
  ep_hh.bias_n = bhh.defined() ? bhh.data_ptr<T>() : nullptr;
  const Act act = d.mode == RnnMode::RNN_RELU ? Act::ReLU : Act::Tanh;

  for (int64_t s = 0; s < d.T; ++s) {
    const int64_t t = steps.time(s), n = d.batch_sizes[t], r0 = d.offsets[t];
    T* out_rows = o + r0 * P;
    if (d.mode == RnnMode::LSTM) {
      T* g = w + r0 * 5 * H;
      hidden(n, h_state, P, g, 5 * H, ep_acc);
      T* h_target = proj ? hraw.data_ptr<T>() : out_rows;
      for_rows(n, 5 * H, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b)
          cpu::rnn::lstm_forward_units<T>(H, H, g + b * 5 * H, c_state + b * H, h_target + b * H);
      });
      if (proj) (*projection)(n, hraw.data_ptr<T>(), H, out_rows, P, {});
    } else if (d.mode == RnnMode::GRU) {
      T* ghp = gh.data_ptr<T>();
      hidden(n, h_state, P, ghp, G, ep_hh);
      const T* gx = xproj.data_ptr<T>() + r0 * G;
      T* wr = w + r0 * 4 * H;
      for_rows(n, 4 * H, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b)
          cpu::rnn::gru_forward_units<T>(H, H, gx + b * G, ghp + b * G, H, h_state + b * H, wr + b * 4 * H,
                                       out_rows + b * H);
      });
    } else {
      hidden(n, h_state, P, out_rows, H, ep_acc);
      for_rows(n, H, [&](int64_t b0, int64_t b1) { apply_act(act, out_rows + b0 * H, (b1 - b0) * H); });
    }
    std::copy(out_rows, out_rows + n * P, h_state);
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> rnn_layer_cpu(
    c10::string_view mode, const at::Tensor& input, const c10::optional<at::Tensor>& batch_sizes,
    const at::Tensor& hx, const c10::optional<at::Tensor>& cx, const at::Tensor& w_ih,
    const at::Tensor& w_hh, const c10::optional<at::Tensor>& b_ih, const c10::optional<at::Tensor>& b_hh,
    const c10::optional<at::Tensor>& w_hr, bool reverse) {
  const RnnDims d = check_rnn_layer_args(std::string(mode), input, batch_sizes, hx, cx, w_ih, w_hh, b_ih,
                                         b_hh, w_hr);
  const at::Tensor x = input.contiguous().view({d.rows, d.I});
  std::vector<int64_t> out_shape(input.sizes().begin(), input.sizes().end());
  out_shape.back() = d.P;
  at::Tensor out = empty_cached(out_shape, input.options());
  at::Tensor hy = copy_cached(hx);
  at::Tensor cy = d.mode == RnnMode::LSTM ? copy_cached(*cx) : empty_cached({0}, input.options());
  at::Tensor ws = empty_cached({d.rows, rnn_workspace_cols(d.mode, d.H)}, input.options());
  const at::Tensor none;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "fastnn_rnn_layer", [&] {
    forward_impl<scalar_t>(d, reverse, x, w_ih, w_hh, b_ih.value_or(none), b_hh.value_or(none),
                           w_hr.value_or(none), out, hy, cy, ws);
  });
  return {out, hy, cy, ws};
}

}  // namespace
}  // namespace fastnn

TORCH_LIBRARY_IMPL(fastnn, CPU, m) { m.impl("rnn_layer", &fastnn::rnn_layer_cpu); }
