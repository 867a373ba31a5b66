// Allocation of op outputs from a cache of freed blocks.
//
// A training loop allocates the same output and gradient shapes on every step
// and frees them again (optimizer.zero_grad() drops the grads). With glibc,
// large blocks freed in a group are handed back to the kernel (heap trim or
// munmap), so the next step page-faults on every 4 KiB of them: measured on the
// 2-core VM, 1 MiB of fresh output cost ~250 us in faults, more than the GEMM
// that filled it. Blocks freed here are kept by exact size and handed out again.
//
// Bounded: at most FASTNN_OUTPUT_CACHE_MB (default 1024) MiB are kept; beyond
// that, freed blocks go back to the system. FASTNN_OUTPUT_CACHE_MB=0 turns the
// cache off (plain at::empty). fastnn._C.output_cache_clear() empties it.
#pragma once

#include <ATen/ATen.h>

#include <cstddef>
#include <memory>

namespace fastnn::cpu {

// An uninitialised CPU tensor (as at::empty, including options' memory
// format) whose storage comes from, and returns to, the cache.
at::Tensor empty_cached(at::IntArrayRef sizes, const at::TensorOptions& options);

// A contiguous copy of t in a tensor from the cache (a memcpy when t is contiguous: cheaper than
// an ATen copy_ for the small states of a step-by-step caller).
at::Tensor copy_cached(const at::Tensor& t);

// A raw 64-byte aligned buffer of at least `bytes` from the same cache (for
// packed weights that live for one call), returned to it when released.
std::shared_ptr<void> cached_block(size_t bytes);

// Bytes held by the cache (not in use by any tensor), and releasing them.
size_t output_cache_bytes();
void output_cache_clear();

}  // namespace fastnn::cpu
