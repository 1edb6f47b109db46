// The fused pieces of a Llama-3 decoder block (HF transformers' modeling_llama.py is the reference):
// RMSNorm, split-qkv + RoPE, grouped-query attention, SwiGLU, and LoRA/NF4 linears. fp32 CPU tensors take
// the hand-written loops of kernels.h, and CUDA tensors the same maths as CUDA kernels (cuda/fused.cu, when
// built: fused_cuda.h), each with its own backward; other dtypes and devices take plain libtorch ops
// (autograd derives their backward). No N-API types here.
#pragma once
#include <torch/torch.h>
#include <torch/version.h>
#include <limits>
#include <optional>
#include "fused_cuda.h"
#include "kernels.h"
#include "nf4.h"

namespace spark {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

/// The optional type of libtorch's signatures: c10's own before libtorch 2.2, std::optional after (where
/// c10::optional is a deprecated alias due for removal).
#if (TORCH_VERSION_MAJOR > 2) || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 2)
template <class T>
using TorchOptional = std::optional<T>;
#else
template <class T>
using TorchOptional = c10::optional<T>;
#endif

inline bool fast_cpu(const Tensor& t) { return t.device().is_cpu() && t.scalar_type() == torch::kFloat; }

/// The fused Functions below run for fp32 CPU tensors (kernels.h) and, where built, CUDA ones (fused.cu).
inline bool fused(const Tensor& t) { return fast_cpu(t) || fused_cuda(t); }

// ---------------------------------------------------------------- RMSNorm

class RmsNormFn : public torch::autograd::Function<RmsNormFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& w, double eps) {
    const auto xc = x.contiguous(), wc = w.contiguous();
    const int64_t h = x.size(-1), n = x.numel() / h;
    auto y = torch::empty_like(xc);
    auto rstd = torch::empty({n}, xc.options().dtype(torch::kFloat));
    if (xc.is_cpu())
      kernels::rms_norm_fwd(xc.data_ptr<float>(), wc.data_ptr<float>(), y.data_ptr<float>(), rstd.data_ptr<float>(),
                            n, h, eps);
#ifdef SPARK_CUDA_KERNELS
    else
      cuda::rms_norm_fwd(xc.data_ptr(), wc.data_ptr(), y.data_ptr(), rstd.data_ptr<float>(), n, h, float(eps),
                         cuda_dtype(xc.scalar_type()), cuda_stream(xc));
#endif
    ctx->save_for_backward({xc, wc, rstd});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const auto &x = s[0], &w = s[1], &rstd = s[2];
    const auto g = grads[0].contiguous();
    const int64_t h = x.size(-1), n = x.numel() / h;
    Tensor gx, gw;
    if (ctx->needs_input_grad(0)) {
      gx = torch::empty_like(x);
      if (x.is_cpu())
        kernels::rms_norm_bwd(g.data_ptr<float>(), x.data_ptr<float>(), w.data_ptr<float>(), rstd.data_ptr<float>(),
                              gx.data_ptr<float>(), n, h);
#ifdef SPARK_CUDA_KERNELS
      else
        cuda::rms_norm_bwd(g.data_ptr(), x.data_ptr(), w.data_ptr(), rstd.data_ptr<float>(), gx.data_ptr(), n, h,
                           cuda_dtype(x.scalar_type()), cuda_stream(x));
#endif
    }
    if (ctx->needs_input_grad(1))
      gw = (g.view({n, h}).to(torch::kFloat) * x.view({n, h}).to(torch::kFloat) * rstd.unsqueeze(1)).sum(0).to(w.scalar_type());
    return {gx, gw, Tensor()};
  }
};

/// HF LlamaRMSNorm: w * (x_fp32 * rsqrt(mean(x²) + eps)).to(x.dtype).
inline Tensor rms_norm(const Tensor& x, const Tensor& w, double eps) {
  if (fused(x) && w.device() == x.device() && w.scalar_type() == x.scalar_type()) return RmsNormFn::apply(x, w, eps);
  const auto xf = x.to(torch::kFloat);
  const auto normed = xf * torch::rsqrt(xf.pow(2).mean(-1, true) + eps);
  return w * normed.to(x.scalar_type());
}

// ---------------------------------------------------------------- RoPE tables

/// inv_freq for RoPE, with Llama-3 `rope_scaling` (HF `_compute_llama3_parameters`) when factor > 0.
struct RopeScaling {
  double factor = 0, low_freq_factor = 1, high_freq_factor = 4, original_max_position = 8192;
};

