// Team-parallel forward recurrence of rnn_layer (see rnn_fused.h).
#include <algorithm>
#include <vector>

#include "gemm/activation.h"
#include "output_cache.h"
#include "rnn_fused.h"
#include "rnn_gates.h"
#include "rnn_steps.h"
#include "rnn_team.h"

namespace fastnn::cpu::rnn {

template <typename T>
void fused_forward(const RnnDims& d, bool reverse, const at::Tensor& w_hh, const T* b_hh, const T* xproj, T* out,
                   T* ws, T* hy, T* cy) {
  const int64_t H = d.H, B = d.B, G = d.gates, T_ = d.T;
  const bool lstm = d.mode == RnnMode::LSTM, gru = d.mode == RnnMode::GRU;
  const Act act = d.mode == RnnMode::RNN_RELU ? Act::ReLU : Act::Tanh;
  const Steps steps{d, reverse};
  const UnitSplit split(H, B * G * H * H);
  const int64_t parts = split.parts;

  // h double buffer: step s reads hbuf[s % 2] and writes hbuf[(s + 1) % 2]
  at::Tensor hbuf_t = empty_cached({2, B, H}, w_hh.options());
  T* hbuf = hbuf_t.data_ptr<T>();
  std::copy(hy, hy + B * H, hbuf);
  std::copy(hy, hy + B * H, hbuf + B * H);
  at::Tensor gh_t = gru ? empty_cached({parts, B, 3 * split.chunk}, w_hh.options()) : at::Tensor();
  const T* w = w_hh.data_ptr<T>();
  const int64_t s0 = w_hh.stride(0), s1 = w_hh.stride(1);

  // slices[part][gate]: rows [gate*H + u0, gate*H + u0 + width) of W_hh
  std::vector<std::vector<SliceGemm<T>>> slices(parts, std::vector<SliceGemm<T>>(G));
  for (int64_t p = 0; p < parts; ++p)
    for (int64_t g = 0; g < G; ++g) {
      SliceGemm<T>& sl = slices[p][g];
      sl.bt = RowSource<T>::view(w + (g * H + split.begin(p)) * s0, s0, s1);
      sl.N = split.width(p);
      sl.K = H;
    }

  run_team(parts, [&](int64_t pb, int64_t pe, SpinBarrier& barrier) {
    for (int64_t p = pb; p < pe; ++p)
      for (auto& sl : slices[p]) sl.prepare(T_ > 1);  // packed by the worker that uses it
    for (int64_t s = 0; s < T_; ++s) {
      const int64_t t = steps.time(s), n = d.batch_sizes[t], r0 = d.offsets[t];
      const T* cur = hbuf + (s % 2) * B * H;
      T* nxt = hbuf + ((s + 1) % 2) * B * H;
      const bool odd = s % 2 == 1;
      for (int64_t p = pb; p < pe; ++p) {
        const int64_t u0 = split.begin(p), wd = split.width(p);
        const auto& sl = slices[p];
        if (lstm) {
          T* g = ws + r0 * 5 * H + u0;
          for (int64_t i = 0; i < 4; ++i) {  // serpentine over the slices, see step_gemm
            const int64_t k = odd ? 3 - i : i;
            sl[k](n, cur, H, g + k * H, 5 * H, nullptr, true, odd);
          }
          for (int64_t b = 0; b < n; ++b) {
            T* h = out + (r0 + b) * H + u0;
            lstm_forward_units<T>(H, wd, g + b * 5 * H, cy + b * H + u0, h);
            std::copy(h, h + wd, nxt + b * H + u0);
          }
        } else if (gru) {
          const int64_t sh = 3 * split.chunk;
          T* gh = gh_t.data_ptr<T>() + p * B * sh;
          for (int64_t i = 0; i < 3; ++i) {
            const int64_t k = odd ? 2 - i : i;
            sl[k](n, cur, H, gh + k * split.chunk, sh, b_hh ? b_hh + k * H + u0 : nullptr, false, odd);
          }
          for (int64_t b = 0; b < n; ++b) {
            T* h = out + (r0 + b) * H + u0;
            gru_forward_units<T>(H, wd, xproj + (r0 + b) * 3 * H + u0, gh + b * sh, split.chunk,
                                 cur + b * H + u0, ws + (r0 + b) * 4 * H + u0, h);
            std::copy(h, h + wd, nxt + b * H + u0);
          }
        } else {
          T* o = out + r0 * H + u0;
          sl[0](n, cur, H, o, H, nullptr, true, odd);
          for (int64_t b = 0; b < n; ++b) {
            apply_act(act, o + b * H, wd);
            std::copy(o + b * H, o + b * H + wd, nxt + b * H + u0);
          }
        }
      }
      barrier.wait(pe - pb);
    }
  });

  // hy: each row's h at the last step it ran (c needs nothing: rows that stop
  // early are simply not touched any more)
  for (int64_t b = 0; b < B && T_ > 0; ++b) {
    int64_t t_last = 0;
    if (!reverse)
      while (t_last + 1 < T_ && d.batch_sizes[t_last + 1] > b) ++t_last;
    if (b >= d.batch_sizes[t_last]) continue;
    const T* h = out + (d.offsets[t_last] + b) * H;
    std::copy(h, h + H, hy + b * H);
  }
}

template void fused_forward<float>(const RnnDims&, bool, const at::Tensor&, const float*, const float*, float*,
                                   float*, float*, float*);
template void fused_forward<double>(const RnnDims&, bool, const at::Tensor&, const double*, const double*,
                                    double*, double*, double*, double*);

}  // namespace fastnn::cpu::rnn
