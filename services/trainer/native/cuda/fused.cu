// The fused CUDA kernels declared in fused.h. Each mirrors its CPU loop in torch/kernels.h line for line
// (that file is the reference for the maths); arithmetic in fp32, one rounding to the storage dtype per
// output, except where HF rounds in between (RMSNorm, noted there). Launch shapes: one block per row for
// the row reductions, a grid-stride loop over elements for the rest.
#include "fused.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace spark::cuda {

namespace {

template <class T>
__device__ __forceinline__ float ld(const T* p, int64_t i);
template <>
__device__ __forceinline__ float ld<float>(const float* p, int64_t i) { return p[i]; }
template <>
__device__ __forceinline__ float ld<__nv_bfloat16>(const __nv_bfloat16* p, int64_t i) { return __bfloat162float(p[i]); }
template <>
__device__ __forceinline__ float ld<__half>(const __half* p, int64_t i) { return __half2float(p[i]); }

template <class T>
__device__ __forceinline__ T cvt(float v);
template <>
__device__ __forceinline__ float cvt<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 cvt<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
template <>
__device__ __forceinline__ __half cvt<__half>(float v) { return __float2half_rn(v); }

/// v rounded to T and back (what an op that stores T in between does).
template <class T>
__device__ __forceinline__ float round_to(float v) {
  const T r = cvt<T>(v);
  return ld(&r, 0);
}

/// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
__device__ float block_sum(float v) {
  __shared__ float warp_sums[32];
  __shared__ float total;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < int(blockDim.x >> 5) ? warp_sums[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) total = v;
  }
  __syncthreads();
  return total;
}

__constant__ float kNf4[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

// ---------------------------------------------------------------- RMSNorm (one block per row)

template <class T>
__global__ void rms_norm_fwd_k(const T* x, const T* w, T* y, float* rstd, int64_t h, float eps) {
  const int64_t r = blockIdx.x;
  const T* xr = x + r * h;
  T* yr = y + r * h;
  float ss = 0;
  for (int64_t i = threadIdx.x; i < h; i += blockDim.x) {
    const float v = ld(xr, i);
    ss += v * v;
  }
  const float rs = 1.0f / sqrtf(block_sum(ss) / float(h) + eps);
  if (threadIdx.x == 0) rstd[r] = rs;
  // HF: weight * (x_fp32 * rstd).to(dtype) — the normalised value is stored in the activation dtype first.
  for (int64_t i = threadIdx.x; i < h; i += blockDim.x) yr[i] = cvt<T>(ld(w, i) * round_to<T>(ld(xr, i) * rs));
}

template <class T>
__global__ void rms_norm_bwd_k(const T* g, const T* x, const T* w, const float* rstd, T* gx, int64_t h) {
  const int64_t r = blockIdx.x;
  const T* gr = g + r * h;
  const T* xr = x + r * h;
  float dot = 0;
  for (int64_t i = threadIdx.x; i < h; i += blockDim.x) dot += ld(gr, i) * ld(w, i) * ld(xr, i);
  const float rs = rstd[r];
  const float c = block_sum(dot) / float(h) * rs * rs * rs;
  T* o = gx + r * h;
  for (int64_t i = threadIdx.x; i < h; i += blockDim.x) o[i] = cvt<T>(rs * (ld(gr, i) * ld(w, i)) - ld(xr, i) * c);
}

// ---------------------------------------------------------------- split qkv + RoPE (a thread per pair)

template <class T>
__global__ void qkv_rope_fwd_k(const T* qkv, const T* cos, const T* sin, T* q, T* k, T* v, RopeDims d) {
  const int64_t heads = d.nh + 2 * d.nkv, half = d.hd / 2, total = d.b * d.t * heads * half;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = idx % half, rest = idx / half, j = rest % heads, row = rest / heads;
    const int64_t bi = row / d.t, ti = row % d.t;
    const T* x = qkv + row * heads * d.hd + j * d.hd;
    if (j >= d.nh + d.nkv) {
      T* dst = v + ((bi * d.nkv + (j - d.nh - d.nkv)) * d.t + ti) * d.hd;
      dst[i] = x[i];
      dst[i + half] = x[i + half];
      continue;
    }
    const int64_t crow = ((d.cos_batch == 1 ? 0 : bi) * d.t + ti) * d.hd;
    const bool is_q = j < d.nh;
    T* dst = is_q ? q + ((bi * d.nh + j) * d.t + ti) * d.hd : k + ((bi * d.nkv + (j - d.nh)) * d.t + ti) * d.hd;
    const float sc = is_q ? d.q_scale : 1.0f;
    const float x1 = ld(x, i), x2 = ld(x, i + half);
    dst[i] = cvt<T>((x1 * ld(cos, crow + i) - x2 * ld(sin, crow + i)) * sc);
    dst[i + half] = cvt<T>((x2 * ld(cos, crow + i + half) + x1 * ld(sin, crow + i + half)) * sc);
  }
}

