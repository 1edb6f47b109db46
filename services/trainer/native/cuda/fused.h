// The fused CUDA kernels of a decoder block (cuda/fused.cu), for CUDA builds only: RMSNorm, split-qkv +
// RoPE, SwiGLU (forward and backward of each) and NF4 dequantisation. They mirror the CPU loops of
// torch/kernels.h — same arguments, same maths, fp32 arithmetic — over bf16, fp16 or fp32 device memory,
// one pass each where libtorch's ops take four to eight (an fp32 copy of the activations included).
// Plain C++ on both sides (no torch headers in the .cu), so nvcc compiles it on its own and the addon's
// .cc files pass raw pointers and the current stream. blocks.h decides when they run (fused_cuda()).
// Each function throws std::runtime_error naming the kernel when its launch fails.
#pragma once
#include <cstdint>
#include <cuda_runtime_api.h>

namespace spark::cuda {

enum class DType : int { F32 = 0, BF16 = 1, F16 = 2 };

/// As kernels::RopeDims.
struct RopeDims {
  int64_t b, t, nh, nkv, hd;
  int64_t cos_batch;  // 1 (shared positions) or b
  float q_scale;
};

/// y = w * (x * rstd) with HF's rounding: x·rstd is rounded to the activation dtype before the weight
/// multiplies it. rstd fp32 [n]. x, w, y: [n, h] / [h] in `dt`.
void rms_norm_fwd(const void* x, const void* w, void* y, float* rstd, int64_t n, int64_t h, float eps, DType dt,
                  cudaStream_t s);
/// gx = rstd * (g*w) - x * rstd³ * mean((g*w) * x).
void rms_norm_bwd(const void* g, const void* x, const void* w, const float* rstd, void* gx, int64_t n, int64_t h,
                  DType dt, cudaStream_t s);

/// qkv [b, t, (nh+2nkv)·hd] → q [b, nh, t, hd] (rotated, scaled), k [b, nkv, t, hd] (rotated), v; cos/sin
/// [cos_batch, t, hd]. All in `dt`.
void qkv_rope_fwd(const void* qkv, const void* cos, const void* sin, void* q, void* k, void* v, const RopeDims& d,
                  DType dt, cudaStream_t s);
/// Backward; a null gq/gk/gv means no gradient reached that output (zeros).
void qkv_rope_bwd(const void* gq, const void* gk, const void* gv, const void* cos, const void* sin, void* gqkv,
                  const RopeDims& d, DType dt, cudaStream_t s);

/// h [n, inter] = silu(gate) * up over gu [n, 2·inter].
void swiglu_fwd(const void* gu, void* h, int64_t n, int64_t inter, DType dt, cudaStream_t s);
/// ggu [n, 2·inter] from gh [n, inter].
void swiglu_bwd(const void* gh, const void* gu, void* ggu, int64_t n, int64_t inter, DType dt, cudaStream_t s);

/// Dense [numel] in `dt` from NF4 codes (two per byte, first element in the high nibble) and fp32 absmax
/// per `block` elements: level·absmax in fp32, rounded once (as the CPU loop).
void nf4_dequantize(const uint8_t* codes, const float* absmax, void* out, int64_t nbytes, int64_t block, DType dt,
                    cudaStream_t s);

}  // namespace spark::cuda
