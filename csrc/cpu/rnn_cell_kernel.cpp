// CPU kernels of fastnn::rnn_cell / rnn_cell_backward (one step, see rnn_cell.h).
//
// Forward: gates = x W_ih^T (+ h W_hh^T) + biases as one or two small-M GEMMs
// (the dot-product path: the weights are read in place, never packed), then
// the gate math on the rows just written.
// Backward: gate gradients, then dx = dG W_ih, dh = dG W_hh (weights read in
// place), dW = dG^T [x | h] and the bias gradients as column sums.
// Temporaries live in per-thread scratch that is reused from call to call: a
// fresh 100 KiB+ allocation costs a page fault per 4 KiB on every call.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "../rnn_cell.h"
#include "gemm/activation.h"
#include "output_cache.h"
#include "rnn_gates.h"
#include "rnn_steps.h"

namespace fastnn {
namespace {

using namespace cpu;
using cpu::rnn::cols_of;
using cpu::rnn::for_rows;
using cpu::rnn::rows_of;

// Per-thread scratch slots, grown on demand and kept for the next call.
enum Slot { kGatesX, kGatesH, kZeros, kTanh, kState, kSlots };

template <typename T>
T* scratch(Slot slot, int64_t n) {
  thread_local std::vector<T> bufs[kSlots];
  std::vector<T>& b = bufs[slot];
  if (static_cast<int64_t>(b.size()) < n) b.resize(static_cast<size_t>(n));
  return b.data();
}

template <typename T>
T* zeros(int64_t n) {
  T* z = scratch<T>(kZeros, n);
  std::fill(z, z + n, T(0));
  return z;
}

template <typename T>
const T* ptr(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

template <typename T>
RowSource<T> rows(const T* p, int64_t ld) {
  return RowSource<T>::view(p, ld, 1);
}

// ---- forward --------------------------------------------------------------------------------------

// One product C[:, n] (+)= A @ Bt[n, :]^T of the forward: Bt is a weight [N, K].
template <typename T>
struct Product {
  int64_t K;
  const T* a;  // [M, K], contiguous rows
  const at::Tensor* w;
  T* c;
  int64_t ldc;
  Epilogue<T> ep;  // bias_n indexed by n
};

// Both products of a step (x and h against their weights) over the same
// columns, in ONE parallel region: each task runs both on its column range,
// instead of a fork/join per GEMM (which cost as much as a batch-8 step).
template <typename T>
void run_products(int64_t M, int64_t N, const Product<T>* prods, int n_prods) {
  int64_t macs = 0;
  for (int i = 0; i < n_prods; ++i) macs += M * N * prods[i].K;
  const int64_t threads = at::in_parallel_region() ? 1 : at::get_num_threads();
  const int64_t parts = macs < (1 << 17) ? 1 : std::min<int64_t>(threads, std::max<int64_t>(1, N / 32));
  const int64_t chunk = ((N + parts - 1) / parts + 31) / 32 * 32;  // whole 32-column strips
  auto work = [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n0 = std::min(N, p * chunk), n1 = std::min(N, n0 + chunk);
      if (n1 <= n0) continue;
      for (int i = 0; i < n_prods; ++i) {
        const Product<T>& q = prods[i];
        Epilogue<T> ep = q.ep;
        if (ep.bias_n) ep.bias_n += n0;
        const T* wd = q.w->template data_ptr<T>();
        gemm<T>(M, n1 - n0, q.K, rows(q.a, q.K),
                RowSource<T>::view(wd + n0 * q.w->stride(0), q.w->stride(0), q.w->stride(1)), {q.c + n0, q.ldc, 1},
                ep, /*parallel=*/false);
      }
    }
  };
  if (parts > 1) {
    at::parallel_for(0, parts, 1, work);
  } else {
    work(0, 1);
  }
}

template <typename T>
void forward_impl(const RnnCellDims& d, const at::Tensor& x, const at::Tensor& h, const at::Tensor& w_ih,
                  const at::Tensor& w_hh, const at::Tensor& b_ih, const at::Tensor& b_hh, T* hy, T* cy, T* ws) {
  const int64_t B = d.B, I = d.I, H = d.H, G = d.gates * H;
  const T* xp = x.data_ptr<T>();
  const T* hp = ptr<T>(h);
  const T* bi = ptr<T>(b_ih);
  const T* bh = ptr<T>(b_hh);

  if (d.mode == RnnMode::GRU) {
    // r, z, n need W_hn h + b_hn apart from W_in x + b_in: two gate buffers
    T* gx = scratch<T>(kGatesX, B * G);
    T* gh = scratch<T>(kGatesH, B * G);
    Product<T> prods[2] = {{I, xp, &w_ih, gx, G, {}}, {H, hp, &w_hh, gh, G, {}}};
    prods[0].ep.bias_n = bi;
    prods[1].ep.bias_n = bh;
    run_products<T>(B, G, prods, hp ? 2 : 1);
    if (!hp)
      for (int64_t b = 0; b < B; ++b)
        for (int64_t j = 0; j < G; ++j) gh[b * G + j] = bh ? bh[j] : T(0);
    const T* h_prev = hp ? hp : zeros<T>(B * H);
    for_rows(B, 4 * H, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        cpu::rnn::gru_forward_units<T>(H, H, gx + b * G, gh + b * G, H, h_prev + b * H, ws + b * 4 * H, hy + b * H);
    });
    return;
  }

