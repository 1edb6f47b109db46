// Hand-written fp32 CPU loops for the element-wise parts of a Llama block. Each replaces a chain of
// 4–8 libtorch ops (and their saved intermediates) with one pass over memory; libtorch keeps the GEMMs.
// Callers check the fast-path conditions (CPU, fp32, contiguous); anything else takes the generic op path
// in blocks.h. No N-API types here.
#pragma once
#include <ATen/Parallel.h>
#include <cmath>
#include <cstdint>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace spark::kernels {

inline int64_t grain_for(int64_t row_len) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, row_len)); }

// ---------------------------------------------------------------- vectorised exp (AVX2 + FMA)
// The addon is built for baseline x86-64; the exp-heavy loops (softmax over the vocabulary, SiLU) get an
// AVX2 version selected at run time. exp is Cephes' expf (range reduction by ln 2, degree-6 polynomial,
// ~1 ulp), the same accuracy class as the Sleef exp libtorch vectorises with.
#if defined(__x86_64__)
inline const bool kHasAvx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");

__attribute__((target("avx2,fma"))) inline __m256 exp8(__m256 x) {
  // Operand order keeps NaN (max/min return the second operand when one is NaN).
  x = _mm256_min_ps(_mm256_set1_ps(88.3762626647949f), _mm256_max_ps(_mm256_set1_ps(-87.3365478515625f), x));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

__attribute__((target("avx2,fma"))) inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) inline float row_max_avx2(const float* l, int64_t v) {
  __m256 m = _mm256_set1_ps(-INFINITY);
  int64_t j = 0;
  for (; j + 8 <= v; j += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(l + j));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, m);
  float r = lanes[0];
  for (int i = 1; i < 8; ++i) r = std::max(r, lanes[i]);
  for (; j < v; ++j) r = std::max(r, l[j]);
  return r;
}

/// Σ exp(l[j] − m)
__attribute__((target("avx2,fma"))) inline float row_sum_exp_avx2(const float* l, int64_t v, float m) {
  const __m256 mv = _mm256_set1_ps(m);
  __m256 acc = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= v; j += 8) acc = _mm256_add_ps(acc, exp8(_mm256_sub_ps(_mm256_loadu_ps(l + j), mv)));
  float s = hsum8(acc);
  for (; j < v; ++j) s += std::exp(l[j] - m);
  return s;
}

/// o[j] = −g · exp(l[j] − z)
__attribute__((target("avx2,fma"))) inline void row_neg_softmax_avx2(const float* l, float* o, int64_t v, float z, float g) {
  const __m256 zv = _mm256_set1_ps(z), gv = _mm256_set1_ps(-g);
  int64_t j = 0;
  for (; j + 8 <= v; j += 8) _mm256_storeu_ps(o + j, _mm256_mul_ps(gv, exp8(_mm256_sub_ps(_mm256_loadu_ps(l + j), zv))));
  for (; j < v; ++j) o[j] = -g * std::exp(l[j] - z);
}

/// h = g / (1 + exp(−g)) · u
__attribute__((target("avx2,fma"))) inline void row_swiglu_avx2(const float* g, const float* u, float* h, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 gv = _mm256_loadu_ps(g + i);
    const __m256 silu = _mm256_div_ps(gv, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, gv))));
    _mm256_storeu_ps(h + i, _mm256_mul_ps(silu, _mm256_loadu_ps(u + i)));
  }
  for (; i < n; ++i) h[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

/// d gate = d · up · σ · (1 + g(1 − σ)), d up = d · g · σ
__attribute__((target("avx2,fma"))) inline void row_swiglu_bwd_avx2(const float* d, const float* g, const float* u, float* og,
                                                                    float* ou, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 gv = _mm256_loadu_ps(g + i), dv = _mm256_loadu_ps(d + i);
    const __m256 sg = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, gv))));
    const __m256 t = _mm256_fmadd_ps(gv, _mm256_sub_ps(one, sg), one);
    _mm256_storeu_ps(og + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(dv, _mm256_loadu_ps(u + i)), sg), t));
    _mm256_storeu_ps(ou + i, _mm256_mul_ps(_mm256_mul_ps(dv, gv), sg));
  }
  for (; i < n; ++i) {
    const float sg = 1.0f / (1.0f + std::exp(-g[i]));
    og[i] = d[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
    ou[i] = d[i] * g[i] * sg;
  }
}

#else
inline constexpr bool kHasAvx2 = false;
#endif

