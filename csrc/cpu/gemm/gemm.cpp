// The blocked GEMM driver (BLIS loop order) and its thread partitioning.
//
//   for jc in N by NC:          B panel  [KC x NC]  packed (or pre-packed)
//     for pc in K by KC:
//       for ic in M by MC:      A block  [MC x KC]  packed, stays in L2
//         for jr in NC by NR:   B strip  [KC x NR]  stays in L1/L2
//           for ir in MC by MR: micro-kernel -> C tile [MR x NR]
//
// Bias and activation are applied to each C tile right after its last K
// block, while the tile is still in L1, so C is written to memory once.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../aligned_buffer.h"
#include "activation.h"
#include "gemm.h"
#include "gemm_dot.h"
#include "microkernel.h"
#include "../output_cache.h"

namespace fastnn::cpu {
namespace {

constexpr int64_t kMC = 192;   // rows of A per L2 block (multiple of every MR)
// A thread's rows are cut into equal blocks of at most this many rows, so
// that 200 rows run as one block rather than 192 + a nearly empty 8.
constexpr int64_t kMCMax = kMC + kMC / 4;
constexpr int64_t kNC = 2048;  // columns of B per panel (multiple of every NR)
template <typename T>
constexpr int64_t kKC = sizeof(T) == 4 ? 512 : 256;  // K block (measured best: fewer C round trips)

// Rows of A up to which B is read in place instead of packed (see BPanels).
constexpr int64_t kDirectBMaxM = 64;
// Rows of A up to which a B read in place goes in 32-wide strips (the 12-row kernel) rather than 64-wide
// ones (the 6-row kernel): every row tile streams its B strip from L2, and 12-row tiles need half as
// many passes (32 rows: tiles 12, 12, 8 against 5 x 6 + 2). Measured, fwd+bwd: Linear 16x2048->2048
// 9-11% less time (alternating processes), the cells at batch 8-32 -1.5% to +4% (in-process).
constexpr int64_t kNarrowInPlaceMaxM = 40;

// Below this many multiply-adds a GEMM runs on the calling thread only: the
// thread-pool wake-up costs more than it saves.
constexpr int64_t kParallelMinMacs = 1 << 20;

template <typename T>
T* thread_buffer_a(size_t n) {
  thread_local AlignedBuffer<T> buf;
  return buf.get(n);
}
template <typename T>
T* thread_buffer_b(size_t n) {
  thread_local AlignedBuffer<T> buf;
  return buf.get(n);
}
template <typename T>
T* thread_buffer_tail(size_t n) {
  thread_local AlignedBuffer<T> buf;
  return buf.get(n);
}

template <typename T>
void pack_rows(const RowSource<T>& src, int64_t r0, int64_t rc, int64_t k0, int64_t kc, int64_t width,
               T* dst) {
  if (src.pack) {
    src.pack(r0, rc, k0, kc, width, dst);
  } else {
    pack_strided(src.data, src.rs, src.cs, r0, rc, k0, kc, width, dst);
  }
}

// Rows [r0, r0 + rows) of A over k in [k0, k0 + kc) in the micro-kernel's
// layout: full MR-row strips, then one strip as wide as the rows left (the
// kernel runs for exactly that many rows).
template <typename T>
void pack_a_strips(const RowSource<T>& a, int64_t r0, int64_t rows, int64_t k0, int64_t kc, int64_t MR, T* dst) {
  const int64_t full_rows = rows / MR * MR;
  if (full_rows > 0) pack_rows(a, r0, full_rows, k0, kc, MR, dst);
  if (rows > full_rows) pack_rows(a, r0 + full_rows, rows - full_rows, k0, kc, rows - full_rows, dst + full_rows * kc);
}

// Bias + activation on an m x n tile whose rows are contiguous (row stride ld).
template <typename T>
void tile_epilogue(const Epilogue<T>& ep, T* tile, int64_t ld, int64_t m, int64_t n, int64_t i0,
                   int64_t j0) {
  if (!ep.bias_n && !ep.bias_m && ep.act == Act::None) return;
  if constexpr (std::is_same_v<T, float>) {  // one AVX-512 pass over the tile
    if (detail::bias_act_tile_f32_avx512(ep.act, tile, ld, m, n, ep.bias_n ? ep.bias_n + j0 : nullptr,
                                         ep.bias_m ? ep.bias_m + i0 : nullptr))
      return;
  }
  for (int64_t i = 0; i < m; ++i) {
    T* row = tile + i * ld;
    if (ep.bias_n) {
      const T* b = ep.bias_n + j0;
      for (int64_t j = 0; j < n; ++j) row[j] += b[j];
    }
    if (ep.bias_m) {
      const T b = ep.bias_m[i0 + i];
      for (int64_t j = 0; j < n; ++j) row[j] += b;
    }
    apply_act(ep.act, row, n);
  }
}

// Epilogue::stream where it can be honoured: non-temporal float stores need AVX-512 here.
template <typename T>
bool streams(const Epilogue<T>& ep) {
  return ep.stream && std::is_same_v<T, float> && use_avx512();
}

// Rows starting at p, ldc elements apart, all 64-byte aligned (for non-temporal vector stores).
template <typename T>
bool aligned_rows(const T* p, int64_t ldc) {
  return reinterpret_cast<uintptr_t>(p) % 64 == 0 && (ldc * int64_t(sizeof(T))) % 64 == 0;
}

// Non-temporal copy of a finished tile (only called where streams() holds).
template <typename T>
void stream_out(const T* tile, int64_t ldt, T* c, int64_t ldc, int64_t m, int64_t n) {
  if constexpr (std::is_same_v<T, float>) stream_tile_f32_avx512(tile, ldt, c, ldc, m, n);
}

// Supplies packed B strips for one [KC x NC] panel: packs on the fly from a
// row source, or points into a pre-packed PackedB.
template <typename T>
struct BPanels {
  const RowSource<T>* src = nullptr;
  const PackedB<T>* packed = nullptr;
  int64_t nr = 0;

