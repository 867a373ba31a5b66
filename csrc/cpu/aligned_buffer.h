// A growable 64-byte aligned scratch buffer (contents are not kept when it grows).
//
// For SIMD scratch (packed panels, gate buffers, partial products): std::vector's
// memory is only 16-byte aligned (large blocks sit 16 bytes past a page start), so
// every 64-byte vector load or store into it splits across two cache lines. Measured:
// the broadcast GEMM kernel's A^T panel aligned, LSTMCell 64,512->512 forward 8% faster.
#pragma once

#include <cstddef>
#include <cstdlib>

namespace fastnn::cpu {

template <typename T>
struct AlignedBuffer {
  T* ptr = nullptr;
  size_t cap = 0;

  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(ptr); }

  // At least n elements, 64-byte aligned.
  T* get(size_t n) {
    if (n > cap) {
      std::free(ptr);
      ptr = static_cast<T*>(std::aligned_alloc(64, ((n * sizeof(T) + 63) / 64) * 64));
      cap = n;
    }
    return ptr;
  }
};

}  // namespace fastnn::cpu
