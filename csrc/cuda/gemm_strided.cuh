// The GEMM on two strided matrices (Linear and its gradients): picks the
// tensor-core kernel when both operands stream as 16-byte chunks, else SIMT.
#pragma once

#include "gemm_launch.cuh"
#include "gemm_operands.cuh"

namespace fastnn::cuda {

// rows x depth, element (r, k) at ptr[r * rs + k * ks].
template <typename T>
struct MatView {
  const T* ptr;
  int64_t rows, depth, rs, ks;
};

template <typename T, bool KA, bool KB>
void gemm_views_as(const MatView<T>& a, const MatView<T>& b, const Epilogue<T>& ep, T* rowsum, bool tensor_cores,
                   const at::TensorOptions& opts) {
  const StridedOperand<T, KA> oa{a.ptr, a.rs, a.ks, int(a.rows), int(a.depth)};
  const StridedOperand<T, KB> ob{b.ptr, b.rs, b.ks, int(b.rows), int(b.depth)};
  gemm<T>(oa, ob, a.rows, b.rows, a.depth, ep, rowsum, tensor_cores, opts);
}

template <typename T, bool TensorCores>
void gemm_views_dispatch(const MatView<T>& a, bool ka, const MatView<T>& b, bool kb, const Epilogue<T>& ep,
                         T* rowsum, const at::TensorOptions& opts) {
  if (ka && kb) gemm_views_as<T, true, true>(a, b, ep, rowsum, TensorCores, opts);
  else if (ka) gemm_views_as<T, true, false>(a, b, ep, rowsum, TensorCores, opts);
  else if (kb) gemm_views_as<T, false, true>(a, b, ep, rowsum, TensorCores, opts);
  else gemm_views_as<T, false, false>(a, b, ep, rowsum, TensorCores, opts);
}

// C[a.rows][b.rows] = epilogue(A B^T) over depth a.depth == b.depth.
template <typename T>
void gemm_views(const MatView<T>& a, const MatView<T>& b, const Epilogue<T>& ep, T* rowsum,
                const at::TensorOptions& opts) {
  TORCH_INTERNAL_ASSERT(a.depth == b.depth);
  if constexpr (std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>) {
    const TcLayout la = tc_layout<T>(a.ptr, a.rows, a.depth, a.rs, a.ks);
    const TcLayout lb = tc_layout<T>(b.ptr, b.rows, b.depth, b.rs, b.ks);
    if (la != TcLayout::kNone && lb != TcLayout::kNone) {
      gemm_views_dispatch<T, true>(a, la == TcLayout::kKMajor, b, lb == TcLayout::kKMajor, ep, rowsum, opts);
      return;
    }
  }
  // SIMT: neighbouring threads walk whichever dimension has unit stride.
  gemm_views_dispatch<T, false>(a, a.ks == 1, b, b.ks == 1, ep, rowsum, opts);
}

}  // namespace fastnn::cuda