  // With few rows of A, each B element is used only a few times: an
  // n-contiguous B (rows of Bt at stride 1) is then read in place, unpacked.
  bool read_in_place(int64_t rows_of_a) const {
    return !packed && !src->pack && src->rs == 1 && rows_of_a <= kDirectBMaxM;
  }

  const T* panel(int64_t pc, int64_t kcb, int64_t jc, int64_t ncb) const {
    if (packed) return packed->block(pc) + (jc / nr) * kcb * nr;
    T* buf = thread_buffer_b<T>(static_cast<size_t>(kcb * ((ncb + nr - 1) / nr) * nr));
    pack_rows(*src, jc, ncb, pc, kcb, nr, buf);
    return buf;
  }
};

// One thread's share: C[m0:m1, n0:n1], n0 a multiple of NR.
template <typename T>
void gemm_block(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, const RowSource<T>& a,
                const BPanels<T>& b, const OutView<T>& c, const Epilogue<T>& ep) {
  const MicroKernel<T>& uk = microkernel_for_width<T>(b.nr);
  const int64_t MR = uk.mr, NR = uk.nr, KC = kKC<T>;
  alignas(64) T tile[16 * 64];  // MR*NR scratch for edge tiles and strided C
  T* abuf = thread_buffer_a<T>(static_cast<size_t>((kMCMax + MR) * KC));
  const int64_t mblocks = std::max<int64_t>(1, (m1 - m0 + kMCMax - 1) / kMCMax);
  const int64_t mc = std::min(m1 - m0, ((m1 - m0 + mblocks - 1) / mblocks + MR - 1) / MR * MR);
  const bool in_place = b.read_in_place(m1 - m0);
  // With a single block of A rows each B strip is used once: pack it right
  // before use (it stays in L1) instead of packing the whole panel first.
  const bool per_strip = !in_place && !b.packed && mblocks == 1;
  T* tailbuf = in_place || per_strip ? thread_buffer_tail<T>(static_cast<size_t>(KC * NR)) : nullptr;
  const bool stream = streams(ep);
  // a tile streamed straight from the registers skips the epilogue: only when there is none
  const bool stream_direct = stream && !ep.bias_n && !ep.bias_m && ep.act == Act::None;

  for (int64_t jc = n0; jc < n1; jc += kNC) {
    const int64_t ncb = std::min(kNC, n1 - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kcb = std::min(KC, K - pc);
      const bool load_c = pc > 0 || ep.accumulate;
      const bool last = pc + kcb >= K;
      const T* bpanel = in_place || per_strip ? nullptr : b.panel(pc, kcb, jc, ncb);
      for (int64_t ic = m0; ic < m1; ic += mc) {
        const int64_t mcb = std::min(mc, m1 - ic);
        // pre-packed rows (pack_a_panels) serve one block of rows over all of K
        const bool use_prepacked = a.prepacked && m0 == 0 && mcb == m1 && kcb == K;
        const T* apanels = use_prepacked ? a.prepacked : abuf;
        if (!use_prepacked) pack_a_strips(a, ic, mcb, pc, kcb, MR, abuf);
        for (int64_t jr = 0; jr < ncb; jr += NR) {
          const int64_t nrb = std::min(NR, ncb - jr);
          const T* bstrip = in_place || per_strip ? nullptr : bpanel + (jr / NR) * kcb * NR;
          int64_t ldb = NR;
          if (in_place && nrb == NR) {
            bstrip = b.src->data + (jc + jr) + pc * b.src->cs;
            ldb = b.src->cs;
          } else if (in_place || per_strip) {  // pack this strip (zero-padded) now
            pack_rows(*b.src, jc + jr, nrb, pc, kcb, NR, tailbuf);
            bstrip = tailbuf;
          }
          for (int64_t ir = 0; ir < mcb; ir += MR) {
            const int64_t mrb = std::min(MR, mcb - ir);
            const T* astrip = apanels + (ir / MR) * kcb * MR;
            const int64_t i0 = ic + ir, j0 = jc + jr;
            const MicroKernelFn<T> kernel = uk.rows[mrb];
            if (stream && !load_c && last && c.cs == 1 && c.one_part(j0, nrb)) {
              // written once: straight from the registers with non-temporal stores where the
              // tile is whole and aligned, else computed into the L1 scratch tile and streamed out
              T* cptr = c.at(i0, j0);
              const int64_t ldc = c.row_stride(j0);
              if (stream_direct && nrb == NR && uk.stream_rows[mrb] && aligned_rows(cptr, ldc)) {
                uk.stream_rows[mrb](kcb, astrip, bstrip, ldb, cptr, ldc, false);
                continue;
              }
              kernel(kcb, astrip, bstrip, ldb, tile, NR, false);
              tile_epilogue(ep, tile, NR, mrb, nrb, i0, j0);
              stream_out(tile, NR, cptr, ldc, mrb, nrb);
              continue;
            }
            if (c.cs == 1 && nrb == NR && c.one_part(j0, nrb)) {
              T* cptr = c.at(i0, j0);
              const int64_t ldc = c.row_stride(j0);
              kernel(kcb, astrip, bstrip, ldb, cptr, ldc, load_c);
              if (last) tile_epilogue(ep, cptr, ldc, mrb, nrb, i0, j0);
              continue;
            }
            if (load_c) {
              for (int64_t i = 0; i < mrb; ++i)
                for (int64_t j = 0; j < nrb; ++j) tile[i * NR + j] = *c.at(i0 + i, j0 + j);
            }
            kernel(kcb, astrip, bstrip, ldb, tile, NR, load_c);
            if (last) tile_epilogue(ep, tile, NR, mrb, nrb, i0, j0);
            for (int64_t i = 0; i < mrb; ++i)
              for (int64_t j = 0; j < nrb; ++j) *c.at(i0 + i, j0 + j) = tile[i * NR + j];
          }
        }
      }
    }
  }
  if (stream) stream_fence();  // the non-temporal stores are weakly ordered
}

// K == 0: the product is zero; C = act(C or 0, + bias).
template <typename T>
void gemm_empty_k(int64_t M, int64_t N, const OutView<T>& c, const Epilogue<T>& ep) {
  std::vector<T> row(static_cast<size_t>(N));
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) row[j] = ep.accumulate ? *c.at(i, j) : T(0);
    tile_epilogue(ep, row.data(), N, 1, N, i, 0);
    for (int64_t j = 0; j < N; ++j) *c.at(i, j) = row[j];
  }
}