  // LSTM / RNN: both biases folded into the first GEMM
  std::vector<T> bias;
  if (bi) {
    bias.resize(static_cast<size_t>(G));
    for (int64_t j = 0; j < G; ++j) bias[j] = bi[j] + bh[j];
  }
  const bool lstm = d.mode == RnnMode::LSTM;
  const Act act = d.mode == RnnMode::RNN_RELU ? Act::ReLU : Act::Tanh;
  T* gates = lstm ? ws : hy;  // LSTM: pre-activations into the workspace's first 4H columns
  const int64_t ldg = lstm ? 5 * H : H;
  Product<T> prods[2] = {{I, xp, &w_ih, gates, ldg, {}}, {H, hp, &w_hh, gates, ldg, {}}};
  prods[0].ep.bias_n = bi ? bias.data() : nullptr;
  prods[1].ep.accumulate = true;
  prods[hp ? 1 : 0].ep.act = lstm ? Act::None : act;  // RNN: the activation after the last product
  run_products<T>(B, G, prods, hp ? 2 : 1);
  if (!lstm) return;
  for_rows(B, 5 * H, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      cpu::rnn::lstm_forward_units<T>(H, H, ws + b * 5 * H, cy + b * H, hy + b * H);
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> rnn_cell_cpu(
    c10::string_view mode, const at::Tensor& input, const c10::optional<at::Tensor>& hx,
    const c10::optional<at::Tensor>& cx, const at::Tensor& w_ih, const at::Tensor& w_hh,
    const c10::optional<at::Tensor>& b_ih, const c10::optional<at::Tensor>& b_hh) {
  const RnnCellDims d = check_rnn_cell_args(std::string(mode), input, hx, cx, w_ih, w_hh, b_ih, b_hh);
  const auto opts = input.options();
  const bool lstm = d.mode == RnnMode::LSTM;
  const at::Tensor x = input.contiguous();
  const at::Tensor h = d.has_h ? hx->contiguous() : at::Tensor();
  at::Tensor hy = empty_cached({d.B, d.H}, opts);
  // cy starts as cx (or zeros) and the gate math updates it in place
  at::Tensor cy = lstm ? empty_cached({d.B, d.H}, opts) : at::empty({0}, opts);
  if (lstm && d.has_c) cy.copy_(*cx);
  if (lstm && !d.has_c) cy.zero_();
  at::Tensor ws = empty_cached({d.B, rnn_workspace_cols(d.mode, d.H)}, opts);
  const at::Tensor none;
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "fastnn_rnn_cell", [&] {
    forward_impl<scalar_t>(d, x, h, w_ih, w_hh, b_ih.value_or(none), b_hh.value_or(none), hy.data_ptr<scalar_t>(),
                           lstm ? cy.data_ptr<scalar_t>() : nullptr, ws.data_ptr<scalar_t>());
  });
  return {hy, cy, ws};
}

// ---- backward -------------------------------------------------------------------------------------

struct CellGrads {
  at::Tensor input, hx, cx, w_ih, w_hh, b_ih, b_hh;
};

template <typename T>
void backward_impl(const RnnCellDims& d, std::array<bool, 4> mask, const at::Tensor& x, const at::Tensor& h,
                   const at::Tensor& c, const at::Tensor& w_ih, const at::Tensor& w_hh, const at::Tensor& hy,
                   const at::Tensor& ws, const at::Tensor& grad_hy, const at::Tensor& grad_cy, CellGrads& g) {
  const int64_t B = d.B, I = d.I, H = d.H, G = d.gates * H;
  const bool lstm = d.mode == RnnMode::LSTM, gru = d.mode == RnnMode::GRU;
  const T* wsp = ws.data_ptr<T>();
  const T* hp = ptr<T>(h);
  const T* dh = grad_hy.defined() ? grad_hy.data_ptr<T>() : zeros<T>(B * H);
  // 1. gate gradients: dgx for the input side, dgh for the hidden side
  // (the same buffer except for GRU, whose n gate has r inside the product)
  T* dgx = scratch<T>(kGatesX, B * G);
  T* dgh = gru ? scratch<T>(kGatesH, B * G) : dgx;
  if (lstm) {
    // dc: grad of c' in, grad of c out (written straight into grad_cx when asked for)
    T* dc = g.cx.defined() ? g.cx.data_ptr<T>() : scratch<T>(kState, B * H);
    if (grad_cy.defined()) {
      std::copy(grad_cy.data_ptr<T>(), grad_cy.data_ptr<T>() + B * H, dc);
    } else {
      std::fill(dc, dc + B * H, T(0));
    }
    const T* c_prev = c.defined() ? c.data_ptr<T>() : zeros<T>(B * H);  // read-only: may share dh's zeros
    T* tanh_c = scratch<T>(kTanh, B * H);
    for_rows(B, 5 * H, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        cpu::rnn::lstm_backward_units<T>(H, H, wsp + b * 5 * H, c_prev + b * H, dh + b * H, dc + b * H,
                                         tanh_c + b * H, dgx + b * G);
    });
  } else if (gru) {
    // the part of grad h that bypasses W_hh (dh * z) goes straight into grad_hx
    T* direct = g.hx.defined() ? g.hx.data_ptr<T>() : scratch<T>(kState, B * H);
    const T* h_prev = hp ? hp : zeros<T>(B * H);
    for_rows(B, 4 * H, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        cpu::rnn::gru_backward_units<T>(H, H, wsp + b * 4 * H, h_prev + b * H, dh + b * H, dgx + b * G,
                                        dgh + b * G, direct + b * H);
    });
  } else {
    act_grad(d.mode == RnnMode::RNN_RELU ? Act::ReLU : Act::Tanh, dh, hy.data_ptr<T>(), dgx, B * H);
  }