template <class T>
__global__ void qkv_rope_bwd_k(const T* gq, const T* gk, const T* gv, const T* cos, const T* sin, T* gqkv, RopeDims d) {
  const int64_t heads = d.nh + 2 * d.nkv, half = d.hd / 2, total = d.b * d.t * heads * half;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t i = idx % half, rest = idx / half, j = rest % heads, row = rest / heads;
    const int64_t bi = row / d.t, ti = row % d.t;
    T* o = gqkv + row * heads * d.hd + j * d.hd;
    const T* g;
    if (j >= d.nh + d.nkv) {
      g = gv ? gv + ((bi * d.nkv + (j - d.nh - d.nkv)) * d.t + ti) * d.hd : nullptr;
      o[i] = g ? g[i] : cvt<T>(0.0f);
      o[i + half] = g ? g[i + half] : cvt<T>(0.0f);
      continue;
    }
    const bool is_q = j < d.nh;
    g = is_q ? (gq ? gq + ((bi * d.nh + j) * d.t + ti) * d.hd : nullptr)
             : (gk ? gk + ((bi * d.nkv + (j - d.nh)) * d.t + ti) * d.hd : nullptr);
    if (!g) {
      o[i] = o[i + half] = cvt<T>(0.0f);
      continue;
    }
    const int64_t crow = ((d.cos_batch == 1 ? 0 : bi) * d.t + ti) * d.hd;
    const float sc = is_q ? d.q_scale : 1.0f;
    const float g1 = ld(g, i) * sc, g2 = ld(g, i + half) * sc;
    o[i] = cvt<T>(g1 * ld(cos, crow + i) + g2 * ld(sin, crow + i + half));
    o[i + half] = cvt<T>(g2 * ld(cos, crow + i + half) - g1 * ld(sin, crow + i));
  }
}

// ---------------------------------------------------------------- SwiGLU (a thread per output)

template <class T>
__global__ void swiglu_fwd_k(const T* gu, T* h, int64_t n, int64_t inter) {
  const int64_t total = n * inter;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = idx / inter, i = idx % inter;
    const float g = ld(gu, r * 2 * inter + i), u = ld(gu, r * 2 * inter + inter + i);
    h[idx] = cvt<T>(g / (1.0f + expf(-g)) * u);
  }
}

template <class T>
__global__ void swiglu_bwd_k(const T* gh, const T* gu, T* ggu, int64_t n, int64_t inter) {
  const int64_t total = n * inter;
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < total; idx += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = idx / inter, i = idx % inter, gi = r * 2 * inter + i, ui = gi + inter;
    const float d = ld(gh, idx), g = ld(gu, gi), u = ld(gu, ui);
    const float sg = 1.0f / (1.0f + expf(-g));
    ggu[gi] = cvt<T>(d * u * sg * (1.0f + g * (1.0f - sg)));
    ggu[ui] = cvt<T>(d * g * sg);
  }
}

// ---------------------------------------------------------------- NF4 dequantisation (a thread per byte)

template <class T>
__global__ void nf4_dequantize_k(const uint8_t* codes, const float* absmax, T* out, int64_t nbytes, int64_t half_block) {
  for (int64_t idx = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; idx < nbytes; idx += int64_t(gridDim.x) * blockDim.x) {
    const uint8_t c = codes[idx];
    const float s = absmax[idx / half_block];
    out[2 * idx] = cvt<T>(kNf4[c >> 4] * s);
    out[2 * idx + 1] = cvt<T>(kNf4[c & 15] * s);
  }
}

// ---------------------------------------------------------------- launching

template <class T>
struct Tag {
  using type = T;
};

template <class F>
void dispatch(DType dt, const char* name, F&& f) {
  switch (dt) {
    case DType::F32: f(Tag<float>{}); break;
    case DType::BF16: f(Tag<__nv_bfloat16>{}); break;
    case DType::F16: f(Tag<__half>{}); break;
    default: throw std::runtime_error(std::string("spark cuda ") + name + ": unsupported dtype");
  }
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw std::runtime_error(std::string("spark cuda ") + name + ": " + cudaGetErrorString(e));
}

constexpr int kThreads = 256;