// Splits the MR x NR tile grid over `threads` as tm x tn rectangles,
// minimising the largest share (compute plus a packing term).
void choose_split(int64_t tiles_m, int64_t tiles_n, int64_t mr, int64_t nr, int64_t threads,
                  int64_t* tm_out, int64_t* tn_out) {
  double best = -1;
  for (int64_t tm = 1; tm <= threads; ++tm) {
    if (threads % tm) continue;
    const int64_t tn = threads / tm;
    if (tm > tiles_m || tn > tiles_n) continue;
    const double rows = double((tiles_m + tm - 1) / tm) * mr;
    const double cols = double((tiles_n + tn - 1) / tn) * nr;
    const double cost = rows * cols + 4.0 * (rows + cols);
    if (best < 0 || cost < best) {
      best = cost;
      *tm_out = tm;
      *tn_out = tn;
    }
  }
  if (best < 0) {
    *tm_out = 1;
    *tn_out = 1;
  }
}

// Rows of A up to which the unpacked dot-product path beats packing B; from
// there the broadcast kernel where it takes the rows (see gemm_dot.h).
constexpr int64_t kDotMaxM = 32;
// Multiply-adds from which the dot path runs threaded (measured: a recurrent
// cell's 8x128 @ 128x512 products gain ~20% on 2 threads).
constexpr int64_t kDotParallelMinMacs = 1 << 17;