  // 2. products with the weights (read in place) and the weight/bias gradients
  Epilogue<T> set, acc;
  acc.accumulate = true;
  if (g.input.defined()) gemm<T>(B, I, G, rows(dgx, G), cols_of<T>(w_ih), {g.input.data_ptr<T>(), I, 1}, set);
  if (g.hx.defined()) gemm<T>(B, H, G, rows(dgh, G), cols_of<T>(w_hh), {g.hx.data_ptr<T>(), H, 1}, gru ? acc : set);
  if (g.w_ih.defined()) {
    gemm<T>(G, I, B, RowSource<T>::view(dgx, 1, G), RowSource<T>::view(x.data_ptr<T>(), 1, I),
            {g.w_ih.data_ptr<T>(), I, 1}, set);
    if (hp) {
      gemm<T>(G, H, B, RowSource<T>::view(dgh, 1, G), RowSource<T>::view(hp, 1, H), {g.w_hh.data_ptr<T>(), H, 1},
              set);
    } else {
      g.w_hh.zero_();  // a zero state contributes nothing
    }
  }
  if (g.b_ih.defined()) {
    cpu::rnn::column_sums<T>(dgx, B, G, G, g.b_ih.data_ptr<T>());
    if (gru) {
      cpu::rnn::column_sums<T>(dgh, B, G, G, g.b_hh.data_ptr<T>());
    } else {
      g.b_hh.copy_(g.b_ih);
    }
  }
}

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
  CellGrads g;
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
  const at::Tensor x = input.contiguous(), h = contig(hx), c = lstm ? contig(cx) : at::Tensor();
  const at::Tensor gh = contig(grad_hy), gc = lstm ? contig(grad_cy) : at::Tensor();
  const at::Tensor hyc = hy.contiguous(), wsc = workspace.contiguous();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "fastnn_rnn_cell_backward", [&] {
    backward_impl<scalar_t>(d, mask, x, h, c, w_ih, w_hh, hyc, wsc, gh, gc, g);
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