/// Blocks for a grid-stride loop over `total` items (the loop covers what the cap leaves).
unsigned grid_for(int64_t total) {
  return unsigned(std::max<int64_t>(1, std::min<int64_t>((total + kThreads - 1) / kThreads, int64_t(1) << 20)));
}

/// Threads per row for the row kernels: enough to cover short rows once, 512 for the 4k-wide ones.
unsigned row_threads(int64_t h) { return h >= 2048 ? 512 : (h >= 512 ? 256 : 128); }

}  // namespace

void rms_norm_fwd(const void* x, const void* w, void* y, float* rstd, int64_t n, int64_t h, float eps, DType dt,
                  cudaStream_t s) {
  if (n == 0) return;
  dispatch(dt, "rms_norm_fwd", [&](auto tag) {
    using T = typename decltype(tag)::type;
    rms_norm_fwd_k<T><<<unsigned(n), row_threads(h), 0, s>>>(static_cast<const T*>(x), static_cast<const T*>(w),
                                                              static_cast<T*>(y), rstd, h, eps);
  });
}

void rms_norm_bwd(const void* g, const void* x, const void* w, const float* rstd, void* gx, int64_t n, int64_t h,
                  DType dt, cudaStream_t s) {
  if (n == 0) return;
  dispatch(dt, "rms_norm_bwd", [&](auto tag) {
    using T = typename decltype(tag)::type;
    rms_norm_bwd_k<T><<<unsigned(n), row_threads(h), 0, s>>>(static_cast<const T*>(g), static_cast<const T*>(x),
                                                              static_cast<const T*>(w), rstd, static_cast<T*>(gx), h);
  });
}

void qkv_rope_fwd(const void* qkv, const void* cos, const void* sin, void* q, void* k, void* v, const RopeDims& d,
                  DType dt, cudaStream_t s) {
  const int64_t total = d.b * d.t * (d.nh + 2 * d.nkv) * (d.hd / 2);
  if (total == 0) return;
  dispatch(dt, "qkv_rope_fwd", [&](auto tag) {
    using T = typename decltype(tag)::type;
    qkv_rope_fwd_k<T><<<grid_for(total), kThreads, 0, s>>>(static_cast<const T*>(qkv), static_cast<const T*>(cos),
                                                            static_cast<const T*>(sin), static_cast<T*>(q),
                                                            static_cast<T*>(k), static_cast<T*>(v), d);
  });
}

void qkv_rope_bwd(const void* gq, const void* gk, const void* gv, const void* cos, const void* sin, void* gqkv,
                  const RopeDims& d, DType dt, cudaStream_t s) {
  const int64_t total = d.b * d.t * (d.nh + 2 * d.nkv) * (d.hd / 2);
  if (total == 0) return;
  dispatch(dt, "qkv_rope_bwd", [&](auto tag) {
    using T = typename decltype(tag)::type;
    qkv_rope_bwd_k<T><<<grid_for(total), kThreads, 0, s>>>(static_cast<const T*>(gq), static_cast<const T*>(gk),
                                                            static_cast<const T*>(gv), static_cast<const T*>(cos),
                                                            static_cast<const T*>(sin), static_cast<T*>(gqkv), d);
  });
}

void swiglu_fwd(const void* gu, void* h, int64_t n, int64_t inter, DType dt, cudaStream_t s) {
  if (n * inter == 0) return;
  dispatch(dt, "swiglu_fwd", [&](auto tag) {
    using T = typename decltype(tag)::type;
    swiglu_fwd_k<T><<<grid_for(n * inter), kThreads, 0, s>>>(static_cast<const T*>(gu), static_cast<T*>(h), n, inter);
  });
}

void swiglu_bwd(const void* gh, const void* gu, void* ggu, int64_t n, int64_t inter, DType dt, cudaStream_t s) {
  if (n * inter == 0) return;
  dispatch(dt, "swiglu_bwd", [&](auto tag) {
    using T = typename decltype(tag)::type;
    swiglu_bwd_k<T><<<grid_for(n * inter), kThreads, 0, s>>>(static_cast<const T*>(gh), static_cast<const T*>(gu),
                                                              static_cast<T*>(ggu), n, inter);
  });
}

void nf4_dequantize(const uint8_t* codes, const float* absmax, void* out, int64_t nbytes, int64_t block, DType dt,
                    cudaStream_t s) {
  if (nbytes == 0) return;
  dispatch(dt, "nf4_dequantize", [&](auto tag) {
    using T = typename decltype(tag)::type;
    nf4_dequantize_k<T><<<grid_for(nbytes), kThreads, 0, s>>>(codes, absmax, static_cast<T*>(out), nbytes, block / 2);
  });
}

}  // namespace spark::cuda