// Small-M float GEMM with k-contiguous operands: dot products, no packing (gemm_dot.h).
template <typename T>
bool dot_takes(int64_t M, const RowSource<T>& a, const RowSource<T>& bt, const OutView<T>& c) {
  return std::is_same_v<T, float> && (M <= kDotMaxM || bcast_takes(M)) && !a.pack && !bt.pack && a.cs == 1 &&
         bt.cs == 1 && c.cs == 1 && !c.data2 && use_avx512();
}

// The dot path over N split in 32-column parts on `threads` threads.
inline void run_dot(int64_t M, int64_t N, const DotOperands& ops, const OutView<float>& c, const Epilogue<float>& ep,
                    int64_t threads) {
  const int64_t chunk = std::max<int64_t>(32, (N + threads - 1) / threads + 31) / 32 * 32;
  const int64_t parts = (N + chunk - 1) / chunk;
  auto work = [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) gemm_dot_f32(M, p * chunk, std::min(N, (p + 1) * chunk), ops, c.data, c.rs, ep);
  };
  if (parts > 1) {
    at::parallel_for(0, parts, 1, work);
  } else {
    work(0, parts);
  }
}

// One pass over both K ranges saves a round trip of C, but its A panel is as long as both: where each
// range's panel alone fits in L1 and the two together would not, the kernels stream it from L2 for
// every tile of columns instead. Measured (cell forward, one pass against two, in-process): batch 16,
// 512+512 -> 2048 rows -3.5% to -5.5% (32 -> 64 KiB); batch 64, 512+512 +1.8% to +5.7% (128 -> 256
// KiB: L2 either way); batch 8, 128+128 -1.2% to +3.3% (4 -> 8 KiB).
constexpr int64_t kPanelL1Bytes = 32 << 10;
inline bool sum_keeps_panel(int64_t M, int64_t K1, int64_t K2) {
  const bool apart_in_l1 = std::max(dot_panel_bytes(M, K1), dot_panel_bytes(M, K2)) <= kPanelL1Bytes;
  return !apart_in_l1 || dot_panel_bytes(M, K1 + K2) <= kPanelL1Bytes;
}

template <typename T>
bool try_dot(int64_t M, int64_t N, int64_t K, const RowSource<T>& a, const RowSource<T>& bt,
             const OutView<T>& c, const Epilogue<T>& ep, int64_t threads) {
  if constexpr (!std::is_same_v<T, float>) {
    return false;
  } else {
    if (!dot_takes(M, a, bt, c)) return false;
    run_dot(M, N, DotOperands::one(a.data, a.rs, bt.data, bt.rs, K), c, ep, threads);
    return true;
  }
}

// Strip width for N columns: the best kernel's, unless the narrow kernel's
// strips waste clearly less on the last, partial strip (N = 32 in 64-wide
// strips does half its FMAs on zero padding; 0.92: the 6x64 kernel's edge in
// speed over the 12x32 one).
template <typename T>
int64_t panel_width(int64_t N) {
  const int64_t wide = best_microkernel<T>().nr, narrow = narrow_microkernel<T>().nr;
  const auto padded = [N](int64_t w) { return (N + w - 1) / w * w; };
  return narrow < wide && padded(narrow) < 0.92 * padded(wide) ? narrow : wide;
}

