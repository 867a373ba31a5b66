// fastnn CPU GEMM core: one packed, cache-blocked, register-blocked GEMM that
// serves Linear, convolution (implicit GEMM through custom packers) and the
// recurrent cells (pre-packed weights reused across time steps).
//
// Pure C++ (no torch types) except for the thread pool (at::parallel_for).
//
//   C[M,N] = act( (accumulate ? C : 0) + A[M,K] * B[K,N] + bias )
//
// Operands are described by "row sources": A as M rows of length K, and B by
// its transpose Bt as N rows of length K. A row source is either a strided
// view (element (r, k) at data[r*rs + k*cs], which covers transposes and
// non-contiguous tensors) or a custom packer (implicit im2col).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace fastnn::cpu {

enum class Act : int { None = 0, ReLU = 1, GELU = 2, SiLU = 3, Tanh = 4, Sigmoid = 5 };

// Parses "none", "relu", "gelu", "silu", "tanh", "sigmoid"; returns false if unknown.
bool parse_act(const std::string& name, Act* out);

// Packed panel layout, shared by every packer: rows [r0, r0+rc) of a row
// source, restricted to k in [k0, k0+kc), are written as ceil(rc/width)
// strips; strip s holds element (r0 + s*width + r, k0 + k) at
//   dst[s*kc*width + k*width + r]
// and rows past rc inside the last strip are zero-filled.
template <typename T>
using PackFn = std::function<void(int64_t r0, int64_t rc, int64_t k0, int64_t kc,
                                  int64_t width, T* dst)>;

template <typename T>
struct RowSource {
  const T* data = nullptr;  // strided view, used when pack is empty
  int64_t rs = 0;           // stride between rows
  int64_t cs = 1;           // stride along K
  PackFn<T> pack;           // custom packer (e.g. implicit im2col)
  // Optional: all rows already packed by pack_a_panels (for this product's
  // kernel and K). The GEMM then skips its own packing of A where it can
  // (one block of rows and of K); data/rs/cs must stay valid for the rest.
  const T* prepacked = nullptr;

  static RowSource view(const T* d, int64_t row_stride, int64_t k_stride) {
    RowSource s;
    s.data = d;
    s.rs = row_stride;
    s.cs = k_stride;
    return s;
  }
  static RowSource custom(PackFn<T> fn) {
    RowSource s;
    s.pack = std::move(fn);
    return s;
  }
};

// Packs rows of a strided view in the panel layout above (exposed for custom packers).
template <typename T>
void pack_strided(const T* data, int64_t rs, int64_t cs, int64_t r0, int64_t rc,
                  int64_t k0, int64_t kc, int64_t width, T* dst);

// Output view: element (i, j) at data[i*rs + j*cs]. Optionally in two parts: columns from
// `split` on go to data2 (row stride rs2) as its columns j - split, so that one product can
// fill two tensors (the weight gradients of W_ih and W_hh, which share A = dgates^T).
template <typename T>
struct OutView {
  T* data = nullptr;
  int64_t rs = 0;
  int64_t cs = 1;
  T* data2 = nullptr;
  int64_t rs2 = 0;
  int64_t split = 0;

  T* at(int64_t i, int64_t j) const {
    return data2 && j >= split ? data2 + i * rs2 + (j - split) * cs : data + i * rs + j * cs;
  }
  int64_t row_stride(int64_t j) const { return data2 && j >= split ? rs2 : rs; }
  // columns [j0, j0 + n) lie in one part
  bool one_part(int64_t j0, int64_t n) const { return !data2 || j0 + n <= split || j0 >= split; }
};

template <typename T>
struct Epilogue {
  const T* bias_n = nullptr;  // length N, added to every row (Linear)
  const T* bias_m = nullptr;  // length M, added to every column (conv, NCHW)
  Act act = Act::None;
  bool accumulate = false;    // C += A*B instead of C = A*B
  // C is written once and not read again soon (a weight gradient): finished tiles go to memory
  // with non-temporal stores, so writing C does not evict the operands from the caches. Applies
  // to float tiles completed in one K block (K <= the GEMM's K block), else ignored. Callers set
  // it only for outputs worth_streaming (a smaller one stays in L2 for its reader).
  bool stream = false;
};

// Outputs from 1 MiB (half this VM's per-core L2) on: measured +4-8% fwd+bwd for the LSTM/GRU
// cells at 32,256->256 and Linear 16x2048->2048, +1-2% at LSTMCell 64,512->512, neutral at
// 8,128->128 (512 KiB of weight gradients in all).
inline bool worth_streaming(int64_t bytes) { return bytes >= (int64_t(1) << 20); }

// B (as Bt rows) packed once for the whole K and N, in the blocking the GEMM
// uses, so a weight reused many times (recurrent steps) is packed only once.
template <typename T>
struct PackedB {
  int64_t N = 0, K = 0;
  int64_t nr = 0, kc = 0;  // strip width and K block used when packing
  std::shared_ptr<T> buf;  // 64-byte aligned
  const T* block(int64_t k0) const;  // start of the K block beginning at k0
};

// nr: the strip width (0: the GEMM's choice for N; narrow_microkernel().nr for the
// recurrent step kernels, which are written for 32-wide strips).
template <typename T>
PackedB<T> pack_b(const RowSource<T>& bt, int64_t N, int64_t K, int64_t nr = 0);

// A's rows [0, M) packed over all K as the GEMM against `b` packs them (MR-wide
// strips, then one strip as wide as the rows left), for RowSource::prepacked:
// an A used against several packed B (the gates of a recurrent step) is then
// packed once. Writes a_panel_floats(M, K) values.
template <typename T>
int64_t a_panel_floats(int64_t M, int64_t K);
template <typename T>
void pack_a_panels(const RowSource<T>& a, int64_t M, int64_t K, const PackedB<T>& b, T* dst);

// C = act(A*B + ...). Multi-threaded with at::parallel_for unless
// `parallel` is false (callers already inside a parallel region).
template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, const RowSource<T>& a, const RowSource<T>& bt,
          const OutView<T>& c, const Epilogue<T>& ep, bool parallel = true);

// C = act((accumulate ? C : 0) + A1 * B1 + A2 * B2 + bias): two products over separate K ranges,
// summed (a recurrent cell's x W_ih^T + h W_hh^T). Where the small-M dot path takes both (float,
// k-contiguous operands, see gemm_dot.h) the sum stays in registers and C is written once;
// otherwise two GEMMs, the second adding onto C.
template <typename T>
void gemm_sum2(int64_t M, int64_t N, int64_t K1, const RowSource<T>& a1, const RowSource<T>& bt1, int64_t K2,
               const RowSource<T>& a2, const RowSource<T>& bt2, const OutView<T>& c, const Epilogue<T>& ep,
               bool parallel = true);

// Same, with B pre-packed by pack_b.
template <typename T>
void gemm_packed(int64_t M, const RowSource<T>& a, const PackedB<T>& b, const OutView<T>& c,
                 const Epilogue<T>& ep, bool parallel = true);

// Name of the float32 micro-kernel chosen at run time: "avx512", "avx2" or "portable".
const char* isa_name();

}  // namespace fastnn::cpu
