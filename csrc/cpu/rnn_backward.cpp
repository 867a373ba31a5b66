// CPU backward of fastnn::rnn_layer (backward through time).
// Per step, in reverse processing order: gate gradients from the saved
// workspace, then dh_prev = dgates @ W_hh with W_hh packed once. Weight
// gradients come at the end as ONE GEMM each over all steps
// (dW_ih = dgates_all^T x_all, dW_hh = dgates_all^T h_prev_all), bias grads as
// column sums (summed step by step inside the fused recurrence), and the input
// gradient as one GEMM dgates_all @ W_ih (for a small batch on two threads: alongside the
// recurrence, see pipelined_input_grad).
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
#include "rnn_team.h"

namespace fastnn {
namespace cpu::rnn {

template <typename T>
void column_sums(const T* m, int64_t rows, int64_t n, int64_t ld, T* out) {
  const int64_t block = 256;
  at::parallel_for(0, (n + block - 1) / block, 1, [&](int64_t b, int64_t e) {
    const int64_t j0 = b * block, j1 = std::min(n, e * block);
    std::fill(out + j0, out + j1, T(0));
    for (int64_t i = 0; i < rows; ++i) {
      const T* row = m + i * ld;
      for (int64_t j = j0; j < j1; ++j) out[j] += row[j];
    }
  });
}
template void column_sums<float>(const float*, int64_t, int64_t, int64_t, float*);
template void column_sums<double>(const double*, int64_t, int64_t, int64_t, double*);

}  // namespace cpu::rnn

namespace {

using namespace cpu;
using cpu::rnn::for_rows;
using cpu::rnn::StepGemm;
using cpu::rnn::Steps;
using cpu::rnn::cols_of;


// With two threads and a small batch, the backward recurrence scales poorly (LSTM 100,4,256->256:
// 1.29x over one thread; its per-step products are small and the workers meet every step), while
// the input gradient dgates @ W_ih, a GEMM run after it, scales fully. So one thread runs the
// recurrence alone and the other computes the input gradient of the steps already finished, chunk
// by chunk. Measured (backward op, in-process A/B, 2 threads, float32, I = H, T = 100 unless said;
// against the team's split of hidden units, before recurrence_splits_batch took batch 8+):
//   gains: LSTM B=4 H=64 +55%, H=128 +20%, H=256 +6%; GRU B=4 H=128 +29%, H=256 +7.5%;
//          LSTM B=8 H=128 +13%, H=256 +3.5%; GRU B=8 H=256 +6%; LSTM B=12 H=256 +3%; T=50 B=4 +2%
//   losses: H=320-512 (the weight slice then outgrows one core's L2) -2% to -28%; B=1 -9%;
//           B=2 H=256 -5%; T=20 -1%; B=16 no change.
// Hence the fixed rule: W_hh at most 1 MiB, batch 4-12, at least 50 steps, I >= H/2 (the GEMM
// that fills the second thread must be as large as the recurrence), exactly two threads (the
// measured case). Later measurements found more gains outside it (H=128 batch 1-64 +6% to +16%,
// H=192 batch 16 +8%, H=256 batch 16 +3%) beside more losses (H=256 batch 32 -1%, I = 2H -8%), so
// where W_hh is at most 1 MiB, 16+ steps and H/2 <= I <= 2H, the first calls of a shape time both
// ways and keep the faster (rnn_path_choice.h); the fixed rule stays for deterministic mode. A
// recurrence that runs on one worker anyway (recurrence_split_work) always leaves the second
// thread free for it.
cpu::rnn::PathPick pipelined_input_grad(const RnnDims& d, bool fused, bool input_grad, int64_t elem_bytes) {
  if (!fused || !input_grad) return {};
  if (cpu::rnn::recurrence_leaves_a_thread(d)) return {true, -1};
  const bool small = cpu::rnn::two_threads_small_w_hh(d, elem_bytes);
  const bool fixed = small && d.B >= 4 && d.B <= 12 && d.T >= 50 && 2 * d.I >= d.H;
  const bool candidate = small && d.T >= 16 && 2 * d.I >= d.H && d.I <= 2 * d.H;
  return cpu::rnn::pick_path(cpu::rnn::Pass::Backward, d, elem_bytes, candidate, fixed);
}

// grad_input = dgates_x @ W_ih for the rows of the steps the recurrence has finished, chunk by
// chunk while it runs on another thread (steps are finished in processing order, so the rows done
// grow from one end of the sequence).
template <typename T>
void input_grad_follower(const RnnDims& d, bool reverse, const std::atomic<int64_t>& progress, const T* dgx,
                         const at::Tensor& w_ih, T* grad_input) {
  const int64_t G = d.gates * d.H, min_rows = 32;
  // the backward recurrence processes the steps in the reverse of the forward's order
  const auto rows_done = [&](int64_t s0, int64_t s1) { return cpu::rnn::rows_of_steps(d, !reverse, s0, s1); };
  Epilogue<T> ep;
  int64_t done = 0;  // steps whose rows are written
  while (done < d.T) {
    int64_t avail = 0;
    cpu::rnn::spin_until([&] {
      avail = progress.load(std::memory_order_acquire);
      if (avail >= d.T) return true;
      if (avail <= done) return false;
      const auto [r0, r1] = rows_done(done, avail);
      return r1 - r0 >= min_rows;
    });
    const auto [r0, r1] = rows_done(done, std::min(avail, d.T));
    gemm<T>(r1 - r0, d.I, G, RowSource<T>::view(dgx + r0 * G, G, 1), cols_of<T>(w_ih),
            {grad_input + r0 * d.I, d.I, 1}, ep, /*parallel=*/false);
    done = avail;
  }
}

struct Grads {
  at::Tensor input, hx, cx, w_ih, w_hh, b_ih, b_hh, w_hr;
};

template <typename T>
void backward_impl(const RnnDims& d, bool reverse, std::array<bool, 3> mask, const at::Tensor& x,
                   const at::Tensor& hx, const at::Tensor& cx, const at::Tensor& w_ih,
                   const at::Tensor& w_hh, const at::Tensor& w_hr, const at::Tensor& out,
                   const at::Tensor& ws, const at::Tensor& grad_out, Grads& g) {
  const int64_t H = d.H, P = d.P, G = d.gates * H, rows = d.rows;
  const bool proj = w_hr.defined(), lstm = d.mode == RnnMode::LSTM, gru = d.mode == RnnMode::GRU;
  const Steps steps{d, reverse};
  const T* o = out.data_ptr<T>();
  const T* w = ws.numel() ? ws.data_ptr<T>() : nullptr;
  const T* go = grad_out.defined() ? grad_out.data_ptr<T>() : nullptr;
  T* dh_state = g.hx.data_ptr<T>();  // starts as grad_hy, ends as grad_hx
  T* dc_state = lstm ? g.cx.data_ptr<T>() : nullptr;
  const T* hx_p = hx.data_ptr<T>();
  const T* cx_p = lstm ? cx.data_ptr<T>() : nullptr;

  // h_prev of every row (hx where a row starts): the operand of dW_hh, and GRU's dz.
  at::Tensor h_prev_all = empty_cached({rows, P}, x.options());
  T* hp = h_prev_all.data_ptr<T>();
  for (int64_t t = 0; t < d.T; ++t)
    for (int64_t b = 0; b < d.batch_sizes[t]; ++b) {
      const int64_t pr = steps.prev_row(t, b);
      const T* src = pr >= 0 ? o + pr * P : hx_p + b * P;
      std::copy(src, src + P, hp + (d.offsets[t] + b) * P);
    }

  at::Tensor dgx_all = empty_cached({rows, G}, x.options());
  at::Tensor dgh_all = gru ? empty_cached({rows, G}, x.options()) : dgx_all;
  T* dgx = dgx_all.data_ptr<T>();
  T* dgh = dgh_all.data_ptr<T>();
  at::Tensor dh_cur = empty_cached({d.B, P}, x.options());
  at::Tensor dh_raw, dhp_all, hraw_all;
  std::optional<StepGemm<T>> proj_back;
  if (proj) {
    dh_raw = empty_cached({d.B, H}, x.options());
    dhp_all = empty_cached({rows, P}, x.options());
    hraw_all = empty_cached({rows, H}, x.options());
    proj_back.emplace(cols_of<T>(w_hr), H, P, d.T);
  }
  at::Tensor tanh_scratch = lstm && !proj ? empty_cached({d.B, H}, x.options()) : at::Tensor();
  // the fused recurrence (rnn_backward_fused.cpp) packs its own slices of W_hh; the step-by-step
  // loop below (projections, single steps) needs W_hh^T packed whole. Only then: packing it is a
  // transposing copy of all of W_hh (measured 0.75-0.95 ms per call at H = 512, 0.17-0.25 ms at
  // 256).
  const bool fused = !proj && d.T > 1;
  std::optional<StepGemm<T>> hidden_back;
  if (!fused) hidden_back.emplace(cols_of<T>(w_hh), P, G, d.T);
  Epilogue<T> ep_set, ep_acc;
  ep_acc.accumulate = true;
  const Act act = d.mode == RnnMode::RNN_RELU ? Act::ReLU : Act::Tanh;

  const cpu::rnn::PathPick path = pipelined_input_grad(d, fused, mask[0], sizeof(T));
  const bool pipeline = path.beside;
  const auto started = std::chrono::steady_clock::now();
  if (fused) {
    T* db_ih = mask[2] ? g.b_ih.data_ptr<T>() : nullptr;
    T* db_hh = mask[2] && gru ? g.b_hh.data_ptr<T>() : nullptr;
    if (pipeline) {
      std::atomic<int64_t> progress{0};
      cpu::rnn::run_beside(
          progress, d.T,
          [&] {
            cpu::rnn::fused_backward<T>(d, reverse, w_hh, o, w, go, hp, cx_p, dh_state, dc_state, dgx,
                                        gru ? dgh : nullptr, db_ih, db_hh, &progress);
          },
          [&] { input_grad_follower<T>(d, reverse, progress, dgx, w_ih, g.input.data_ptr<T>()); });
    } else if (cpu::rnn::recurrence_splits_batch(d)) {
      // the second half sums its bias gradients apart, added after the region
      at::Tensor db_second = empty_cached({2, G}, x.options());
      T* db2[2] = {db_ih ? db_second.data_ptr<T>() : nullptr, db_hh ? db_second.data_ptr<T>() + G : nullptr};
      cpu::rnn::for_batch_halves(d, [&](const RnnDims& half, int64_t b0, int64_t i) {
        cpu::rnn::fused_backward<T>(half, reverse, w_hh, o, w, go, hp, cx_p ? cx_p + b0 * H : nullptr,
                                    dh_state + b0 * P, dc_state ? dc_state + b0 * H : nullptr, dgx,
                                    gru ? dgh : nullptr, i ? db2[0] : db_ih, i ? db2[1] : db_hh);
      });
      for (int64_t j = 0; j < G; ++j) {
        if (db_ih) db_ih[j] += db2[0][j];
        if (db_hh) db_hh[j] += db2[1][j];
      }
    } else {
      cpu::rnn::fused_backward<T>(d, reverse, w_hh, o, w, go, hp, cx_p, dh_state, dc_state, dgx,
                                  gru ? dgh : nullptr, db_ih, db_hh);
    }
  }
  for (int64_t s = fused ? -1 : d.T - 1; s >= 0; --s) {
    const int64_t t = steps.time(s), n = d.batch_sizes[t], r0 = d.offsets[t];
    T* dh = dh_cur.data_ptr<T>();
    for (int64_t i = 0; i < n * P; ++i) dh[i] = dh_state[i] + (go ? go[r0 * P + i] : T(0));
    T* dgx_t = dgx + r0 * G;
    T* dgh_t = dgh + r0 * G;
    if (lstm) {
      const T* dh_use = dh;
      T* tanh_c = proj ? hraw_all.data_ptr<T>() + r0 * H : tanh_scratch.data_ptr<T>();
      if (proj) {
        std::copy(dh, dh + n * P, dhp_all.data_ptr<T>() + r0 * P);
        (*proj_back)(n, dh, P, dh_raw.data_ptr<T>(), H, ep_set);
        dh_use = dh_raw.data_ptr<T>();
      }
      for_rows(n, 5 * H, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t pr = steps.prev_row(t, b);
          const T* c_prev = pr >= 0 ? w + pr * 5 * H + 4 * H : cx_p + b * H;
          const T* wsr = w + (r0 + b) * 5 * H;
          cpu::rnn::lstm_backward_units<T>(H, H, wsr, c_prev, dh_use + b * H, dc_state + b * H,
                                         tanh_c + b * H, dgx_t + b * G);
          if (proj)  // h before projection = o * tanh(c), the operand of dW_hr
            for (int64_t j = 0; j < H; ++j) tanh_c[b * H + j] *= wsr[3 * H + j];
        }
      });
      (*hidden_back)(n, dgx_t, G, dh_state, P, ep_set);
    } else if (gru) {
      const T* h_prev_t = hp + r0 * P;
      for_rows(n, 4 * H, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b)
          cpu::rnn::gru_backward_units<T>(H, H, w + (r0 + b) * 4 * H, h_prev_t + b * H, dh + b * H,
                                        dgx_t + b * G, dgh_t + b * G, dh_state + b * H);
      });
      (*hidden_back)(n, dgh_t, G, dh_state, P, ep_acc);
    } else {
      act_grad(act, dh, o + r0 * H, dgx_t, n * H);
      (*hidden_back)(n, dgx_t, G, dh_state, P, ep_set);
    }
  }

  if (mask[0] && !pipeline)  // grad_input = dgates_x @ W_ih
    gemm<T>(rows, d.I, G, RowSource<T>::view(dgx, G, 1), cols_of<T>(w_ih), {g.input.data_ptr<T>(), d.I, 1},
            ep_set);
  cpu::rnn::record_trial(path, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (mask[1]) {
    // dW = dgates^T @ operand, one GEMM over all steps each
    const RowSource<T> x_t = RowSource<T>::view(x.data_ptr<T>(), 1, d.I), h_t = RowSource<T>::view(hp, 1, P);
    if (dgh == dgx && d.I % 64 == 0) {
      // LSTM / RNN: both weight gradients share A = dgates^T: ONE product over [x | h_prev]
      // writing both (A packed once: 6-10% faster than two products at 400-1600 rows, measured as
      // Linear weight gradients; the LSTM backward op 2-3% faster, 100,4 and 50,32 at 256).
      // I % 64 == 0 keeps every strip and output tile within one of them (all widths divide 64).
      OutView<T> both{g.w_ih.data_ptr<T>(), d.I, 1};
      both.data2 = g.w_hh.data_ptr<T>();
      both.rs2 = P;
      both.split = d.I;
      gemm<T>(G, d.I + P, rows, RowSource<T>::view(dgx, 1, G), cpu::rnn::concat_rows(x_t, d.I, h_t), both, ep_set);
    } else {
      gemm<T>(G, d.I, rows, RowSource<T>::view(dgx, 1, G), x_t, {g.w_ih.data_ptr<T>(), d.I, 1}, ep_set);
      gemm<T>(G, P, rows, RowSource<T>::view(dgh, 1, G), h_t, {g.w_hh.data_ptr<T>(), P, 1}, ep_set);
    }
    if (proj)
      gemm<T>(P, H, rows, RowSource<T>::view(dhp_all.data_ptr<T>(), 1, P),
              RowSource<T>::view(hraw_all.data_ptr<T>(), 1, H), {g.w_hr.data_ptr<T>(), H, 1}, ep_set);
  }
  if (mask[2]) {
    if (!fused) {  // (the fused recurrence summed them step by step)
      cpu::rnn::column_sums<T>(dgx, rows, G, G, g.b_ih.data_ptr<T>());
      if (gru) cpu::rnn::column_sums<T>(dgh, rows, G, G, g.b_hh.data_ptr<T>());
    }
    if (!gru) g.b_hh.copy_(g.b_ih);
  }
}