// Packs all of B (as Bt rows) in the PackedB layout; strips are spread over
// `threads` threads.
// `scratch` (optional): reuse this buffer instead of allocating (a fresh
// multi-MiB allocation costs a page fault per 4 KiB on every call).
template <typename T>
PackedB<T> pack_b_threads(const RowSource<T>& bt, int64_t N, int64_t K, int64_t threads,
                          AlignedBuffer<T>* scratch = nullptr, int64_t nr = 0) {
  PackedB<T> p;
  p.N = N;
  p.K = K;
  p.nr = nr > 0 ? nr : panel_width<T>(N);
  p.kc = kKC<T>;
  const int64_t npad = (N + p.nr - 1) / p.nr * p.nr, strips = npad / p.nr;
  const size_t elems = static_cast<size_t>(std::max<int64_t>(npad * K, 1));
  if (scratch) {
    p.buf = std::shared_ptr<T>(std::shared_ptr<T>(), scratch->get(elems));  // non-owning
  } else {
    p.buf = std::static_pointer_cast<T>(cached_block(elems * sizeof(T)));  // no page faults on reuse
  }
  const int64_t kblocks = (K + p.kc - 1) / p.kc;
  // one task = one K block x a run of strips (about 64 KiB of packed data)
  const int64_t per_task = std::max<int64_t>(1, 16384 / (p.kc * p.nr));
  const int64_t groups = (strips + per_task - 1) / per_task;
  auto work = [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      const int64_t pc = (t / groups) * p.kc, kcb = std::min(p.kc, K - pc);
      const int64_t s0 = (t % groups) * per_task, s1 = std::min(strips, s0 + per_task);
      const int64_t r0 = s0 * p.nr, rc = std::min(N, s1 * p.nr) - r0;
      pack_rows(bt, r0, rc, pc, kcb, p.nr, p.buf.get() + pc * npad + s0 * kcb * p.nr);
    }
  };
  if (threads > 1) {
    at::parallel_for(0, kblocks * groups, 1, work);
  } else {
    work(0, kblocks * groups);
  }
  return p;
}

// Large M and N split over threads: splitting N makes every thread pack all
// of A, splitting M all of B. Instead B is packed once, by all threads
// together, and M is split (each thread packs only its own rows of A).
constexpr int64_t kSharedBMinM = 256;

template <typename T>
void run(int64_t M, int64_t N, int64_t K, const RowSource<T>& a, const BPanels<T>& b,
         const OutView<T>& c, const Epilogue<T>& ep, bool parallel);

template <typename T>
bool try_shared_b(int64_t M, int64_t N, int64_t K, const RowSource<T>& a, const BPanels<T>& b,
                  const OutView<T>& c, const Epilogue<T>& ep, int64_t threads) {
  if (threads < 2 || b.packed || b.read_in_place(M) || M < kSharedBMinM || 2 * M < N) return false;
  thread_local AlignedBuffer<T> scratch;  // the caller's: it waits for the whole product
  const PackedB<T> shared = pack_b_threads(*b.src, N, K, threads, &scratch, b.nr);
  BPanels<T> packed;
  packed.packed = &shared;
  packed.nr = shared.nr;
  run(M, N, K, a, packed, c, ep, /*parallel=*/true);
  return true;
}

template <typename T>
void run(int64_t M, int64_t N, int64_t K, const RowSource<T>& a, const BPanels<T>& b,
         const OutView<T>& c, const Epilogue<T>& ep, bool parallel) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return gemm_empty_k(M, N, c, ep);
  const MicroKernel<T>& uk = microkernel_for_width<T>(b.nr);
  const int64_t pool = parallel && !at::in_parallel_region() ? at::get_num_threads() : 1;
  // the dot path splits N without any shared packing: worth threads much earlier
  if (!b.packed && try_dot(M, N, K, a, *b.src, c, ep, M * N * K < kDotParallelMinMacs ? 1 : pool)) return;
  const int64_t threads = M * N * K < kParallelMinMacs ? 1 : pool;
  if (try_shared_b(M, N, K, a, b, c, ep, threads)) return;
  const int64_t tiles_m = (M + uk.mr - 1) / uk.mr, tiles_n = (N + uk.nr - 1) / uk.nr;
  int64_t tm = 1, tn = 1;
  if (threads > 1 && b.packed && tiles_m >= threads) {
    tm = threads;  // B is shared: split the rows
  } else if (threads > 1) {
    choose_split(tiles_m, tiles_n, uk.mr, uk.nr, threads, &tm, &tn);
  }
  if (tm * tn == 1) return gemm_block(0, M, 0, N, K, a, b, c, ep);
  const int64_t mstep = (tiles_m + tm - 1) / tm * uk.mr, nstep = (tiles_n + tn - 1) / tn * uk.nr;
  at::parallel_for(0, tm * tn, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t m0 = (t / tn) * mstep, n0 = (t % tn) * nstep;
      if (m0 >= M || n0 >= N) continue;
      gemm_block(m0, std::min(M, m0 + mstep), n0, std::min(N, n0 + nstep), K, a, b, c, ep);
    }
  });
}

}  // namespace

