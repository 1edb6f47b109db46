// A Llama-3.x decoder (HF LlamaForCausalLM: RMSNorm, RoPE with llama3 scaling, grouped-query attention,
// SwiGLU, tied or untied embeddings) whose forward is one C++ call: the whole stack of layers runs here,
// so JS pays the per-call cost once per forward, not once per op. q/k/v and gate/up are stored fused
// (one GEMM each); LoRA adapters attach per HF sub-projection (q_proj, …) as slices of the fused output.
// Also the KV cache used by generation and the sampler. No N-API types here.
#pragma once
#include <torch/torch.h>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include "blocks.h"
#include "nf4.h"

namespace spark {

struct LlamaConfig {
  int64_t hidden = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0, intermediate = 0, vocab = 0;
  double rms_eps = 1e-5, rope_theta = 500000.0;
  RopeScaling rope_scaling;
  bool tie_embeddings = false;
};

/// One LoRA adapter on rows [offset, offset+size) of a fused projection: Δ = (dropout(x) Aᵀ) · scale · Bᵀ.
struct LoraPart {
  int64_t offset = 0, size = 0;
  Tensor a;  // [rank, in]
  Tensor b;  // [size, rank]
};

/// What LoRA does in one forward call.
struct LoraRun {
  bool on = false;
  double scale = 1.0, dropout = 0.0;
  bool training = false;
};

/// x [n, in] · wᵀ (+ acc [n, out], added by GEMM's beta term). One row (batch-1 decoding) goes to GEMV,
/// which streams w once, where GEMM would first repack all of w for that row (3–5× slower on OpenBLAS).
inline Tensor project(const Tensor& x, const Tensor& w, const Tensor& acc) {
  const int64_t out = w.size(0);
  if (x.size(0) == 1) {
    const auto xv = x.view({-1});
    return (acc.defined() ? torch::addmv(acc.view({-1}), w, xv) : torch::mv(w, xv)).view({1, out});
  }
  return acc.defined() ? torch::addmm(acc, x, w.t()) : torch::mm(x, w.t());
}

/// A frozen projection: dense or NF4 weight [out, in], plus LoRA parts.
struct Linear {
  Tensor weight;
  std::optional<Nf4Tensor> nf4;
  std::vector<LoraPart> lora;
  int64_t out = 0, in = 0;

  Tensor dense() const { return weight.defined() ? weight : nf4_dequantize(*nf4); }

  int64_t nbytes() const { return weight.defined() ? weight.nbytes() : (nf4 ? nf4->nbytes() : 0); }

  /// x [n, in] → [n, out]; `residual` (optional, [n, out]) is added in the base GEMM (addmm's beta term).
  /// LoRA parts then add (dropout(x) Aᵀ) · scale · Bᵀ into their rows of that output in place, each as the
  /// beta term of one more GEMM: the [n, out] update is never materialised, where a GEMM per part plus a
  /// cat and an add would write it three times. Without dropout the parts' down-projections are one GEMM
  /// (x read once); with it each part draws its own mask, as PEFT's per-module dropout. The adapter runs in
  /// the activations' dtype: A and B (fp32 master weights) are cast down, which is cheap ([r, in] and
  /// [out, r]) and differentiable, instead of casting x up — an fp32 copy of every adapter input, kept
  /// alive for the backward (over 1 GB per layer of an 8B model at 8 × 1024 tokens).
  Tensor forward(const Tensor& x, const Tensor& residual, const LoraRun& run) const {
    Tensor y;
    if (nf4) {
      y = Nf4MatmulFn::apply(x, *nf4);
      if (residual.defined()) y.add_(residual);
    } else {
      y = project(x, weight, residual);
    }
    if (!run.on || lora.empty()) return y;
    const auto dt = x.scalar_type();
    const bool drop = run.training && run.dropout > 0;
    Tensor joint;  // [n, Σr]: every part's down-projection at once (no dropout, several parts)
    if (!drop && lora.size() > 1) {
      std::vector<Tensor> as;
      for (const auto& p : lora) as.push_back(p.a.to(dt));
      joint = torch::mm(x, torch::cat(as, 0).t()) * run.scale;
    }
    int64_t col = 0;
    for (const auto& p : lora) {
      const int64_t r = p.a.size(0);
      const auto down = joint.defined()
                            ? joint.narrow(1, col, r)
                            : torch::mm(drop ? torch::dropout(x, run.dropout, true) : x, p.a.to(dt).t()) * run.scale;
      col += r;
      auto rows = (p.offset == 0 && p.size == out) ? y : y.narrow(1, p.offset, p.size);
      rows.addmm_(down, p.b.to(dt).t());
    }
    return y;
  }
};

struct Layer {
  Tensor attn_norm, mlp_norm;
  Linear qkv, o, gate_up, down;
};

/// Preallocated keys/values [batch, kv_heads, capacity, head_dim] per layer, plus which slots hold real
/// tokens (left padding) and each row's next RoPE position.
struct KvCache {
  std::vector<Tensor> k, v;
  Tensor valid;     // bool [batch, capacity]
  Tensor next_pos;  // int64 [batch]
  int64_t len = 0, capacity = 0, batch = 0;
  bool padded = false;  // some slot is padding: attention needs the key mask

