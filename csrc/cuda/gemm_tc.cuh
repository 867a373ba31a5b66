// Tensor-core GEMM for float16 / bfloat16 (float32 accumulation), sm_80 and later.
//
// A TcConfig sets the CTA tile (BM x BN x BK), the ring depth and the warp grid;
// each warp computes (BM / WARPS_M) x (BN / WARPS_N) as mma.sync.m16n8k16 tiles
// (TcDefault: 128 x 128 x 64, 3 stages, 2 x 4 warps of 64 x 32). Operand tiles
// stream global -> shared with 16-byte cp.async in a ring; each operand keeps
// its memory layout in shared memory (K-major rows, or MN-major rows read with
// ldmatrix.trans), so
// transposed operands (the backward products) cost no extra pass. Rows are
// padded by 16 bytes so that ldmatrix reads are free of bank conflicts.
//
// Split-K: blockIdx.z takes a slice of K; partial sums go to a float32
// workspace and splitk_finish_kernel applies the epilogue. `rowsum` (the bias
// gradient of a weight-gradient product) sums the rows of A in the CTAs of
// the first column of tiles, while the tiles are in shared memory.
#pragma once

#include "gemm_epilogue.cuh"

namespace fastnn::cuda {

namespace tc {

template <int BM_, int BN_, int BK_, int STAGES_, int WARPS_M_, int WARPS_N_, int MIN_BLOCKS_>
struct TcConfig {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, STAGES = STAGES_, WARPS_M = WARPS_M_, WARPS_N = WARPS_N_;
  static constexpr int MIN_BLOCKS = MIN_BLOCKS_, THREADS = 32 * WARPS_M * WARPS_N, PAD = 8;
  static constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N, MT = WM / 16, NT = WN / 8;
  static_assert(WM % 16 == 0 && WN % 16 == 0 && BK % 16 == 0, "warp tile: m16 x n16 multiples");

