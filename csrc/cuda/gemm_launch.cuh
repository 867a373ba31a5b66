// Host side of the CUDA GEMM: picks the kernel (tensor cores or SIMT), the
// split of K that fills the GPU, allocates the workspaces on the current
// stream's allocator, and launches on the current stream.
#pragma once

#include "cuda_common.cuh"
#include "elementwise.h"
#include "gemm_simt.cuh"
#include "gemm_tc.cuh"
#include "gemm_wgmma.cuh"

namespace fastnn::cuda {

// Raises a kernel's dynamic shared-memory limit, once per device (so not again
// inside a CUDA graph capture).
template <auto Kernel>
void allow_dynamic_smem(size_t bytes) {
  static bool configured[64] = {false};
  int device = 0;
  C10_CUDA_CHECK(cudaGetDevice(&device));
  if (device < 64 && configured[device]) return;
  C10_CUDA_CHECK(cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
  if (device < 64) configured[device] = true;
}

// How many slices of K: enough CTAs for `waves` per multiprocessor when the
// output alone has too few tiles, at least 4 k-tiles per slice, and a partial
// workspace of at most 256 MiB.
inline int pick_splits(int64_t tiles, int64_t M, int64_t N, int64_t K, int bk, int waves, size_t acc_bytes) {
  const int64_t sms = sm_count();
  if (tiles >= sms || K < 8 * bk) return 1;
  int64_t splits = std::min<int64_t>({ceil_div(waves * sms, tiles), K / (4 * bk), 64});
  while (splits > 1 && splits * M * N * int64_t(acc_bytes) > (int64_t(256) << 20)) splits /= 2;
  return int(std::max<int64_t>(splits, 1));
}

// C = epilogue(A B) for A: M x K, B: N x K (see gemm_operands.cuh). When
// `rowsum_out` is given, rowsum_out[m] = sum_k A(m, k) (a bias gradient).
// `tensor_cores` must be true only for float16/bfloat16 operands whose
// chunk() contract holds (the caller checks layout and alignment).
template <typename T, class OpA, class OpB, class Cfg = tc::TcDefault, class WgCfg = wg::WgDefault>
void gemm(const OpA& a, const OpB& b, int64_t M, int64_t N, int64_t K, const Epilogue<T>& ep, T* rowsum_out,
          bool tensor_cores, const at::TensorOptions& device_opts) {
  using A = acc_t<T>;
  TORCH_CHECK(M < (int64_t(1) << 31) && N < (int64_t(1) << 31) && K < (int64_t(1) << 31),
              "fastnn CUDA GEMM: dimensions must be below 2^31, got M=", M, " N=", N, " K=", K);
  constexpr bool kHalf = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;
  TORCH_INTERNAL_ASSERT(kHalf || !tensor_cores, "fastnn CUDA GEMM: tensor cores take float16/bfloat16 only");
  if (M == 0 || N == 0) return;
  const int bm = tensor_cores ? Cfg::BM : simt::BM, bn = tensor_cores ? Cfg::BN : simt::BN;
  const int bk = tensor_cores ? Cfg::BK : simt::BK;
  const int64_t tiles_m = ceil_div(M, bm), tiles_n = ceil_div(N, bn);
  TORCH_CHECK(tiles_n <= 65535 && tiles_m * tiles_n < (int64_t(1) << 31),
              "fastnn CUDA GEMM: M = ", M, ", N = ", N, " is too large for one launch");
  int splits = pick_splits(tiles_m * tiles_n, M, N, K, bk, tensor_cores ? 2 : 4, sizeof(A));
  const int64_t k_per_split = std::max<int64_t>(bk, ceil_div(ceil_div(K, bk), splits) * bk);
  splits = int(std::max<int64_t>(1, ceil_div(K, k_per_split)));

  const auto acc_opts = device_opts.dtype(std::is_same_v<A, double> ? at::kDouble : at::kFloat);
  at::Tensor ws = splits > 1 ? at::empty({splits, M, N}, acc_opts) : at::Tensor();
  at::Tensor rowsum_ws = rowsum_out ? at::empty({splits, M}, acc_opts) : at::Tensor();
  A* ws_ptr = ws.defined() ? ws.data_ptr<A>() : nullptr;
  A* rowsum_ptr = rowsum_ws.defined() ? rowsum_ws.data_ptr<A>() : nullptr;

  const cudaStream_t stream = current_stream();
  if constexpr (kHalf && OpA::kKMajor && OpB::kKMajor) {
    // Large products with both operands K-major: Hopper's warpgroup MMA, when enabled.
    const int64_t wg_tiles = ceil_div(M, WgCfg::BM) * ceil_div(N, WgCfg::BN);
    // (N >= BN: a narrower product would leave most of the tile idle.)
    if (tensor_cores && !rowsum_out && N >= WgCfg::BN && wg_tiles >= sm_count() && wgmma_enabled()) {
      constexpr auto kernel = gemm_wgmma_kernel<T, WgCfg, OpA, OpB>;
      allow_dynamic_smem<kernel>(WgCfg::SMEM_BYTES);
      kernel<<<unsigned(wg_tiles), WgCfg::THREADS, WgCfg::SMEM_BYTES, stream>>>(a, b, int(M), int(N), int(K), ep);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      note_gemm_path("wgmma", false);
      return;
    }
  }
  const dim3 grid{unsigned(tiles_m), unsigned(tiles_n), unsigned(splits)};
  const dim3 grid_tc{unsigned(tiles_m * tiles_n), 1, unsigned(splits)};  // tile order: gemm_tc_kernel
  if constexpr (kHalf) {
    if (tensor_cores) {
      constexpr auto kernel = gemm_tc_kernel<T, Cfg, OpA, OpB>;
      constexpr size_t smem = Cfg::template smem_bytes<T, OpA, OpB>();
      allow_dynamic_smem<kernel>(smem);
      kernel<<<grid_tc, Cfg::THREADS, smem, stream>>>(a, b, int(M), int(N), int(K), int(k_per_split), ep, ws_ptr,
                                                  rowsum_ptr);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  }
  if (!tensor_cores) {
    gemm_simt_kernel<T, OpA, OpB><<<grid, simt::THREADS, 0, stream>>>(a, b, int(M), int(N), int(K),
                                                                     int(k_per_split), ep, ws_ptr, rowsum_ptr);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  note_gemm_path(tensor_cores ? "mma.sync" : "simt", splits > 1);
  if (splits > 1) {
    const int64_t blocks = std::min<int64_t>(ceil_div(M * N, 256), int64_t(sm_count()) * 8);
    splitk_finish_kernel<T><<<unsigned(blocks), 256, 0, stream>>>(ws_ptr, splits, int(M), int(N), ep);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  if (rowsum_out) {
    sum_partials_kernel<T><<<unsigned(ceil_div(M, 256)), 256, 0, stream>>>(rowsum_ptr, splits, int(M), rowsum_out);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

// Whether a strided matrix (rows x depth, strides rs / ks) can feed the
// tensor-core kernel, and along which dimension: 16-byte aligned base, unit
// stride along the contiguous dimension, the other stride and the contiguous
// extent multiples of 8 elements.
enum class TcLayout { kNone, kKMajor, kRowMajor };

template <typename T>
TcLayout tc_layout(const void* ptr, int64_t rows, int64_t depth, int64_t rs, int64_t ks) {
  if (reinterpret_cast<uintptr_t>(ptr) % 16 != 0) return TcLayout::kNone;
  if (ks == 1 && rs % 8 == 0 && depth % 8 == 0) return TcLayout::kKMajor;
  if (rs == 1 && ks % 8 == 0 && rows % 8 == 0) return TcLayout::kRowMajor;
  return TcLayout::kNone;
}

}  // namespace fastnn::cuda