  int64_t nbytes() const {
    int64_t n = 0;
    for (const auto& t : k) n += t.nbytes();
    return 2 * n;
  }
};

struct ForwardOpts {
  Tensor attention_mask;  // [batch, t] 1 = token, 0 = padding; undefined = all tokens
  bool adapters = true, training = false, want_hidden = false;
  int64_t logits_to_keep = 0;  // only the last N positions get logits (HF's logits_to_keep); 0 = all
};

struct ForwardOut {
  Tensor logits;  // fp32 [batch, t or logits_to_keep, vocab]
  Tensor hidden;  // final-normed hidden states [batch, t or logits_to_keep, hidden] when asked
};

struct SampleOpts {
  double temperature = 1.0;  // 0 = greedy
  int64_t top_k = 0;         // 0 = off
  double top_p = 1.0;        // 1 = off
};

/// What every decoder block of one forward call shares.
struct BlockInputs {
  Tensor cos, sin;   // RoPE [1 or b, t, head_dim] in the compute dtype
  Tensor mask;       // additive [b or 1, 1, 1, t, s], or undefined
  bool causal = false;  // no mask, causal (fused attention on GPU; see attention())
  LoraRun run;
  HeadDims hd;
  double q_scale = 1;
  double rms_eps = 1e-5;
  int64_t b = 0, t = 0, past = 0;
};

/// One decoder block: x [b·t, hidden] → x + attn, then + MLP (residuals added by the GEMMs' beta term).
inline Tensor decoder_block(const Layer& L, const Tensor& x_in, const BlockInputs& in, KvCache* cache, int64_t li) {
  const int64_t n = in.b * in.t, attn_width = in.hd.nh * in.hd.hd, s = in.past + in.t;
  const auto qkv = L.qkv.forward(rms_norm(x_in, L.attn_norm, in.rms_eps), Tensor(), in.run);
  auto [q, k, v] = qkv_rope(qkv.view({in.b, in.t, -1}), in.cos, in.sin, in.hd, in.q_scale);
  if (cache) {
    cache->k[li].narrow(2, in.past, in.t).copy_(k);
    cache->v[li].narrow(2, in.past, in.t).copy_(v);
    k = cache->k[li].narrow(2, 0, s);
    v = cache->v[li].narrow(2, 0, s);
  }
  const auto a = attention(q, k, v, in.mask, in.causal).view({n, attn_width});
  auto x = L.o.forward(a, x_in, in.run);
  const auto gu = L.gate_up.forward(rms_norm(x, L.mlp_norm, in.rms_eps), Tensor(), in.run);
  return L.down.forward(swiglu(gu), x, in.run);
}

/// A block to run again in the backward pass, with the random-number state its forward started from
/// (LoRA dropout must draw the same masks).
struct BlockRecompute : torch::CustomClassHolder {
  std::function<Tensor(const Tensor&)> fn;
  std::vector<Tensor> params;  // the block's trainable tensors (LoRA A/B)
  std::optional<at::Generator> gen;
  Tensor rng_state;
};

/// Activation checkpointing (Chen et al. 2016, arXiv 1604.06174; torch.utils.checkpoint): the forward
/// keeps only the block's input; the backward runs the block again with autograd on and differentiates
/// that. Peak memory then holds one block's activations instead of every block's, for one more forward.
/// The block's LoRA tensors are inputs of this node, so their gradients flow through it.
class CheckpointFn : public torch::autograd::Function<CheckpointFn> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& x, at::TensorList params, c10::intrusive_ptr<BlockRecompute> rc) {
    if (rc->gen) {
      std::lock_guard<std::mutex> lock(rc->gen->mutex());
      rc->rng_state = rc->gen->get_state();
    }
    ctx->save_for_backward({x});
    auto y = rc->fn(x);
    ctx->saved_data["recompute"] = c10::IValue::make_capsule(std::move(rc));
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto rc = c10::static_intrusive_pointer_cast<BlockRecompute>(ctx->saved_data["recompute"].toCapsule());
    const bool want_x = ctx->needs_input_grad(0);
    const auto x = ctx->get_saved_variables()[0].detach().requires_grad_(want_x);
    Tensor y;
    {
      torch::AutoGradMode grad_on(true);
      Tensor resume;  // the generator's state now, put back after the replay
      if (rc->gen) {
        std::lock_guard<std::mutex> lock(rc->gen->mutex());
        resume = rc->gen->get_state();
        rc->gen->set_state(rc->rng_state);
      }
      y = rc->fn(x);
      if (rc->gen) {
        std::lock_guard<std::mutex> lock(rc->gen->mutex());
        rc->gen->set_state(resume);
      }
    }
    std::vector<Tensor> inputs;
    if (want_x) inputs.push_back(x);
    for (size_t i = 0; i < rc->params.size(); ++i)
      if (ctx->needs_input_grad(1 + i)) inputs.push_back(rc->params[i]);
    variable_list out(rc->params.size() + 2);  // x, params..., the recompute handle
    if (inputs.empty()) return out;
    const auto g = torch::autograd::grad({y}, inputs, {grads[0]}, /*retain_graph=*/false, /*create_graph=*/false,
                                         /*allow_unused=*/true);
    size_t at = 0;
    if (want_x) out[0] = g[at++];
    for (size_t i = 0; i < rc->params.size(); ++i)
      if (ctx->needs_input_grad(1 + i)) out[1 + i] = g[at++];
    return out;
  }
};