template <typename T>
const T* PackedB<T>::block(int64_t k0) const {
  return buf.get() + k0 * ((N + nr - 1) / nr) * nr;
}

template <typename T>
int64_t a_panel_floats(int64_t M, int64_t K) {
  return M * K;  // full strips and the narrower last one hold exactly the rows
}

template <typename T>
void pack_a_panels(const RowSource<T>& a, int64_t M, int64_t K, const PackedB<T>& b, T* dst) {
  pack_a_strips(a, 0, M, 0, K, microkernel_for_width<T>(b.nr).mr, dst);  // as gemm_block packs them
}

template <typename T>
PackedB<T> pack_b(const RowSource<T>& bt, int64_t N, int64_t K, int64_t nr) {
  return pack_b_threads<T>(bt, N, K, 1, nullptr, nr);
}

template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, const RowSource<T>& a, const RowSource<T>& bt,
          const OutView<T>& c, const Epilogue<T>& ep, bool parallel) {
  BPanels<T> b;
  b.src = &bt;
  b.nr = panel_width<T>(N);
  if (M <= kNarrowInPlaceMaxM && b.read_in_place(M)) b.nr = narrow_microkernel<T>().nr;
  run(M, N, K, a, b, c, ep, parallel);
}

template <typename T>
void gemm_sum2(int64_t M, int64_t N, int64_t K1, const RowSource<T>& a1, const RowSource<T>& bt1, int64_t K2,
               const RowSource<T>& a2, const RowSource<T>& bt2, const OutView<T>& c, const Epilogue<T>& ep,
               bool parallel) {
  if (M <= 0 || N <= 0) return;
  if constexpr (std::is_same_v<T, float>) {
    if (K1 > 0 && K2 > 0 && dot_takes(M, a1, bt1, c) && dot_takes(M, a2, bt2, c) && sum_keeps_panel(M, K1, K2)) {
      const int64_t pool = parallel && !at::in_parallel_region() ? at::get_num_threads() : 1;
      const DotOperands ops =
          DotOperands::two({a1.data, a1.rs, bt1.data, bt1.rs, K1}, {a2.data, a2.rs, bt2.data, bt2.rs, K2});
      run_dot(M, N, ops, c, ep, M * N * (K1 + K2) < kDotParallelMinMacs ? 1 : pool);
      return;
    }
  }
  // elsewhere two passes: the first with the bias, the second adding on with the activation
  Epilogue<T> first = ep, second;
  first.act = Act::None;
  first.stream = false;
  second.accumulate = true;
  second.act = ep.act;
  gemm(M, N, K1, a1, bt1, c, first, parallel);
  gemm(M, N, K2, a2, bt2, c, second, parallel);
}

template <typename T>
void gemm_packed(int64_t M, const RowSource<T>& a, const PackedB<T>& packed, const OutView<T>& c,
                 const Epilogue<T>& ep, bool parallel) {
  BPanels<T> b;
  b.packed = &packed;
  b.nr = packed.nr;
  run(M, packed.N, packed.K, a, b, c, ep, parallel);
}

#define FASTNN_INSTANTIATE_GEMM(T)                                                                 \
  template struct PackedB<T>;                                                                     \
  template PackedB<T> pack_b<T>(const RowSource<T>&, int64_t, int64_t, int64_t);                  \
  template int64_t a_panel_floats<T>(int64_t, int64_t);                                           \
  template void pack_a_panels<T>(const RowSource<T>&, int64_t, int64_t, const PackedB<T>&, T*);  \
  template void gemm<T>(int64_t, int64_t, int64_t, const RowSource<T>&, const RowSource<T>&,      \
                        const OutView<T>&, const Epilogue<T>&, bool);                             \
  template void gemm_sum2<T>(int64_t, int64_t, int64_t, const RowSource<T>&, const RowSource<T>&,  \
                             int64_t, const RowSource<T>&, const RowSource<T>&, const OutView<T>&, \
                             const Epilogue<T>&, bool);                                            \
  template void gemm_packed<T>(int64_t, const RowSource<T>&, const PackedB<T>&, const OutView<T>&, \
                               const Epilogue<T>&, bool);
FASTNN_INSTANTIATE_GEMM(float)
FASTNN_INSTANTIATE_GEMM(double)

}  // namespace fastnn::cpu
