// A caching CPU allocator for libtorch: large blocks freed by a training or decoding step go to a free list
// keyed by size and are handed out again by the next step, which asks for the same sizes. libtorch's
// default CPU allocator returns them to glibc, and with MALLOC_MMAP_THRESHOLD_ (set to keep RSS flat,
// DESIGN.md section 9) every large tensor is then a fresh mmap whose pages fault in and are zeroed by the
// kernel — measured at ~15 % of a LoRA training step. The cache is bounded: past its limit freed blocks go
// back to the OS, so RSS stays flat at the working set (the CUDA caching allocator's idea, for the CPU).
//
// Sizes are rounded up to classes of eight per doubling (at most 12.5 % more), so blocks of nearby sizes
// serve each other: a prefill in chunks through a growing KV cache asks for attention scores of a new
// length every chunk, and with exact sizes none was ever reused (measured, batched generation of 28
// rows on 2 cores: 2.6 M page faults, more system time than compute). A full cache makes room for a
// freed block by returning its least recently freed blocks, so stale sizes do not hold it.
// No N-API types here.
#pragma once
#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <list>
#include <torch/version.h>
#include <map>
#include <mutex>
#include <vector>

// libtorch 2.3 made Allocator::allocate non-const and added the pure virtual copy_data.
#if (TORCH_VERSION_MAJOR > 2) || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define SPARK_ALLOCATE_CONST
#define SPARK_ALLOCATOR_COPY_DATA 1
#else
#define SPARK_ALLOCATE_CONST const
#endif

namespace spark {

class CachingCpuAllocator final : public c10::Allocator {
 public:
  /// Blocks below this are never cached.
  static constexpr size_t kMinCachedBytes = 128 << 10;
  /// Header in front of each block: its size. 64 keeps the data 64-byte aligned, as libtorch's allocator.
  static constexpr size_t kHeader = 64;

  static CachingCpuAllocator& instance() {
    static CachingCpuAllocator a;
    return a;
  }

  c10::DataPtr allocate(size_t n) SPARK_ALLOCATE_CONST override {
    // Every block has the header, so one deleter serves all of them and the data pointer is the context
    // (what libtorch's raw_allocate/raw_deallocate need: oneDNN's bf16 GEMMs allocate that way). Small
    // blocks are marked 0 and never cached (glibc serves them from its heap anyway).
    const bool small = n < kMinCachedBytes;
    const size_t size = small ? n : size_class(n);
    void* block = nullptr;
    if (!small) {
      std::lock_guard<std::mutex> lock(mu_);
      // The smallest cached size that fits, if it is less than twice the request.
      auto it = free_.lower_bound(size);
      if (it != free_.end() && it->first < 2 * size) {
        block = *it->second.back();
        lru_.erase(it->second.back());
        it->second.pop_back();
        cached_bytes_ -= it->first;
        if (it->second.empty()) free_.erase(it);
      }
    }
    if (!block) {
      if (posix_memalign(&block, kHeader, size + kHeader) != 0 || !block)
        TORCH_CHECK(false, "CachingCpuAllocator: out of memory allocating ", size, " bytes");
      *static_cast<size_t*>(block) = small ? 0 : size;
    }
    void* data = static_cast<char*>(block) + kHeader;
    return {data, data, &CachingCpuAllocator::release, c10::Device(c10::kCPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &CachingCpuAllocator::release; }

#ifdef SPARK_ALLOCATOR_COPY_DATA
  void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }
#endif

  /// Upper bound on bytes kept in the free lists (0 = no caching).
  void set_limit(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    limit_ = bytes;
    trim_locked();
  }

  /// The size a request of n >= kMinCachedBytes bytes is served with: the next of eight steps per
  /// power of two (steps of >= 16 KiB, so page-aligned).
  static size_t size_class(size_t n) {
    size_t p = size_t(1) << (63 - __builtin_clzll(n));
    const size_t step = p / 8;
    return (n + step - 1) / step * step;
  }

  size_t cached_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_bytes_;
  }

  /// Returns every cached block to the OS.
  void empty() {
    std::lock_guard<std::mutex> lock(mu_);
    const size_t keep = limit_;
    limit_ = 0;
    trim_locked();
    limit_ = keep;
  }

 private:
  CachingCpuAllocator() = default;

  static void release(void* data) {
    auto& self = instance();
    void* block = static_cast<char*>(data) - kHeader;
    const size_t size = *static_cast<size_t*>(block);
    if (size > 0) {
      std::lock_guard<std::mutex> lock(self.mu_);
      if (size <= self.limit_) {
        self.cached_bytes_ += size;
        self.lru_.push_back(block);
        self.free_[size].push_back(std::prev(self.lru_.end()));
        self.trim_locked();
        return;
      }
    }
    std::free(block);
  }

  /// Frees the least recently cached blocks until the cache is within its limit.
  void trim_locked() const {
    while (cached_bytes_ > limit_ && !lru_.empty()) {
      void* block = lru_.front();
      const size_t size = *static_cast<size_t*>(block);
      auto& same = free_[size];
      // The oldest block of a size is the first one of its list.
      same.erase(same.begin());
      if (same.empty()) free_.erase(size);
      lru_.pop_front();
      cached_bytes_ -= size;
      std::free(block);
    }
  }

  mutable std::mutex mu_;
  /// Cached blocks, least recently freed first.
  mutable std::list<void*> lru_;
  /// Size → its cached blocks (positions in lru_), oldest first.
  mutable std::map<size_t, std::vector<std::list<void*>::iterator>> free_;
  mutable size_t cached_bytes_ = 0;
  size_t limit_ = 0;
};

}  // namespace spark