/// RMSNorm forward over rows of x [n, h]: y = w * (x * rstd), rstd = 1/sqrt(mean(x²) + eps) (HF LlamaRMSNorm).
inline void rms_norm_fwd(const float* x, const float* w, float* y, float* rstd, int64_t n, int64_t h, double eps) {
  at::parallel_for(0, n, grain_for(h), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* xr = x + r * h;
      double ss = 0;
      for (int64_t i = 0; i < h; ++i) ss += double(xr[i]) * xr[i];
      const float rs = 1.0f / std::sqrt(float(ss / h) + float(eps));
      rstd[r] = rs;
      float* yr = y + r * h;
      for (int64_t i = 0; i < h; ++i) yr[i] = w[i] * (xr[i] * rs);
    }
  });
}

/// RMSNorm backward for the input: gx = rstd * (g*w) - x * rstd³ * mean((g*w) * x).
inline void rms_norm_bwd(const float* g, const float* x, const float* w, const float* rstd, float* gx, int64_t n,
                         int64_t h) {
  at::parallel_for(0, n, grain_for(h), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* gr = g + r * h;
      const float* xr = x + r * h;
      double dot = 0;
      for (int64_t i = 0; i < h; ++i) dot += double(gr[i]) * w[i] * xr[i];
      const float rs = rstd[r];
      const float c = float(dot / h) * rs * rs * rs;
      float* o = gx + r * h;
      for (int64_t i = 0; i < h; ++i) o[i] = rs * (gr[i] * w[i]) - xr[i] * c;
    }
  });
}

/// Shapes for the fused "split qkv + RoPE + to head-major" step.
struct RopeDims {
  int64_t b, t, nh, nkv, hd;
  int64_t cos_batch;  // 1 (shared positions) or b (per-row positions)
  float q_scale;      // 1/sqrt(head_dim) folded into q
};

/// qkv [b, t, (nh+2nkv)*hd] → q [b, nh, t, hd] (rotated, scaled), k [b, nkv, t, hd] (rotated), v [b, nkv, t, hd].
/// Rotation as HF apply_rotary_pos_emb: out = x*cos + rotate_half(x)*sin, cos/sin [cos_batch, t, hd].
inline void qkv_rope_fwd(const float* qkv, const float* cos, const float* sin, float* q, float* k, float* v,
                         const RopeDims& d) {
  const int64_t heads = d.nh + 2 * d.nkv, width = heads * d.hd, half = d.hd / 2;
  at::parallel_for(0, d.b * d.t, grain_for(width), [&](int64_t b0, int64_t e0) {
    for (int64_t row = b0; row < e0; ++row) {
      const int64_t bi = row / d.t, ti = row % d.t;
      const float* src = qkv + row * width;
      const int64_t crow = ((d.cos_batch == 1 ? 0 : bi) * d.t + ti) * d.hd;
      const float* c = cos + crow;
      const float* s = sin + crow;
      for (int64_t j = 0; j < heads; ++j) {
        const float* x = src + j * d.hd;
        if (j >= d.nh + d.nkv) {
          float* dst = v + ((bi * d.nkv + (j - d.nh - d.nkv)) * d.t + ti) * d.hd;
          for (int64_t i = 0; i < d.hd; ++i) dst[i] = x[i];
          continue;
        }
        const bool is_q = j < d.nh;
        float* dst = is_q ? q + ((bi * d.nh + j) * d.t + ti) * d.hd : k + ((bi * d.nkv + (j - d.nh)) * d.t + ti) * d.hd;
        const float sc = is_q ? d.q_scale : 1.0f;
        for (int64_t i = 0; i < half; ++i) {
          const float x1 = x[i], x2 = x[i + half];
          dst[i] = (x1 * c[i] - x2 * s[i]) * sc;
          dst[i + half] = (x2 * c[i + half] + x1 * s[i + half]) * sc;
        }
      }
    }
  });
}

/// Backward of qkv_rope_fwd: rotate the head-major grads back and interleave them into gqkv [b, t, width].
/// A null gq/gk/gv means that output got no gradient (zeros).
inline void qkv_rope_bwd(const float* gq, const float* gk, const float* gv, const float* cos, const float* sin,
                         float* gqkv, const RopeDims& d) {
  const int64_t heads = d.nh + 2 * d.nkv, width = heads * d.hd, half = d.hd / 2;
  at::parallel_for(0, d.b * d.t, grain_for(width), [&](int64_t b0, int64_t e0) {
    for (int64_t row = b0; row < e0; ++row) {
      const int64_t bi = row / d.t, ti = row % d.t;
      float* dst = gqkv + row * width;
      const int64_t crow = ((d.cos_batch == 1 ? 0 : bi) * d.t + ti) * d.hd;
      const float* c = cos + crow;
      const float* s = sin + crow;
      for (int64_t j = 0; j < heads; ++j) {
        float* o = dst + j * d.hd;
        if (j >= d.nh + d.nkv) {
          const float* g = gv ? gv + ((bi * d.nkv + (j - d.nh - d.nkv)) * d.t + ti) * d.hd : nullptr;
          for (int64_t i = 0; i < d.hd; ++i) o[i] = g ? g[i] : 0.0f;
          continue;
        }
        const bool is_q = j < d.nh;
        const float* g = is_q ? (gq ? gq + ((bi * d.nh + j) * d.t + ti) * d.hd : nullptr)
                              : (gk ? gk + ((bi * d.nkv + (j - d.nh)) * d.t + ti) * d.hd : nullptr);
        if (!g) {
          for (int64_t i = 0; i < d.hd; ++i) o[i] = 0.0f;
          continue;
        }
        const float sc = is_q ? d.q_scale : 1.0f;
        for (int64_t i = 0; i < half; ++i) {
          const float g1 = g[i] * sc, g2 = g[i + half] * sc;
          o[i] = g1 * c[i] + g2 * s[i + half];
          o[i + half] = g2 * c[i + half] - g1 * s[i];
        }
      }
    }
  });
}

