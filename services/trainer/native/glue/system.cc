// Process-wide settings and build facts: thread count, grad mode, RNG seed, what `spark doctor` prints.
#include <malloc.h>
#include <cstdlib>
#include <torch/version.h>
#include <unistd.h>
#include "../torch/cpu_cache.h"
#include "../torch/fused_cuda.h"
#include "common.h"
#ifdef SPARK_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif
#include <torch/cuda.h>

namespace spark::glue {

namespace {

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  const auto n = int_arg(info, 0, "threads");
  if (n < 1) throw Napi::RangeError::New(info.Env(), "threads must be >= 1");
  g_num_threads = int(n);
  at::set_num_threads(int(n));
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), g_num_threads.load()); }

Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  torch::GradMode::set_enabled(bool_arg(info, 0, "enabled", true));
  return info.Env().Undefined();
}

Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), torch::GradMode::is_enabled());
}

/// setCpuCacheLimit(bytes): how much freed CPU tensor memory the caching allocator keeps (0 = none).
Napi::Value SetCpuCacheLimit(const Napi::CallbackInfo& info) {
  const double bytes = number_arg(info, 0, "bytes");
  if (bytes < 0) throw Napi::RangeError::New(info.Env(), "bytes must be >= 0");
  CachingCpuAllocator::instance().set_limit(size_t(bytes));
  return info.Env().Undefined();
}

/// cpuCache() → {cachedBytes}; emptyCpuCache() returns the cached blocks to the OS.
Napi::Value CpuCache(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  o.Set("cachedBytes", double(CachingCpuAllocator::instance().cached_bytes()));
  return o;
}

Napi::Value EmptyCpuCache(const Napi::CallbackInfo& info) {
  CachingCpuAllocator::instance().empty();
  return info.Env().Undefined();
}

/// setCudaFused(on): the fused CUDA kernels (cuda/fused.cu) or libtorch's ops for RMSNorm, RoPE, SwiGLU and
/// NF4 dequantisation on CUDA tensors; cudaFused() says which (false in builds without the kernels).
Napi::Value SetCudaFused(const Napi::CallbackInfo& info) {
  cuda_fused_switch().store(bool_arg(info, 0, "on", true));
  return info.Env().Undefined();
}

Napi::Value CudaFused(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), kCudaKernelsBuilt && cuda_fused_switch().load());
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  torch::manual_seed(uint64_t(int_arg(info, 0, "seed")));
  return info.Env().Undefined();
}

/// info() → {torchVersion, build, cudaAvailable, devices, threads, parallelInfo, buildConfig}
Napi::Value Info(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("torchVersion", TORCH_VERSION);
#ifdef SPARK_CUDA
  o.Set("build", "cuda");
#else
  o.Set("build", "cpu");
#endif
  o.Set("cudaAvailable", torch::cuda::is_available());
  o.Set("cudaKernels", kCudaKernelsBuilt);
  auto devices = Napi::Array::New(env);
  devices[uint32_t(0)] = Napi::String::New(env, "cpu");
#ifdef SPARK_CUDA
  for (int64_t i = 0; i < int64_t(torch::cuda::device_count()); ++i) {
    const auto* p = at::cuda::getDeviceProperties(i);
    devices[uint32_t(i + 1)] = Napi::String::New(env, "cuda:" + std::to_string(i) + " " + p->name + " (" +
                                                         std::to_string(p->totalGlobalMem >> 20) + " MiB)");
  }
#endif
  o.Set("devices", devices);
  o.Set("threads", g_num_threads.load());
  o.Set("parallelInfo", at::get_parallel_info());
  o.Set("buildConfig", at::show_config());
  return o;
}

/// cudaMemory(device = 0) → {allocated, reserved, peakAllocated, peakReserved} in bytes, from libtorch's
/// CUDA caching allocator (what torch.cuda.memory_stats reads); zeros in a CPU build.
Napi::Value CudaMemory(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  double allocated = 0, reserved = 0, peak_allocated = 0, peak_reserved = 0;
#ifdef SPARK_CUDA
  const auto dev = is_missing(info, 0) ? 0 : int_arg(info, 0, "device");
  if (torch::cuda::is_available()) {
    const auto st = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(dev));
    allocated = double(st.allocated_bytes[0].current);  // [0]: StatType::AGGREGATE
    reserved = double(st.reserved_bytes[0].current);
    peak_allocated = double(st.allocated_bytes[0].peak);
    peak_reserved = double(st.reserved_bytes[0].peak);
  }