class Llama {
 public:
  LlamaConfig cfg;
  torch::ScalarType dtype = torch::kFloat;
  torch::Device device = torch::kCPU;
  Tensor embed, norm, lm_head;  // lm_head undefined when tied
  std::vector<Layer> layers;
  double lora_scale = 1.0, lora_dropout = 0.0;
  /// Activation checkpointing per decoder block in forwards that record autograd (see CheckpointFn).
  bool checkpointing = false;

  Llama(LlamaConfig c, torch::ScalarType dt, torch::Device dev) : cfg(c), dtype(dt), device(dev) {
    TORCH_CHECK(c.heads > 0 && c.kv_heads > 0 && c.heads % c.kv_heads == 0, "num_attention_heads (", c.heads,
                ") must be a multiple of num_key_value_heads (", c.kv_heads, ")");
    TORCH_CHECK(c.head_dim % 2 == 0, "head_dim must be even for RoPE, got ", c.head_dim);
    layers.resize(c.layers);
  }

  Tensor head() const { return lm_head.defined() ? lm_head : embed; }

  /// Bytes held by the base weights (dense or NF4; LoRA parameters not included).
  int64_t nbytes() const {
    const auto b = [](const Tensor& t) -> int64_t { return t.defined() ? t.nbytes() : 0; };
    int64_t n = b(embed) + b(norm) + b(lm_head);
    for (const auto& l : layers)
      n += b(l.attn_norm) + b(l.mlp_norm) + l.qkv.nbytes() + l.o.nbytes() + l.gate_up.nbytes() + l.down.nbytes();
    return n;
  }

  KvCache make_cache(int64_t batch, int64_t capacity) const {
    KvCache c;
    c.batch = batch;
    c.capacity = capacity;
    const auto opts = torch::TensorOptions().dtype(dtype).device(device);
    for (int64_t i = 0; i < cfg.layers; ++i) {
      c.k.push_back(torch::zeros({batch, cfg.kv_heads, capacity, cfg.head_dim}, opts));
      c.v.push_back(torch::zeros({batch, cfg.kv_heads, capacity, cfg.head_dim}, opts));
    }
    c.valid = torch::zeros({batch, capacity}, opts.dtype(torch::kBool));
    c.next_pos = torch::zeros({batch}, opts.dtype(torch::kLong));
    return c;
  }

