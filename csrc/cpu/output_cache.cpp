// See output_cache.h.
#include "output_cache.h"

#include <ATen/EmptyTensor.h>
#include <c10/core/Allocator.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace fastnn::cpu {
namespace {

constexpr size_t kAlign = 64;

size_t limit_from_env() {
  const char* v = std::getenv("FASTNN_OUTPUT_CACHE_MB");
  const long long mb = v && *v ? std::atoll(v) : 1024;
  return mb > 0 ? static_cast<size_t>(mb) << 20 : 0;
}

class BlockCache {
 public:
  void* take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        held_ -= bytes;
        return p;
      }
    }
    void* p = std::aligned_alloc(kAlign, bytes);
    TORCH_CHECK(p, "fastnn: out of memory allocating ", bytes, " bytes");
    return p;
  }

  void give(void* p, size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (held_ + bytes <= limit_) {
        free_[bytes].push_back(p);
        held_ += bytes;
        return;
      }
    }
    std::free(p);
  }

  size_t held() {
    std::lock_guard<std::mutex> lock(mu_);
    return held_;
  }

  void clear() {
    std::unordered_map<size_t, std::vector<void*>> blocks;
    {
      std::lock_guard<std::mutex> lock(mu_);
      blocks.swap(free_);
      held_ = 0;
    }
    for (auto& [bytes, ptrs] : blocks)
      for (void* p : ptrs) std::free(p);
  }

  bool enabled() const { return limit_ > 0; }

 private:
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t held_ = 0;
  const size_t limit_ = limit_from_env();
};

// Never destroyed: tensors may be freed after static destructors have run.
BlockCache& cache() {
  static BlockCache* c = new BlockCache();
  return *c;
}

// The block size travels with the pointer: a small header in front of it.
struct Header {
  size_t bytes;
};
constexpr size_t kHeader = kAlign;  // keeps the data 64-byte aligned

void release(void* ctx) {
  auto* base = static_cast<char*>(ctx);
  cache().give(base, reinterpret_cast<Header*>(base)->bytes);
}

class CachedAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) override {
    const size_t bytes = kHeader + (n + kAlign - 1) / kAlign * kAlign;
    auto* base = static_cast<char*>(cache().take(bytes));
    reinterpret_cast<Header*>(base)->bytes = bytes;
    return {base + kHeader, base, &release, c10::Device(c10::DeviceType::CPU)};
  }
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    std::memcpy(dest, src, count);
  }
};

CachedAllocator& allocator() {
  static CachedAllocator* a = new CachedAllocator();
  return *a;
}

}  // namespace

at::Tensor empty_cached(at::IntArrayRef sizes, const at::TensorOptions& options) {
  if (!cache().enabled() || !options.device().is_cpu()) return at::empty(sizes, options);
  return at::detail::empty_generic(sizes, &allocator(), c10::DispatchKeySet(c10::DispatchKey::CPU),
                                   c10::typeMetaToScalarType(options.dtype()),
                                   options.memory_format_opt().value_or(c10::MemoryFormat::Contiguous));
}

at::Tensor copy_cached(const at::Tensor& t) {
  at::Tensor c = empty_cached(t.sizes(), t.options());
  if (t.is_contiguous() && t.device().is_cpu()) {
    if (t.numel()) std::memcpy(c.data_ptr(), t.data_ptr(), t.numel() * t.element_size());
  } else {
    c.copy_(t);
  }
  return c;
}

std::shared_ptr<void> cached_block(size_t bytes) {
  const size_t total = kHeader + (bytes + kAlign - 1) / kAlign * kAlign;
  if (!cache().enabled()) {
    void* p = std::aligned_alloc(kAlign, total);
    TORCH_CHECK(p, "fastnn: out of memory allocating ", total, " bytes");
    return std::shared_ptr<void>(p, std::free);
  }
  auto* base = static_cast<char*>(cache().take(total));
  reinterpret_cast<Header*>(base)->bytes = total;
  return std::shared_ptr<void>(base + kHeader, [base](void*) { release(base); });
}

size_t output_cache_bytes() { return cache().held(); }
void output_cache_clear() { cache().clear(); }

}  // namespace fastnn::cpu