  template <bool KMajor, int ROWS>
  __host__ __device__ static constexpr int tile_elems() {
    return KMajor ? ROWS * (BK + PAD) : BK * (ROWS + PAD);
  }
  template <typename T, class OpA, class OpB>
  __host__ __device__ static constexpr size_t smem_bytes() {
    return size_t(STAGES) * (tile_elems<OpA::kKMajor, BM>() + tile_elems<OpB::kKMajor, BN>()) * sizeof(T);
  }
};

// 128 x 128 x 64, 3 stages, 2 CTAs per SM: 2-9% faster than 128 x 128 x 32 in 4 stages, and
// than 128 x 256 / 256 x 128 tiles (warps of 64 x 64, one CTA per SM) by 18-58%, on an H200 in
// all three operand layouts at 8192^3 and 8192 x 4096 x 4096 (benchmarks/gemm_microbench.cu,
// benchmarks/gpu_2026-11-28/microbench.txt).
using TcDefault = TcConfig<128, 128, 64, 3, 2, 4, 2>;

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared; zero-filled when !valid (src is then not read).
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, bool valid) {
  const int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

template <bool Trans>
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  if constexpr (Trans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

template <typename T>
__device__ __forceinline__ void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Issues the cp.async copies of one ROWS x BK tile of `op` (rows r0.., depth k0..).
template <class Cfg, typename T, class Op, int ROWS>
__device__ __forceinline__ void load_tile(const Op& op, T* s, int r0, int k0, int tid) {
  constexpr int BK = Cfg::BK, CHUNKS = ROWS * BK / 8;
  static_assert(CHUNKS % Cfg::THREADS == 0, "tile chunks must divide among the threads");
#pragma unroll
  for (int i = 0; i < CHUNKS / Cfg::THREADS; ++i) {
    const int c = tid + i * Cfg::THREADS;
    int r, k;
    T* dst;
    if constexpr (Op::kKMajor) {
      r = c / (BK / 8);
      k = (c % (BK / 8)) * 8;
      dst = s + r * (BK + Cfg::PAD) + k;
    } else {
      k = c / (ROWS / 8);
      r = (c % (ROWS / 8)) * 8;
      dst = s + k * (ROWS + Cfg::PAD) + r;
    }
    const T* src = op.chunk(r0 + r, k0 + k);
    cp_async16(smem_addr(dst), src ? src : op.ptr, src != nullptr);
  }
}

// The four ldmatrix row addresses of a 16 x 16 A fragment (rows m, depth kk..kk+15).
template <class Cfg, bool KMajor>
__device__ __forceinline__ int a_frag_offset(int m, int kk, int lane) {
  if constexpr (KMajor) return (m + (lane % 16)) * (Cfg::BK + Cfg::PAD) + kk + (lane / 16) * 8;
  else return (kk + (lane % 8) + (lane / 16) * 8) * (Cfg::BM + Cfg::PAD) + m + ((lane / 8) % 2) * 8;
}

// Two 16 x 8 B fragments (columns n..n+15, depth kk..kk+15).
template <class Cfg, bool KMajor>
__device__ __forceinline__ int b_frag_offset(int n, int kk, int lane) {
  if constexpr (KMajor) return (n + (lane % 8) + (lane / 16) * 8) * (Cfg::BK + Cfg::PAD) + kk + ((lane / 8) % 2) * 8;
  else return (kk + (lane % 8) + ((lane / 8) % 2) * 8) * (Cfg::BN + Cfg::PAD) + n + (lane / 16) * 8;
}

}  // namespace tc

template <typename T, class Cfg, class OpA, class OpB>
__global__ void __launch_bounds__(Cfg::THREADS, Cfg::MIN_BLOCKS)
    gemm_tc_kernel(OpA a, OpB b, int M, int N, int K, int k_per_split, Epilogue<T> ep, float* ws,
                   float* rowsum_ws) {
  using namespace tc;
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, STAGES = Cfg::STAGES, PAD = Cfg::PAD;
  constexpr int MT = Cfg::MT, NT = Cfg::NT;
  static_assert(Cfg::THREADS >= BM, "row sums: one thread per tile row");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* smem = reinterpret_cast<T*>(smem_raw);
  constexpr int A_ELEMS = Cfg::template tile_elems<OpA::kKMajor, BM>();
  constexpr int STAGE = A_ELEMS + Cfg::template tile_elems<OpB::kKMajor, BN>();

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  // Tiles in groups of 8 row tiles, column tile by column tile within a group,
  // so that the CTAs in flight share their A and B tiles in L2.
  const int tiles_m = (M + BM - 1) / BM, tiles_n = (N + BN - 1) / BN;
  const int per_group = 8 * tiles_n, group = blockIdx.x / per_group;
  const int first_m = group * 8, group_rows = min(tiles_m - first_m, 8);
  const int tile_m = first_m + (blockIdx.x % per_group) % group_rows;
  const int tile_n = (blockIdx.x % per_group) / group_rows;
  const int m0 = tile_m * BM, n0 = tile_n * BN;
  const int k_begin = blockIdx.z * k_per_split;
  const int k_end = min(K, k_begin + k_per_split);
  const int ktiles = k_end > k_begin ? (k_end - k_begin + BK - 1) / BK : 0;
  const int wm = (warp / Cfg::WARPS_N) * Cfg::WM, wn = (warp % Cfg::WARPS_N) * Cfg::WN;
  const bool sum_rows = rowsum_ws != nullptr && tile_n == 0;

  float acc[MT][NT][4];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;
  float row_sum = 0.f;

  auto load_stage = [&](int kt) {
    T* s = smem + (kt % STAGES) * STAGE;
    const int k0 = k_begin + kt * BK;
    load_tile<Cfg, T, OpA, BM>(a, s, m0, k0, tid);
    load_tile<Cfg, T, OpB, BN>(b, s + A_ELEMS, n0, k0, tid);
  };

#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < ktiles) load_stage(s);
    cp_async_commit();
  }

  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<STAGES - 2>();
    __syncthreads();
    if (kt + STAGES - 1 < ktiles) load_stage(kt + STAGES - 1);
    cp_async_commit();

    const T* As = smem + (kt % STAGES) * STAGE;
    const T* Bs = As + A_ELEMS;
    if (sum_rows && tid < BM) {
#pragma unroll 8
      for (int k = 0; k < BK; ++k)
        row_sum += to_acc(OpA::kKMajor ? As[tid * (BK + PAD) + k] : As[k * (BM + PAD) + tid]);
    }
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
      uint32_t af[MT][4], bf[NT][2];
#pragma unroll
      for (int i = 0; i < MT; ++i)
        ldmatrix_x4<!OpA::kKMajor>(af[i], smem_addr(As + a_frag_offset<Cfg, OpA::kKMajor>(wm + 16 * i, kk, lane)));
#pragma unroll
      for (int p = 0; p < NT / 2; ++p) {
        uint32_t r[4];
        ldmatrix_x4<!OpB::kKMajor>(r, smem_addr(Bs + b_frag_offset<Cfg, OpB::kKMajor>(wn + 16 * p, kk, lane)));
        bf[2 * p][0] = r[0];
        bf[2 * p][1] = r[1];
        bf[2 * p + 1][0] = r[2];
        bf[2 * p + 1][1] = r[3];
      }
#pragma unroll
      for (int i = 0; i < MT; ++i)
#pragma unroll
        for (int j = 0; j < NT; ++j) mma16816<T>(acc[i][j], af[i], bf[j][0], bf[j][1]);
    }
  }
  cp_async_wait<0>();

  if (sum_rows && tid < BM && m0 + tid < M) rowsum_ws[int64_t(blockIdx.z) * M + m0 + tid] = row_sum;

  // Accumulator (i, j, e): row wm + 16i + lane/4 (+8 for e >= 2), column wn + 8j + 2(lane%4) + e%2.
  float* part = ws ? ws + int64_t(blockIdx.z) * M * N : nullptr;
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < NT; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int m = m0 + wm + 16 * i + lane / 4 + (e >= 2 ? 8 : 0);
        const int n = n0 + wn + 8 * j + 2 * (lane % 4) + (e % 2);
        if (m < M && n < N) {
          if (part) part[int64_t(m) * N + n] = acc[i][j][e];
          else ep.store(m, n, acc[i][j][e]);
        }
      }
}

}  // namespace fastnn::cuda