/// SwiGLU on the fused gate|up GEMM output gu [n, 2i]: h = silu(gate) * up, h [n, i].
inline void swiglu_fwd(const float* gu, float* h, int64_t n, int64_t inter) {
  at::parallel_for(0, n, grain_for(inter), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* g = gu + r * 2 * inter;
      const float* u = g + inter;
      float* o = h + r * inter;
#if defined(__x86_64__)
      if (kHasAvx2) {
        row_swiglu_avx2(g, u, o, inter);
        continue;
      }
#endif
      for (int64_t i = 0; i < inter; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
    }
  });
}

/// SwiGLU backward: d gate = gh * up * σ(g) * (1 + g(1 − σ(g))), d up = gh * silu(g); into ggu [n, 2i].
inline void swiglu_bwd(const float* gh, const float* gu, float* ggu, int64_t n, int64_t inter) {
  at::parallel_for(0, n, grain_for(inter), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* g = gu + r * 2 * inter;
      const float* u = g + inter;
      const float* d = gh + r * inter;
      float* og = ggu + r * 2 * inter;
      float* ou = og + inter;
#if defined(__x86_64__)
      if (kHasAvx2) {
        row_swiglu_bwd_avx2(d, g, u, og, ou, inter);
        continue;
      }
#endif
      for (int64_t i = 0; i < inter; ++i) {
        const float sg = 1.0f / (1.0f + std::exp(-g[i]));
        og[i] = d[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
        ou[i] = d[i] * g[i] * sg;
      }
    }
  });
}

/// Where row r of a [.., v] tensor starts when only its last dim is contiguous: rows are grouped `inner`
/// at a time (the second-to-last dim), `outer` apart between groups and `step` apart inside one.
struct RowLayout {
  int64_t inner, outer, step;
  const float* row(const float* base, int64_t r) const { return base + (r / inner) * outer + (r % inner) * step; }
};

/// Per-row log-sum-exp and target log-prob for logits [n, v]: lp = l[target] − lse.
inline void token_logprobs_fwd(const float* logits, RowLayout rows, const int64_t* targets, float* lp, float* lse,
                               int64_t n, int64_t v) {
  at::parallel_for(0, n, grain_for(v), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* l = rows.row(logits, r);
      float z;
#if defined(__x86_64__)
      if (kHasAvx2) {
        const float m = row_max_avx2(l, v);
        z = m + std::log(row_sum_exp_avx2(l, v, m));
      } else
#endif
      {
        float m = -INFINITY;
        for (int64_t j = 0; j < v; ++j) m = std::max(m, l[j]);
        double s = 0;
        for (int64_t j = 0; j < v; ++j) s += std::exp(l[j] - m);
        z = m + float(std::log(s));
      }
      lse[r] = z;
      const int64_t t = targets[r];
      lp[r] = (t >= 0 && t < v) ? l[t] - z : 0.0f;
    }
  });
}

/// Backward of token_logprobs: d logits = g * (onehot(target) − softmax(logits)), one pass per row; gl is
/// contiguous [n, v].
inline void token_logprobs_bwd(const float* g, const float* logits, RowLayout rows, const int64_t* targets,
                               const float* lse, float* gl, int64_t n, int64_t v) {
  at::parallel_for(0, n, grain_for(v), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* l = rows.row(logits, r);
      float* o = gl + r * v;
      const float gr = g[r], z = lse[r];
#if defined(__x86_64__)
      if (kHasAvx2) row_neg_softmax_avx2(l, o, v, z, gr);
      else
#endif
        for (int64_t j = 0; j < v; ++j) o[j] = -gr * std::exp(l[j] - z);
      const int64_t t = targets[r];
      if (t >= 0 && t < v) o[t] += gr;
    }
  });
}

}  // namespace spark::kernels
