// Team-parallel backward recurrence of rnn_layer (see rnn_fused.h).
#include <algorithm>
#include <vector>

#include "gemm/activation.h"
#include "output_cache.h"
#include "rnn_fused.h"
#include "rnn_gates.h"
#include "rnn_steps.h"
#include "rnn_team.h"

namespace fastnn::cpu::rnn {

namespace {
template <typename T>
inline void add_row(const T* src, T* dst, int64_t n) {
  for (int64_t j = 0; j < n; ++j) dst[j] += src[j];
}
}  // namespace

template <typename T>
void fused_backward(const RnnDims& d, bool reverse, const at::Tensor& w_hh, const T* out, const T* ws,
                    const T* grad_out, const T* h_prev_all, const T* cx, T* dh_state, T* dc_state, T* dgx,
                    T* dgh, T* db_ih, T* db_hh, std::atomic<int64_t>* progress) {
  const int64_t H = d.H, B = d.B, G = d.gates * H, T_ = d.T;
  const bool lstm = d.mode == RnnMode::LSTM, gru = d.mode == RnnMode::GRU;
  const Act act = d.mode == RnnMode::RNN_RELU ? Act::ReLU : Act::Tanh;
  const Steps steps{d, reverse};
  const UnitSplit split(H, recurrence_split_work(d));
  const int64_t parts = split.parts;

  at::Tensor dh_t = empty_cached({B, H}, w_hh.options());       // dh of the current step, own columns
  at::Tensor tanh_t = empty_cached({B, H}, w_hh.options());     // LSTM scratch
  T* dh_cur = dh_t.data_ptr<T>();
  T* tanh_c = tanh_t.data_ptr<T>();
  const T* w = w_hh.data_ptr<T>();
  const int64_t s0 = w_hh.stride(0), s1 = w_hh.stride(1);
  // pieces(p, g, q): columns [u0(p), + width(p)) of W_hh, rows g*H + K piece q (as Bt rows)
  SlicePieces<T> pieces(split, d.gates, G * split.chunk * static_cast<int64_t>(sizeof(T)));
  for (int64_t p = 0; p < parts; ++p)
    for (int64_t g = 0; g < d.gates; ++g)
      for (int64_t q = 0; q < pieces.kparts; ++q) {
        SliceGemm<T>& sl = pieces(p, g, q);
        sl.bt = RowSource<T>::view(w + (g * H + pieces.k_begin[q]) * s0 + split.begin(p) * s1, s1, s0);
        sl.N = split.width(p);
        sl.K = pieces.k_width[q];
      }

  const bool pack = T_ > 1 && pack_recurrent_weight<T>(d);  // see rnn_fused.h
  run_team(parts, [&](int64_t pb, int64_t pe, StepFlags& flags) {
    std::vector<typename SlicePieces<T>::Order> order;
    for (int64_t p = pb; p < pe; ++p) {
      pieces.prepare(p, pack, d.B);
      order.push_back(pieces.order(p, pb, pe));
    }
    std::vector<char> written(pe - pb);
    // the bias gradients' columns of own units: gate g's units [u0, u0 + wd)
    const auto own_bias_columns = [&](T* db, const auto& fn) {
      if (!db) return;
      for (int64_t p = pb; p < pe; ++p)
        for (int64_t g = 0; g < d.gates; ++g) {
          const int64_t c0 = g * H + split.begin(p);
          fn(db + c0, c0, split.width(p));
        }
    };
    for (T* db : {db_ih, db_hh})
      own_bias_columns(db, [](T* col, int64_t, int64_t wd) { std::fill(col, col + wd, T(0)); });
    for (int64_t s = T_ - 1; s >= 0; --s) {
      const int64_t t = steps.time(s), n = d.batch_sizes[t], r0 = d.offsets[t];
      // 1. gate gradients of own units
      for (int64_t p = pb; p < pe; ++p) {
        const int64_t u0 = split.begin(p), wd = split.width(p);
        for (int64_t b = 0; b < n; ++b) {
          const int64_t row = r0 + b;
          T* dh = dh_cur + b * H + u0;
          const T* dst = dh_state + b * H + u0;
          if (grad_out) {
            const T* go = grad_out + row * H + u0;
            for (int64_t j = 0; j < wd; ++j) dh[j] = dst[j] + go[j];
          } else {
            std::copy(dst, dst + wd, dh);
          }
          if (lstm) {
            const int64_t pr = steps.prev_row(t, b);
            const T* c_prev = pr >= 0 ? ws + pr * 5 * H + 4 * H : cx + b * H;
            lstm_backward_units<T>(H, wd, ws + row * 5 * H + u0, c_prev + u0, dh, dc_state + b * H + u0,
                                   tanh_c + b * H + u0, dgx + row * G + u0);
          } else if (gru) {
            gru_backward_units<T>(H, wd, ws + row * 4 * H + u0, h_prev_all + row * H + u0, dh, dgx + row * G + u0,
                                  dgh + row * G + u0, dh_state + b * H + u0);
          } else {
            act_grad(act, dh, out + row * H + u0, dgx + row * G + u0, wd);
          }
        }
      }
      for (int64_t b = 0; b < n; ++b) {
        own_bias_columns(db_ih, [&](T* col, int64_t c0, int64_t wd) { add_row(dgx + (r0 + b) * G + c0, col, wd); });
        own_bias_columns(db_hh, [&](T* col, int64_t c0, int64_t wd) { add_row(dgh + (r0 + b) * G + c0, col, wd); });
      }
      // the rows of step s are written once, so the others may read them while this worker goes on
      const int64_t done = T_ - s;
      flags.publish(pb, pe, done);
      if (progress && parts == 1) progress->store(done, std::memory_order_release);
      // 2. own columns of dh_prev = dgates @ W_hh (GRU adds to its direct term dh * z),
      // first over the pieces of own units' gate gradients, then the others'
      const bool odd = s % 2 == 1;
      const T* dg = (gru ? dgh : dgx) + r0 * G;
      std::fill(written.begin(), written.end(), gru);
      const auto products = [&](bool own_k) {
        for (int64_t p = pb; p < pe; ++p) {
          const auto& o = order[p - pb];
          for (int64_t i = 0; i < d.gates; ++i) {
            const int64_t g = odd ? d.gates - 1 - i : i;
            for (const int64_t q : own_k ? o.own : o.others) {
              pieces(p, g, q)(n, dg + g * H + pieces.k_begin[q], G, dh_state + split.begin(p), H, nullptr,
                              written[p - pb], odd);
              written[p - pb] = true;
            }
          }
        }
      };
      products(true);
      flags.wait_others(pb, pe, done);  // (prefetching their rows here, as forward does, measured no gain)
      products(false);
    }
  });
}

template void fused_backward<float>(const RnnDims&, bool, const at::Tensor&, const float*, const float*,
                                    const float*, const float*, const float*, float*, float*, float*, float*,
                                    float*, float*, std::atomic<int64_t>*);
template void fused_backward<double>(const RnnDims&, bool, const at::Tensor&, const double*, const double*,
                                     const double*, const double*, const double*, double*, double*, double*,
                                     double*, double*, double*, std::atomic<int64_t>*);

}  // namespace fastnn::cpu::rnn