at::Tensor zeros_or(const c10::optional<at::Tensor>& t, at::IntArrayRef shape, const at::Tensor& like) {
  if (t.has_value() && t->defined()) return copy_cached(*t);
  return empty_cached(shape, like.options()).zero_();
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
rnn_layer_backward_cpu(c10::string_view mode, const c10::optional<at::Tensor>& grad_output,
                       const c10::optional<at::Tensor>& grad_hy, const c10::optional<at::Tensor>& grad_cy,
                       const at::Tensor& input, const c10::optional<at::Tensor>& batch_sizes,
                       const at::Tensor& hx, const c10::optional<at::Tensor>& cx, const at::Tensor& w_ih,
                       const at::Tensor& w_hh, const c10::optional<at::Tensor>& w_hr, const at::Tensor& output,
                       const at::Tensor& workspace, bool reverse, std::array<bool, 3> mask) {
  const RnnDims d = check_rnn_layer_args(std::string(mode), input, batch_sizes, hx, cx, w_ih, w_hh,
                                         c10::nullopt, c10::nullopt, w_hr);
  check_rnn_backward_args(d, grad_output, grad_hy, grad_cy, output, workspace);
  const bool lstm = d.mode == RnnMode::LSTM, proj = w_hr.has_value() && w_hr->defined();
  const auto opts = input.options();
  const at::Tensor empty = empty_cached({0}, opts);
  Grads g;
  g.input = mask[0] ? empty_cached(input.sizes(), opts) : empty;
  g.hx = zeros_or(grad_hy, {d.B, d.P}, input);
  g.cx = lstm ? zeros_or(grad_cy, {d.B, d.H}, input) : empty;
  g.w_ih = mask[1] ? empty_cached(w_ih.sizes(), opts) : empty;
  g.w_hh = mask[1] ? empty_cached(w_hh.sizes(), opts) : empty;
  g.w_hr = mask[1] && proj ? empty_cached(w_hr->sizes(), opts) : empty;
  g.b_ih = mask[2] ? empty_cached({d.gates * d.H}, opts) : empty;
  g.b_hh = mask[2] ? empty_cached({d.gates * d.H}, opts) : empty;
  const at::Tensor x = input.contiguous().view({d.rows, d.I});
  const at::Tensor out = output.contiguous();
  at::Tensor go;
  if (grad_output.has_value() && grad_output->defined()) go = grad_output->contiguous();
  const at::Tensor hxc = hx.contiguous();
  const at::Tensor cxc = lstm ? cx->contiguous() : at::Tensor();
  const at::Tensor wsc = workspace.contiguous();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "fastnn_rnn_layer_backward", [&] {
    backward_impl<scalar_t>(d, reverse, mask, x, hxc, cxc, w_ih, w_hh, proj ? *w_hr : at::Tensor(), out, wsc,
                            go, g);
  });
  return {g.input, g.hx, g.cx, g.w_ih, g.w_hh, g.b_ih, g.b_hh, g.w_hr};
}

}  // namespace
}  // namespace fastnn

TORCH_LIBRARY_IMPL(fastnn, CPU, m) { m.impl("rnn_layer_backward", &fastnn::rnn_layer_backward_cpu); }