  ForwardOut forward(const Tensor& ids_in, const ForwardOpts& o, KvCache* cache = nullptr) {
    TORCH_CHECK(ids_in.dim() == 2, "input ids must be [batch, seq], got ", ids_in.sizes());
    TORCH_CHECK(ids_in.scalar_type() == torch::kLong, "input ids must be int64, got ", ids_in.scalar_type());
    TORCH_CHECK(embed.defined() && norm.defined(), "model weights are not loaded");
    const auto ids = ids_in.to(device);
    const int64_t b = ids.size(0), t = ids.size(1), h = cfg.hidden;
    TORCH_CHECK(t > 0, "input ids are empty");
    const int64_t past = cache ? cache->len : 0, s = past + t;
    Tensor keep;  // bool [b, t]
    if (o.attention_mask.defined()) {
      TORCH_CHECK(o.attention_mask.sizes() == ids.sizes(), "attention mask ", o.attention_mask.sizes(),
                  " must match input ids ", ids.sizes());
      keep = o.attention_mask.to(device).to(torch::kBool);
    }
    if (cache) {
      TORCH_CHECK(cache->batch == b, "KV cache holds batch ", cache->batch, ", input has ", b);
      TORCH_CHECK(s <= cache->capacity, "KV cache full: ", past, " + ", t, " tokens > capacity ", cache->capacity);
    }

    // RoPE positions: shared [past, s) when no row has padding, else per row from the mask.
    Tensor pos;
    const bool per_row = keep.defined() || (cache && cache->padded);
    if (per_row) {
      const auto inc = keep.defined() ? keep.to(torch::kLong).cumsum(1)
                                      : torch::arange(1, t + 1, ids.options()).expand({b, t});
      const auto base = cache ? cache->next_pos.unsqueeze(1) : torch::zeros({b, 1}, ids.options());
      pos = (base + inc - 1).clamp_min(0);
      if (cache) cache->next_pos.add_(inc.select(1, t - 1));
    } else if (cache) {
      cache->next_pos.add_(t);
    }
    const auto [cos_table, sin_table] = rope_tables(s);
    Tensor cos, sin;
    if (pos.defined()) {
      cos = cos_table.index_select(0, pos.view({-1})).view({b, t, cfg.head_dim}).to(dtype);
      sin = sin_table.index_select(0, pos.view({-1})).view({b, t, cfg.head_dim}).to(dtype);
    } else {
      cos = cos_table.narrow(0, past, t).unsqueeze(0).to(dtype);
      sin = sin_table.narrow(0, past, t).unsqueeze(0).to(dtype);
    }

    // Additive attention mask [b|1, 1, 1, t, s]: causal, plus padded keys when any.
    if (cache) {
      if (keep.defined()) cache->valid.narrow(1, past, t).copy_(keep);
      else cache->valid.narrow(1, past, t).fill_(true);
      if (keep.defined() && !keep.all().item<bool>()) cache->padded = true;
    }
    Tensor mask;
    bool causal_only = false;
    const auto opts = torch::TensorOptions().dtype(dtype).device(device);
    const bool padded = cache ? cache->padded : keep.defined();
#ifdef SPARK_HAS_SDPA
    // No padding and no earlier tokens: the fused GPU attention applies the causal mask itself.
    causal_only = !padded && t > 1 && past == 0 && !device.is_cpu();
#endif
    if (!causal_only && (padded || t > 1)) {
      const auto causal = torch::arange(s, ids.options()).unsqueeze(0) <=
                          (torch::arange(t, ids.options()) + past).unsqueeze(1);  // [t, s]
      if (padded) {
        const auto key_ok = cache ? cache->valid.narrow(1, 0, s) : keep;
        const auto allowed = key_ok.unsqueeze(1).logical_and(causal.unsqueeze(0));
        mask = torch::zeros({b, t, s}, opts).masked_fill_(allowed.logical_not(), mask_min(dtype)).view({b, 1, 1, t, s});
      } else {
        mask = torch::zeros({t, s}, opts).masked_fill_(causal.logical_not(), mask_min(dtype)).view({1, 1, 1, t, s});
      }
    }

    BlockInputs in;
    in.cos = cos;
    in.sin = sin;
    in.mask = mask;
    in.causal = causal_only;
    in.run = LoraRun{o.adapters, lora_scale, lora_dropout, o.training};
    in.hd = HeadDims{cfg.heads, cfg.kv_heads, cfg.head_dim};
    in.q_scale = 1.0 / std::sqrt(double(cfg.head_dim));
    in.rms_eps = cfg.rms_eps;
    in.b = b;
    in.t = t;
    in.past = past;
    const bool checkpoint = checkpointing && !cache && torch::GradMode::is_enabled();
    auto x = torch::embedding(embed, ids).view({b * t, h});
    for (int64_t li = 0; li < cfg.layers; ++li) {
      x = checkpoint ? checkpointed_block(li, x, in) : decoder_block(layers[li], x, in, cache, li);
    }
    if (cache) cache->len = s;
    auto hs = rms_norm(x, norm, cfg.rms_eps).view({b, t, h});
    if (o.logits_to_keep > 0 && o.logits_to_keep < t) hs = hs.narrow(1, t - o.logits_to_keep, o.logits_to_keep);
    const int64_t tout = hs.size(1);
    ForwardOut out;
    out.logits = project(hs.reshape({b * tout, h}), head(), Tensor()).view({b, tout, cfg.vocab}).to(torch::kFloat);
    if (o.want_hidden) out.hidden = hs;
    return out;
  }

