// When the fused CUDA kernels of cuda/fused.cu run, and how a libtorch tensor is handed to them. Builds
// with those kernels linked define SPARK_CUDA_KERNELS (scripts/build-native.sh, when nvcc is found);
// elsewhere fused_cuda() is always false and the libtorch-op paths of blocks.h / nf4.h run.
#pragma once
#include <torch/torch.h>
#include <atomic>
#include <cstdlib>
#include <cstring>
#ifdef SPARK_CUDA_KERNELS
#include <c10/cuda/CUDAStream.h>
#include "../cuda/fused.h"
#endif

namespace spark {

/// On unless SPARK_CUDA_FUSED=0 (read once); setCudaFused() flips it at run time, for A/B benchmarks and
/// parity checks against the libtorch-op path in one process.
inline std::atomic<bool>& cuda_fused_switch() {
  static std::atomic<bool> on{[] {
    const char* v = std::getenv("SPARK_CUDA_FUSED");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }()};
  return on;
}

/// Whether this build has the fused kernels at all.
inline constexpr bool kCudaKernelsBuilt =
#ifdef SPARK_CUDA_KERNELS
    true;
#else
    false;
#endif

/// CUDA memory of a dtype the kernels take, with the kernels built and switched on.
inline bool fused_cuda(const torch::Device& device, torch::ScalarType d) {
  if (!kCudaKernelsBuilt || !device.is_cuda() || !cuda_fused_switch().load(std::memory_order_relaxed)) return false;
  return d == torch::kBFloat16 || d == torch::kHalf || d == torch::kFloat;
}
inline bool fused_cuda(const torch::Tensor& t) { return fused_cuda(t.device(), t.scalar_type()); }

#ifdef SPARK_CUDA_KERNELS
inline cuda::DType cuda_dtype(torch::ScalarType d) {
  return d == torch::kBFloat16 ? cuda::DType::BF16 : (d == torch::kHalf ? cuda::DType::F16 : cuda::DType::F32);
}
/// The stream libtorch queues its own work on for the tensor's device (kernels go after it, in order).
inline cudaStream_t cuda_stream(const torch::Tensor& t) {
  return c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
}
#endif

}  // namespace spark