inline Tensor rope_inv_freq(int64_t head_dim, double theta, const RopeScaling& sc) {
  const auto exps = torch::arange(0, head_dim, 2, torch::kLong).to(torch::kFloat) / double(head_dim);
  auto inv = 1.0 / torch::pow(theta, exps);
  if (sc.factor <= 0) return inv;
  const double low_wl = sc.original_max_position / sc.low_freq_factor;
  const double high_wl = sc.original_max_position / sc.high_freq_factor;
  const auto wavelen = 2 * M_PI / inv;
  auto llama = torch::where(wavelen > low_wl, inv / sc.factor, inv);
  const auto smooth = (sc.original_max_position / wavelen - sc.low_freq_factor) /
                      (sc.high_freq_factor - sc.low_freq_factor);
  const auto smoothed = (1 - smooth) * llama / sc.factor + smooth * llama;
  const auto medium = (wavelen >= high_wl).logical_and(wavelen <= low_wl);
  return torch::where(medium, smoothed, llama);
}

// ---------------------------------------------------------------- split qkv + RoPE

struct HeadDims {
  int64_t nh, nkv, hd;
};

inline Tensor rotate_half(const Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

class QkvRopeFn : public torch::autograd::Function<QkvRopeFn> {
#ifdef SPARK_CUDA_KERNELS
  static cuda::RopeDims cuda_dims(const kernels::RopeDims& d) { return {d.b, d.t, d.nh, d.nkv, d.hd, d.cos_batch, d.q_scale}; }
#endif

 public:
  static variable_list forward(AutogradContext* ctx, const Tensor& qkv, const Tensor& cos, const Tensor& sin,
                               HeadDims h, double q_scale) {
    const auto x = qkv.contiguous();
    const kernels::RopeDims d{x.size(0), x.size(1), h.nh, h.nkv, h.hd, cos.size(0), float(q_scale)};
    auto q = torch::empty({d.b, h.nh, d.t, h.hd}, x.options());
    auto k = torch::empty({d.b, h.nkv, d.t, h.hd}, x.options());
    auto v = torch::empty({d.b, h.nkv, d.t, h.hd}, x.options());
    if (x.is_cpu())
      kernels::qkv_rope_fwd(x.data_ptr<float>(), cos.data_ptr<float>(), sin.data_ptr<float>(), q.data_ptr<float>(),
                            k.data_ptr<float>(), v.data_ptr<float>(), d);
#ifdef SPARK_CUDA_KERNELS
    else
      cuda::qkv_rope_fwd(x.data_ptr(), cos.data_ptr(), sin.data_ptr(), q.data_ptr(), k.data_ptr(), v.data_ptr(),
                         cuda_dims(d), cuda_dtype(x.scalar_type()), cuda_stream(x));
#endif
    ctx->save_for_backward({cos, sin});
    ctx->saved_data["dims"] = std::vector<int64_t>{d.b, d.t, h.nh, h.nkv, h.hd};
    ctx->saved_data["scale"] = q_scale;
    return {q, k, v};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const auto dv = ctx->saved_data["dims"].toIntVector();
    const kernels::RopeDims d{dv[0], dv[1], dv[2], dv[3], dv[4], s[0].size(0), float(ctx->saved_data["scale"].toDouble())};
    auto gqkv = torch::empty({d.b, d.t, (d.nh + 2 * d.nkv) * d.hd}, s[0].options());
    const auto ptr = [](const Tensor& g, Tensor& keep) -> const void* {
      if (!g.defined()) return nullptr;
      keep = g.contiguous();
      return keep.data_ptr();
    };
    Tensor k0, k1, k2;
    const void *gq = ptr(grads[0], k0), *gk = ptr(grads[1], k1), *gv = ptr(grads[2], k2);
    if (gqkv.is_cpu())
      kernels::qkv_rope_bwd(static_cast<const float*>(gq), static_cast<const float*>(gk), static_cast<const float*>(gv),
                            s[0].data_ptr<float>(), s[1].data_ptr<float>(), gqkv.data_ptr<float>(), d);
#ifdef SPARK_CUDA_KERNELS
    else
      cuda::qkv_rope_bwd(gq, gk, gv, s[0].data_ptr(), s[1].data_ptr(), gqkv.data_ptr(), cuda_dims(d),
                         cuda_dtype(gqkv.scalar_type()), cuda_stream(gqkv));
#endif
    return {gqkv, Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

/// qkv [b, t, (nh+2nkv)·hd] → {q·scale [b,nh,t,hd], k [b,nkv,t,hd], v [b,nkv,t,hd]}, RoPE applied to q and k.
/// cos/sin: [1 or b, t, hd] in qkv's dtype.
inline std::array<Tensor, 3> qkv_rope(const Tensor& qkv, const Tensor& cos, const Tensor& sin, HeadDims h,
                                      double q_scale) {
  if (fused(qkv) && cos.scalar_type() == qkv.scalar_type() && sin.scalar_type() == qkv.scalar_type()) {
    const auto out = QkvRopeFn::apply(qkv, cos.contiguous(), sin.contiguous(), h, q_scale);
    return {out[0], out[1], out[2]};
  }
  const int64_t b = qkv.size(0), t = qkv.size(1);
  const auto heads = qkv.view({b, t, h.nh + 2 * h.nkv, h.hd}).transpose(1, 2);
  const auto c = cos.unsqueeze(1), s = sin.unsqueeze(1);
  const auto q = heads.narrow(1, 0, h.nh), k = heads.narrow(1, h.nh, h.nkv);
  return {((q * c + rotate_half(q) * s) * q_scale).contiguous(), (k * c + rotate_half(k) * s).contiguous(),
          heads.narrow(1, h.nh + h.nkv, h.nkv).contiguous()};
}

// ---------------------------------------------------------------- attention

/// The additive mask value for a blocked position: the dtype's lowest finite value (as HF), so a row whose
/// keys are all blocked (left padding) gives a uniform softmax instead of NaN.
inline double mask_min(torch::ScalarType t) {
  return t == torch::kBFloat16 ? -3.3895313892515355e38
                               : (t == torch::kHalf ? -65504.0 : double(std::numeric_limits<float>::lowest()));
}

/// Whether attention() can run libtorch's fused scaled_dot_product_attention (libtorch >= 2.1) on GPUs:
/// then a purely causal mask is passed as `causal` instead of being materialised.
#if (TORCH_VERSION_MAJOR > 2) || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define SPARK_HAS_SDPA 1
#endif
#if (TORCH_VERSION_MAJOR > 2) || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
#define SPARK_HAS_SDPA_GQA 1
#endif

/// Grouped-query attention. q [b, nh, t, hd] (already scaled), k/v [b, nkv, s, hd], mask additive
/// [b or 1, 1, 1, t, s] or undefined (= every key visible, or causal when `causal`; `causal` is only
/// set on GPUs with SPARK_HAS_SDPA, with t == s). Returns [b, t, nh·hd].
inline Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool causal = false) {
  const int64_t b = q.size(0), nh = q.size(1), t = q.size(2), hd = q.size(3), nkv = k.size(1), s = k.size(2);
  const int64_t g = nh / nkv;
#ifdef SPARK_HAS_SDPA
  if (!q.device().is_cpu()) {
    // The flash kernel takes no mask but does causal itself; with GQA (libtorch >= 2.5, 16-bit dtypes)
    // it also reads each kv head once for its g query heads, where expanding k/v would copy them g times
    // (the whole KV cache, at every decoding step). Otherwise k/v are expanded to nh heads.
    TorchOptional<Tensor> m;
    if (mask.defined()) m = mask.view({mask.size(0), 1, t, s});
#ifdef SPARK_HAS_SDPA_GQA
    if (!mask.defined() && q.scalar_type() != torch::kFloat) {
      auto out = at::scaled_dot_product_attention(q, k, v, m, 0.0, causal, TorchOptional<double>(1.0), /*enable_gqa=*/g > 1);
      return out.transpose(1, 2).reshape({b, t, nh * hd});
    }
#endif
    const auto ke = g == 1 ? k : k.unsqueeze(2).expand({b, nkv, g, s, hd}).reshape({b, nh, s, hd});
    const auto ve = g == 1 ? v : v.unsqueeze(2).expand({b, nkv, g, s, hd}).reshape({b, nh, s, hd});
    auto out = at::scaled_dot_product_attention(q, ke, ve, m, 0.0, causal, TorchOptional<double>(1.0));
    return out.transpose(1, 2).reshape({b, t, nh * hd});
  }
#endif
  TORCH_CHECK(!causal, "attention: causal without a mask needs libtorch's fused attention on a GPU");
  // Query heads sharing a kv head are stacked along rows, so k/v are never copied per head.
  auto scores = torch::matmul(q.reshape({b, nkv, g * t, hd}), k.transpose(-1, -2));
  if (mask.defined()) scores.view({b, nkv, g, t, s}).add_(mask);
  const auto probs = torch::softmax(scores, -1, torch::kFloat).to(q.scalar_type());
  return torch::matmul(probs, v).view({b, nh, t, hd}).transpose(1, 2).reshape({b, t, nh * hd});
}

// ---------------------------------------------------------------- SwiGLU

class SwigluFn : public torch::autograd::Function<SwigluFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& gu) {
    const auto x = gu.contiguous();
    const int64_t inter = x.size(-1) / 2, n = x.numel() / x.size(-1);
    auto sizes = x.sizes().vec();
    sizes.back() = inter;
    auto h = torch::empty(sizes, x.options());
    if (x.is_cpu()) kernels::swiglu_fwd(x.data_ptr<float>(), h.data_ptr<float>(), n, inter);
#ifdef SPARK_CUDA_KERNELS
    else cuda::swiglu_fwd(x.data_ptr(), h.data_ptr(), n, inter, cuda_dtype(x.scalar_type()), cuda_stream(x));
#endif
    ctx->save_for_backward({x});
    return h;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto x = ctx->get_saved_variables()[0];
    const auto g = grads[0].contiguous();
    const int64_t inter = x.size(-1) / 2, n = x.numel() / x.size(-1);
    auto gx = torch::empty_like(x);
    if (x.is_cpu()) kernels::swiglu_bwd(g.data_ptr<float>(), x.data_ptr<float>(), gx.data_ptr<float>(), n, inter);
#ifdef SPARK_CUDA_KERNELS
    else cuda::swiglu_bwd(g.data_ptr(), x.data_ptr(), gx.data_ptr(), n, inter, cuda_dtype(x.scalar_type()), cuda_stream(x));
#endif
    return {gx};
  }
};

/// silu(gate) * up over the fused gate|up projection [.., 2·inter] → [.., inter].
inline Tensor swiglu(const Tensor& gu) {
  if (fused(gu)) return SwigluFn::apply(gu);
  const int64_t inter = gu.size(-1) / 2;
  return torch::silu(gu.narrow(-1, 0, inter)) * gu.narrow(-1, inter, inter);
}

// ---------------------------------------------------------------- log-probs of chosen tokens

class TokenLogprobsFn : public torch::autograd::Function<TokenLogprobsFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& logits, const Tensor& targets) {
    // Rows may be strided (e.g. logits.narrow(1, ..) of [b, t, v]): read in place instead of copying.
    const auto l = (logits.stride(-1) == 1 && logits.dim() <= 3) ? logits : logits.contiguous();
    const auto t = targets.contiguous();
    const int64_t v = l.size(-1), n = l.numel() / v;
    auto lp = torch::empty(t.sizes(), l.options());
    auto lse = torch::empty({n}, l.options());
    kernels::token_logprobs_fwd(l.data_ptr<float>(), layout(l), t.data_ptr<int64_t>(), lp.data_ptr<float>(),
                                lse.data_ptr<float>(), n, v);
    ctx->save_for_backward({l, t, lse});
    return lp;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto s = ctx->get_saved_variables();
    const auto g = grads[0].contiguous();
    const int64_t v = s[0].size(-1), n = s[0].numel() / v;
    auto gl = torch::empty(s[0].sizes(), s[0].options().memory_format(torch::MemoryFormat::Contiguous));
    kernels::token_logprobs_bwd(g.data_ptr<float>(), s[0].data_ptr<float>(), layout(s[0]), s[1].data_ptr<int64_t>(),
                                s[2].data_ptr<float>(), gl.data_ptr<float>(), n, v);
    return {gl, Tensor()};
  }

 private:
  static kernels::RowLayout layout(const Tensor& l) {
    if (l.dim() == 3) return {l.size(1), l.stride(0), l.stride(1)};
    const int64_t rows = l.dim() == 2 ? l.size(0) : 1;
    return {rows, 0, l.dim() == 2 ? l.stride(0) : 0};
  }
};

/// log softmax(logits)[target] for logits [.., v] and targets [..] (int64); fp32 result.
inline Tensor token_logprobs(const Tensor& logits, const Tensor& targets) {
  TORCH_CHECK(targets.scalar_type() == torch::kLong, "token_logprobs: targets must be int64, got ",
              targets.scalar_type());
  TORCH_CHECK(logits.dim() == targets.dim() + 1 && logits.sizes().slice(0, targets.dim()) == targets.sizes(),
              "token_logprobs: logits ", logits.sizes(), " do not match targets ", targets.sizes());
  if (fast_cpu(logits)) return TokenLogprobsFn::apply(logits, targets);
  return torch::log_softmax(logits.to(torch::kFloat), -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1);
}

}  // namespace spark