  /// Next tokens from the last position's logits [b, vocab]: greedy when temperature is 0, else
  /// temperature → top-k → top-p (nucleus) sampling. The log-prob returned for each token is under the
  /// model's own distribution (softmax of the raw logits), the one PPO's behaviour log-probs need.
  static std::pair<Tensor, Tensor> sample(const Tensor& logits, const SampleOpts& o) {
    const auto lp_all = torch::log_softmax(logits, -1);
    Tensor tok;
    if (o.temperature <= 0) {
      tok = logits.argmax(-1);
    } else {
      auto l = logits / o.temperature;
      const int64_t v = l.size(-1);
      if (o.top_k > 0 && o.top_k < v) {
        const auto kth = std::get<0>(l.topk(o.top_k, -1)).narrow(-1, o.top_k - 1, 1);
        l = l.masked_fill(l < kth, -INFINITY);
      }
      if (o.top_p < 1.0) {
        auto [sorted, idx] = l.sort(-1, true);
        const auto probs = torch::softmax(sorted, -1);
        const auto drop = (probs.cumsum(-1) - probs) > o.top_p;  // keeps the smallest prefix reaching top_p
        l = torch::full_like(l, -INFINITY).scatter(-1, idx, sorted.masked_fill(drop, -INFINITY));
      }
      tok = torch::multinomial(torch::softmax(l, -1), 1).squeeze(-1);
    }
    return {tok, lp_all.gather(-1, tok.unsqueeze(-1)).squeeze(-1)};
  }

 private:
  /// decoder_block under CheckpointFn. The recompute closure holds a copy of the layer (shared tensors),
  /// not the model, so a graph outliving the model's handle stays valid.
  Tensor checkpointed_block(int64_t li, const Tensor& x, const BlockInputs& in) const {
    auto rc = c10::make_intrusive<BlockRecompute>();
    const Layer& L = layers[li];
    if (in.run.on)
      for (const Linear* lin : {&L.qkv, &L.o, &L.gate_up, &L.down})
        for (const auto& p : lin->lora)
          for (const auto& w : {p.a, p.b})
            if (w.requires_grad()) rc->params.push_back(w);
    if (rc->params.empty() && !x.requires_grad()) return decoder_block(L, x, in, nullptr, li);
    if (in.run.on && in.run.training && in.run.dropout > 0) rc->gen = at::globalContext().defaultGenerator(device);
    rc->fn = [L, in, li](const Tensor& xi) { return decoder_block(L, xi, in, nullptr, li); };
    const std::vector<Tensor> params = rc->params;
    return CheckpointFn::apply(x, at::TensorList(params), std::move(rc));
  }

  std::mutex rope_mu_;
  Tensor cos_table_, sin_table_;  // fp32 [positions, head_dim]

  /// cos/sin of every position below `positions` (grown by doubling; shared by concurrent calls).
  std::pair<Tensor, Tensor> rope_tables(int64_t positions) {
    std::lock_guard<std::mutex> lock(rope_mu_);
    if (cos_table_.defined() && cos_table_.size(0) >= positions) return {cos_table_, sin_table_};
    const int64_t n = std::max<int64_t>(positions, std::max<int64_t>(256, cos_table_.defined() ? 2 * cos_table_.size(0) : 0));
    torch::NoGradGuard no_grad;
    const auto inv = rope_inv_freq(cfg.head_dim, cfg.rope_theta, cfg.rope_scaling);
    const auto freqs = torch::outer(torch::arange(n, torch::kLong).to(torch::kFloat), inv);
    const auto emb = torch::cat({freqs, freqs}, -1);
    cos_table_ = emb.cos().to(device);
    sin_table_ = emb.sin().to(device);
    return {cos_table_, sin_table_};
  }
};

}  // namespace spark