#endif
  o.Set("allocated", allocated);
  o.Set("reserved", reserved);
  o.Set("peakAllocated", peak_allocated);
  o.Set("peakReserved", peak_reserved);
  return o;
}

/// cudaResetPeak(device = 0): starts the peak counters of cudaMemory() again from the current values.
Napi::Value CudaResetPeak(const Napi::CallbackInfo& info) {
#ifdef SPARK_CUDA
  const auto dev = is_missing(info, 0) ? 0 : int_arg(info, 0, "device");
  if (torch::cuda::is_available()) c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(dev));
#endif
  return info.Env().Undefined();
}

/// cudaSynchronize(): waits for every queued GPU kernel (for timing); a no-op without CUDA.
Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  if (torch::cuda::is_available()) torch::cuda::synchronize();
  return info.Env().Undefined();
}

/// cudaEmptyCache(): returns the caching allocator's unused blocks to the driver.
Napi::Value CudaEmptyCache(const Napi::CallbackInfo& info) {
#ifdef SPARK_CUDA
  if (torch::cuda::is_available()) c10::cuda::CUDACachingAllocator::emptyCache();
#endif
  return info.Env().Undefined();
}

}  // namespace

void register_system(Napi::Env env, Napi::Object exports) {
  // glibc returns freed blocks above this size to the OS at once; without it the per-step activation
  // buffers stay in the heap and RSS creeps up (DESIGN.md section 9). The env variable still wins.
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  g_num_threads = at::get_num_threads();
  // Large CPU tensors come from a bounded cache (torch/cpu_cache.h): a quarter of RAM, at most 8 GiB.
  const double ram = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE));
  CachingCpuAllocator::instance().set_limit(size_t(std::min(ram / 4, 8.0 * (1ull << 30))));
  c10::SetCPUAllocator(&CachingCpuAllocator::instance(), /*priority=*/1);
  exports.Set("setNumThreads", Napi::Function::New<guarded<SetNumThreads>>(env, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New<guarded<GetNumThreads>>(env, "getNumThreads"));
  exports.Set("setGradEnabled", Napi::Function::New<guarded<SetGradEnabled>>(env, "setGradEnabled"));
  exports.Set("isGradEnabled", Napi::Function::New<guarded<IsGradEnabled>>(env, "isGradEnabled"));
  exports.Set("manualSeed", Napi::Function::New<guarded<ManualSeed>>(env, "manualSeed"));
  exports.Set("info", Napi::Function::New<guarded<Info>>(env, "info"));
  exports.Set("setCpuCacheLimit", Napi::Function::New<guarded<SetCpuCacheLimit>>(env, "setCpuCacheLimit"));
  exports.Set("cpuCache", Napi::Function::New<guarded<CpuCache>>(env, "cpuCache"));
  exports.Set("emptyCpuCache", Napi::Function::New<guarded<EmptyCpuCache>>(env, "emptyCpuCache"));
  exports.Set("cudaMemory", Napi::Function::New<guarded<CudaMemory>>(env, "cudaMemory"));
  exports.Set("cudaResetPeak", Napi::Function::New<guarded<CudaResetPeak>>(env, "cudaResetPeak"));
  exports.Set("cudaSynchronize", Napi::Function::New<guarded<CudaSynchronize>>(env, "cudaSynchronize"));
  exports.Set("setCudaFused", Napi::Function::New<guarded<SetCudaFused>>(env, "setCudaFused"));
  exports.Set("cudaFused", Napi::Function::New<guarded<CudaFused>>(env, "cudaFused"));
  exports.Set("cudaEmptyCache", Napi::Function::New<guarded<CudaEmptyCache>>(env, "cudaEmptyCache"));
}

}  // namespace spark::glue
