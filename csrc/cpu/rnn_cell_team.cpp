// One cell step by a team of workers: gate-row blocks for the products, hidden units for the
// gate math (see rnn_cell_team.h).
#include "rnn_cell_team.h"

#include <algorithm>

#include "aligned_buffer.h"
#include "gemm/activation.h"
#include "gemm/gemm.h"
#include "gemm/gemm_dot.h"
#include "rnn_gates.h"
#include "rnn_steps.h"
#include "rnn_team.h"

namespace fastnn::cpu::rnn {
namespace {

// Per-thread scratch slots of the calling thread (64-byte aligned), grown on demand and kept
// for the next call: a fresh 100 KiB+ allocation costs a page fault per 4 KiB on
// every call. Workers get pointers into them before the parallel region.
enum Slot { kGatesX, kGatesH, kZeros, kTanh, kState, kPartialX, kPartialH, kBias, kSlots };

template <typename T>
T* scratch(Slot slot, int64_t n) {
  thread_local AlignedBuffer<T> bufs[kSlots];
  return bufs[slot].get(static_cast<size_t>(n));
}

template <typename T>
const T* zeros(int64_t n) {
  T* z = scratch<T>(kZeros, n);
  std::fill(z, z + n, T(0));
  return z;
}

template <typename T>
const T* ptr(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

template <typename T>
RowSource<T> view(const T* p, int64_t rs, int64_t cs) {
  return RowSource<T>::view(p, rs, cs);
}

// Gate rows from r0 of a weight [G, K] (rnn_steps.h's views, moved down r0 rows): as the Bt rows
// of a forward product, or as the K range of a backward product dG @ W.
template <typename T>
RowSource<T> weight_rows(const at::Tensor& w, int64_t r0) {
  RowSource<T> s = rows_of<T>(w);
  s.data += r0 * w.stride(0);
  return s;
}
template <typename T>
RowSource<T> weight_cols(const at::Tensor& w, int64_t r0) {
  RowSource<T> s = cols_of<T>(w);
  s.data += r0 * w.stride(0);
  return s;
}

// Splits the hidden units over the threads; one part below 2^17 multiply-adds, where the
// thread-pool wake-up costs more than it saves (as for the GEMM's small-M path).
UnitSplit split_of(const RnnCellDims& d) {
  const int64_t macs = d.B * d.gates * d.H * (d.I + d.H);
  return UnitSplit(d.H, macs < (int64_t(1) << 17) ? 0 : macs);
}

// The products' split: part p takes gate rows [begin(p), end(p)) of the weights, a contiguous block
// (whole 32-row strips), in the forward and the backward alike.
struct RowSplit {
  int64_t G, chunk;
  RowSplit(int64_t gates_total, int64_t parts)
      : G(gates_total), chunk(((gates_total + parts - 1) / parts + 31) / 32 * 32) {}
  int64_t begin(int64_t p) const { return std::min(G, p * chunk); }
  int64_t end(int64_t p) const { return std::min(G, (p + 1) * chunk); }
};

// Rows the small-M kernels compute for M rows of A, padding included (gemm_dot.h: the quad
// kernel's vectors hold 4 rows, the broadcast kernel's 16); M where neither takes them.
int64_t kernel_rows(int64_t M) {
  if (bcast_quad_takes(M)) return 4 * quad_vectors(M);
  if (bcast_takes(M)) return 16 * bcast_vectors(M);
  return M;
}

// Whether a two-part forward splits the batch rows (each worker: every gate row of half the batch,
// then that half's gate math, with no exchange and no wait) rather than the gate rows: from 12 rows
// a worker, where the half pads no more than the whole batch does in the small-M kernels, and for
// weights up to 2 MiB (each worker then reads all of them). Measured forward against the row split,
// in-process, 2 threads (AMD EPYC Zen 4 VM): LSTMCell 24,256->256 -26%, 28,256 -7%, 32,256 -6%,
// 62,256 -3%, 24,128 -22%, 64,128 -17%, 32,64 -10%; GRUCell 32,256 -10%, 64,256 -14%, 24,128 -29%;
// fwd+bwd LSTMCell 32,256 -2% to -3%, GRUCell 32,256 -4%. Left to the row split: batch 8 (+14%),
// 48 (24 rows pad to 32: +29%), 4 MiB+ of weights (LSTMCell 32,512 +0.3% and +1.5%, 64,1024 +10%).
bool split_batch(int64_t B, int64_t weight_bytes) {
  const int64_t m = (B + 1) / 2;
  if (m < 12 || B > kBcastMaxM || weight_bytes > (int64_t(2) << 20)) return false;
  return m * kernel_rows(B) >= B * kernel_rows(m);
}

}  // namespace

// ---- forward --------------------------------------------------------------------------------------

template <typename T>
void cell_forward(const RnnCellDims& d, const CellTensors& in, T* hy, T* cy, T* ws) {
  const int64_t B = d.B, I = d.I, H = d.H, G = d.gates * H;
  const bool lstm = d.mode == RnnMode::LSTM, gru = d.mode == RnnMode::GRU;
  const T* x = in.x.template data_ptr<T>();
  const T* h = ptr<T>(in.h);
  const T* bi = ptr<T>(in.b_ih);
  const T* bh = ptr<T>(in.b_hh);
  const Act act = d.mode == RnnMode::RNN_RELU ? Act::ReLU : Act::Tanh;
  // LSTM/RNN add both products into one buffer, so b_hh joins b_ih (GRU keeps b_hh apart).
  const T* bias_x = bi;
  if (bi && !gru) {
    T* folded = scratch<T>(kBias, G);
    for (int64_t j = 0; j < G; ++j) folded[j] = bi[j] + bh[j];
    bias_x = folded;
  }
  // Gate pre-activations: LSTM into ws's first 4H columns, GRU into two [B, G] buffers, RNN into hy.
  T* gx = lstm ? ws : gru ? scratch<T>(kGatesX, B * G) : hy;
  T* gh = gru ? scratch<T>(kGatesH, B * G) : gx;
  const int64_t ldg = lstm ? 5 * H : G;
  const T* h_prev = gru && !h ? zeros<T>(B * H) : h;
  const UnitSplit split = split_of(d);

  const RowSplit rows(G, split.parts);
  Epilogue<T> ex, eh;
  ex.bias_n = bias_x;
  eh.bias_n = bh;
  if (!lstm && !gru) ex.act = act;  // RNN: the activation in the (last) product's epilogue

  const bool by_batch = h && (lstm || gru) && split.parts == 2 &&
                        split_batch(B, G * (I + H) * int64_t(sizeof(T)));
  run_team(split.parts, [&](int64_t pb, int64_t pe, StepFlags& flags) {
    if (by_batch) {  // all gate rows and all units of half the batch rows each: no exchange
      const int64_t half = (B + 1) / 2;
      for (int64_t p = pb; p < pe; ++p) {
        const int64_t b0 = p * half, nb = std::min(B, b0 + half) - b0;
        if (nb <= 0) continue;
        if (lstm) {
          gemm_sum2<T>(nb, G, I, view(x + b0 * I, I, 1), weight_rows<T>(in.w_ih, 0), H, view(h + b0 * H, H, 1),
                       weight_rows<T>(in.w_hh, 0), {gx + b0 * ldg, ldg, 1}, ex, false);
        } else {
          gemm<T>(nb, G, I, view(x + b0 * I, I, 1), weight_rows<T>(in.w_ih, 0), {gx + b0 * G, G, 1}, ex, false);
          gemm<T>(nb, G, H, view(h + b0 * H, H, 1), weight_rows<T>(in.w_hh, 0), {gh + b0 * G, G, 1}, eh, false);
        }
        for (int64_t b = b0; b < b0 + nb; ++b) {
          if (lstm) {
            lstm_forward_units<T>(H, H, ws + b * 5 * H, cy + b * H, hy + b * H);
          } else {
            gru_forward_units<T>(H, H, gx + b * G, gh + b * G, H, h_prev + b * H, ws + b * 4 * H, hy + b * H);
          }
        }
      }
      return;
    }
    // 1. gate pre-activations of own gate rows
    for (int64_t p = pb; p < pe; ++p) {
      const int64_t r0 = rows.begin(p), n = rows.end(p) - r0;
      if (n <= 0) continue;
      Epilogue<T> e1 = ex, e2 = eh;
      if (e1.bias_n) e1.bias_n += r0;
      if (e2.bias_n) e2.bias_n += r0;
      if (h && !gru) {  // LSTM/RNN: x W_ih^T + h W_hh^T summed in one pass over the gate rows
        gemm_sum2<T>(B, n, I, view(x, I, 1), weight_rows<T>(in.w_ih, r0), H, view(h, H, 1),
                     weight_rows<T>(in.w_hh, r0), {gx + r0, ldg, 1}, e1, false);
        continue;
      }
      gemm<T>(B, n, I, view(x, I, 1), weight_rows<T>(in.w_ih, r0), {gx + r0, ldg, 1}, e1, false);
      if (h) {  // GRU: the hidden product apart (its n gate is reset before the sum)
        gemm<T>(B, n, H, view(h, H, 1), weight_rows<T>(in.w_hh, r0), {gh + r0, ldg, 1}, e2, false);
      } else if (gru) {  // zero state: the hidden projection is b_hh alone
        for (int64_t b = 0; b < B; ++b)
          for (int64_t j = r0; j < r0 + n; ++j) gh[b * G + j] = bh ? bh[j] : T(0);
      }
    }
    if (!lstm && !gru) return;  // RNN: done in the epilogue
    // 2. gate math of own units, which needs every gate of a unit: after the others' rows
    flags.publish(pb, pe, 1);
    flags.wait_others(pb, pe, 1);
    for (int64_t p = pb; p < pe; ++p) {
      const int64_t u0 = split.begin(p), wd = split.width(p);
      for (int64_t b = 0; b < B; ++b) {
        if (lstm) {
          lstm_forward_units<T>(H, wd, ws + b * 5 * H + u0, cy + b * H + u0, hy + b * H + u0);
        } else {
          gru_forward_units<T>(H, wd, gx + b * G + u0, gh + b * G + u0, H, h_prev + b * H + u0,
                               ws + b * 4 * H + u0, hy + b * H + u0);
        }
      }
    }
  });
}

// ---- backward -------------------------------------------------------------------------------------

template <typename T>
void cell_backward(const RnnCellDims& d, const CellTensors& in, const at::Tensor& hy, const at::Tensor& ws,
                   const at::Tensor& grad_hy, const at::Tensor& grad_cy, CellGradTensors& g) {
  const int64_t B = d.B, I = d.I, H = d.H, G = d.gates * H;
  const bool lstm = d.mode == RnnMode::LSTM, gru = d.mode == RnnMode::GRU;
  const Act act = d.mode == RnnMode::RNN_RELU ? Act::ReLU : Act::Tanh;
  const T* x = in.x.template data_ptr<T>();
  const T* h = ptr<T>(in.h);
  const T* wsp = ws.data_ptr<T>();
  const T* hyp = hy.data_ptr<T>();
  const T* zero = zeros<T>(B * std::max(H, I));
  const T* dh = grad_hy.defined() ? grad_hy.data_ptr<T>() : zero;
  const T* dc_in = grad_cy.defined() ? grad_cy.data_ptr<T>() : zero;
  const T* c_prev = lstm && in.c.defined() ? in.c.data_ptr<T>() : zero;
  const T* h_prev = h ? h : zero;
  // gate gradients: dgx for the input side, dgh for the hidden side (the same except for GRU's n gate)
  T* dgx = scratch<T>(kGatesX, B * G);
  T* dgh = gru ? scratch<T>(kGatesH, B * G) : dgx;
  T* dc_out = g.cx.defined() ? g.cx.data_ptr<T>() : scratch<T>(kState, B * H);
  T* tanh_c = scratch<T>(kTanh, B * H);
  T* gi = g.input.defined() ? g.input.data_ptr<T>() : nullptr;
  T* ghx = g.hx.defined() ? g.hx.data_ptr<T>() : nullptr;
  // GRU's direct term dh * z of grad h_prev; it starts grad_hx's sum (or scratch when not wanted)
  T* direct = gru ? (ghx ? ghx : scratch<T>(kState, B * H)) : nullptr;
  const UnitSplit split = split_of(d);
  const int64_t parts = split.parts;
  // Two parts with every gradient wanted: one worker computes dx and dh over all gate rows, the other
  // the weight and bias gradients: the same multiply-adds each (B G (I + H)), and no partial products,
  // second wait or sums (steps 2 and 4). Measured fwd+bwd against the row split, in-process, 2 threads
  // (AMD EPYC Zen 4 VM): LSTMCell 8,128->128 -1% to -11%, 32,256->256 -0.2% to -3%, 64,512->512 -3%
  // to +1%, 1,256->256 -5%, 4,512->512 -7%; GRUCell 32,256->256 -3% to +1%. Without dx (a first
  // layer's input) the split would leave one worker half the other's work: the row split stays.
  const bool by_task = parts == 2 && gi && ghx && g.w_ih.defined();  // (unless by_batch, below)
  // partial products dG[:, rows] @ W[rows] of each part; one part writes the gradients directly
  T* part_x = gi && parts > 1 && !by_task ? scratch<T>(kPartialX, parts * B * I) : nullptr;
  T* part_h = ghx && parts > 1 && !by_task ? scratch<T>(kPartialH, parts * B * H) : nullptr;
  const int64_t x_chunk = (I + parts - 1) / parts;  // dx columns each part sums
  const RowSplit rows(G, parts);

  // weight and bias gradients of gate rows [r0, r0 + n) (no other worker touches them)
  const auto weight_grads = [&](int64_t r0, int64_t n) {
    if (g.w_ih.defined()) {
      // written once, read only by the optimizer: streamed out, so that they do not push the
      // weights out of this core's L2 before the next forward (measured fwd+bwd: 4-8% faster at
      // batch 32, 256->256; 1-2% at 64,512->512)
      Epilogue<T> set;
      set.stream = worth_streaming(G * (I + H) * int64_t(sizeof(T)));
      gemm<T>(n, I, B, view<T>(dgx + r0, 1, G), view<T>(x, 1, I), {g.w_ih.data_ptr<T>() + r0 * I, I, 1}, set,
              false);
      T* wh = g.w_hh.data_ptr<T>() + r0 * H;
      if (h) {
        gemm<T>(n, H, B, view<T>(dgh + r0, 1, G), view<T>(h, 1, H), {wh, H, 1}, set, false);
      } else {
        std::fill(wh, wh + n * H, T(0));  // a zero state contributes nothing
      }
    }
    if (g.b_ih.defined()) {
      // (column_sums' parallel_for runs inline here: already inside the team's region)
      T* sx = g.b_ih.data_ptr<T>() + r0;
      T* sh = g.b_hh.data_ptr<T>() + r0;
      column_sums<T>(dgx + r0, B, n, G, sx);
      if (gru) {
        column_sums<T>(dgh + r0, B, n, G, sh);
      } else {
        std::copy(sx, sx + n, sh);
      }
    }
  };

  // gate gradients of batch row b, units [u0, u0 + wd)
  const auto gate_grads = [&](int64_t b, int64_t u0, int64_t wd) {
    const int64_t o = b * H + u0;
    if (lstm) {
      std::copy(dc_in + o, dc_in + o + wd, dc_out + o);
      lstm_backward_units<T>(H, wd, wsp + b * 5 * H + u0, c_prev + o, dh + o, dc_out + o, tanh_c + o,
                             dgx + b * G + u0);
    } else if (gru) {
      gru_backward_units<T>(H, wd, wsp + b * 4 * H + u0, h_prev + o, dh + o, dgx + b * G + u0, dgh + b * G + u0,
                            direct + o);
    } else {
      act_grad(act, dh + o, hyp + o, dgx + b * G + u0, wd);
    }
  };
  // Where the forward split the batch rows (split_batch), every gradient wanted: each worker takes the
  // gate gradients and dx, dh of its half of the batch (reading the workspace rows it wrote), and
  // after the one wait its gate rows of the weight and bias gradients. Measured fwd+bwd against the
  // task split, in-process, 2 threads (AMD EPYC Zen 4 VM): LSTMCell 32,256->256 -0.2% and -2.3%,
  // 64,256 -3.6%, 24,128 -1.5%; GRUCell 32,256 -2.1% and -2.7%, 64,128 -4.9%.
  const bool by_batch = (lstm || gru) && parts == 2 && gi && ghx && g.w_ih.defined() &&
                        split_batch(B, G * (I + H) * int64_t(sizeof(T)));

  run_team(parts, [&](int64_t pb, int64_t pe, StepFlags& flags) {
    if (by_batch) {
      const int64_t half = (B + 1) / 2, b0 = std::min(B, pb * half), b1 = std::min(B, pe * half);
      for (int64_t b = b0; b < b1; ++b) gate_grads(b, 0, H);
      if (b1 > b0) {
        Epilogue<T> ex, eh;
        eh.accumulate = gru;
        gemm<T>(b1 - b0, I, G, view<T>(dgx + b0 * G, G, 1), weight_cols<T>(in.w_ih, 0), {gi + b0 * I, I, 1}, ex,
                false);
        gemm<T>(b1 - b0, H, G, view<T>(dgh + b0 * G, G, 1), weight_cols<T>(in.w_hh, 0), {ghx + b0 * H, H, 1}, eh,
                false);
      }
      flags.publish(pb, pe, 1);
      flags.wait_others(pb, pe, 1);
      for (int64_t p = pb; p < pe; ++p) {
        const int64_t r0 = rows.begin(p), n = rows.end(p) - r0;
        if (n > 0) weight_grads(r0, n);
      }
      return;
    }
    // 1. gate gradients of own units
    for (int64_t p = pb; p < pe; ++p)
      for (int64_t b = 0; b < B; ++b) gate_grads(b, split.begin(p), split.width(p));
    // the products below read every unit's gate gradients
    flags.publish(pb, pe, 1);
    flags.wait_others(pb, pe, 1);
    // dx = dG[:, rows] @ W_ih[rows] and dh likewise into out_x / out_h (GRU: dh onto the direct
    // term where accumulate_h)
    const auto input_grads = [&](int64_t r0, int64_t n, T* out_x, T* out_h, bool accumulate_h) {
      Epilogue<T> ex, eh;
      eh.accumulate = accumulate_h;
      if (gi) gemm<T>(B, I, n, view<T>(dgx + r0, G, 1), weight_cols<T>(in.w_ih, r0), {out_x, I, 1}, ex, false);
      if (ghx) gemm<T>(B, H, n, view<T>(dgh + r0, G, 1), weight_cols<T>(in.w_hh, r0), {out_h, H, 1}, eh, false);
    };
    if (by_task) {
      if (pb == 0) input_grads(0, G, gi, ghx, gru);
      if (pe == parts) weight_grads(0, G);
      return;
    }
    // 2. partial dx, dh over own gate rows of the weights (summed in step 4)
    for (int64_t p = pb; p < pe; ++p) {
      const int64_t r0 = rows.begin(p), n = rows.end(p) - r0;
      if (n <= 0) continue;
      // one part: the gradients directly, GRU's dh onto the direct term
      input_grads(r0, n, parts > 1 ? part_x + p * B * I : gi, parts > 1 ? part_h + p * B * H : ghx,
                  gru && parts == 1);
    }
    flags.publish(pb, pe, 2);
    // 3. weight and bias gradients of own gate rows
    for (int64_t p = pb; p < pe; ++p) {
      const int64_t r0 = rows.begin(p), n = rows.end(p) - r0;
      if (n > 0) weight_grads(r0, n);
    }
    if (parts == 1) return;
    // 4. sum the parts' partial products over own columns: dx by an even split of I, dh by own units
    flags.wait_others(pb, pe, 2);
    for (int64_t p = pb; p < pe; ++p) {
      if (gi) {
        const int64_t c0 = std::min(I, p * x_chunk), c1 = std::min(I, c0 + x_chunk);
        for (int64_t b = 0; b < B; ++b) {
          T* o = gi + b * I;
          std::copy(part_x + b * I + c0, part_x + b * I + c1, o + c0);
          for (int64_t q = 1; q < parts; ++q) {
            if (rows.end(q) <= rows.begin(q)) continue;  // no rows, no partial
            const T* s = part_x + q * B * I + b * I;
            for (int64_t j = c0; j < c1; ++j) o[j] += s[j];
          }
        }
      }
      if (ghx) {
        const int64_t u0 = split.begin(p), u1 = u0 + split.width(p);
        for (int64_t b = 0; b < B; ++b) {
          T* o = ghx + b * H;
          if (!gru) std::fill(o + u0, o + u1, T(0));
          for (int64_t q = 0; q < parts; ++q) {
            if (rows.end(q) <= rows.begin(q)) continue;
            const T* s = part_h + q * B * H + b * H;
            for (int64_t j = u0; j < u1; ++j) o[j] += s[j];
          }
        }
      }
    }
  });
}

template void cell_forward<float>(const RnnCellDims&, const CellTensors&, float*, float*, float*);
template void cell_forward<double>(const RnnCellDims&, const CellTensors&, double*, double*, double*);
template void cell_backward<float>(const RnnCellDims&, const CellTensors&, const at::Tensor&, const at::Tensor&,
                                   const at::Tensor&, const at::Tensor&, CellGradTensors&);
template void cell_backward<double>(const RnnCellDims&, const CellTensors&, const at::Tensor&, const at::Tensor&,
                                    const at::Tensor&, const at::Tensor&, CellGradTensors&);

}  // namespace fastnn::cpu::rnn
