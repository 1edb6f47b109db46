// A Llama-3.x decoder (HF LlamaForCausalLM: RMSNorm, RoPE with llama3 scaling, grouped-query attention,
// SwiGLU, tied or untied embeddings) whose forward is one C++ call: the whole stack of layers runs here,
// so JS pays the per-call cost once per forward, not once per op. q/k/v and gate/up are stored fused
// (one GEMM each); LoRA adapters attach per HF sub-projection (q_proj, …) as slices of the fused output.
// Also the KV cache used by generation and the sampler. No N-API types here.
#pragma once
#include <torch/torch.h>
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

  Tensor lora_delta(const Tensor& x, const LoraPart& p, const LoraRun& run) const {
    auto xin = x.to(p.a.scalar_type());
    if (run.training && run.dropout > 0) xin = torch::dropout(xin, run.dropout, true);
    return torch::mm(torch::mm(xin, p.a.t()) * run.scale, p.b.t()).to(x.scalar_type());
  }

  /// x [n, in] → [n, out]; `residual` (optional, [n, out]) is added in the same GEMM (addmm's beta term).
  Tensor forward(const Tensor& x, const Tensor& residual, const LoraRun& run) const {
    Tensor acc = residual;
    if (run.on && !lora.empty()) {
      Tensor delta;
      if (lora.size() == 1 && lora[0].offset == 0 && lora[0].size == out) {
        delta = lora_delta(x, lora[0], run);
      } else {
        std::vector<Tensor> pieces;
        int64_t at = 0;
        for (const auto& p : lora) {  // parts are kept sorted by offset
          if (p.offset > at) pieces.push_back(torch::zeros({x.size(0), p.offset - at}, x.options()));
          pieces.push_back(lora_delta(x, p, run));
          at = p.offset + p.size;
        }
        if (at < out) pieces.push_back(torch::zeros({x.size(0), out - at}, x.options()));
        delta = torch::cat(pieces, 1);
      }
      acc = acc.defined() ? acc + delta : delta;
    }
    if (nf4) {
      auto y = Nf4MatmulFn::apply(x, *nf4);
      return acc.defined() ? y + acc : y;
    }
    return project(x, weight, acc);
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

class Llama {
 public:
  LlamaConfig cfg;
  torch::ScalarType dtype = torch::kFloat;
  torch::Device device = torch::kCPU;
  Tensor embed, norm, lm_head;  // lm_head undefined when tied
  std::vector<Layer> layers;
  double lora_scale = 1.0, lora_dropout = 0.0;

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
    const auto opts = torch::TensorOptions().dtype(dtype).device(device);
    const auto causal = torch::arange(s, ids.options()).unsqueeze(0) <=
                        (torch::arange(t, ids.options()) + past).unsqueeze(1);  // [t, s]
    if (cache ? cache->padded : keep.defined()) {
      const auto key_ok = cache ? cache->valid.narrow(1, 0, s) : keep;
      const auto allowed = key_ok.unsqueeze(1).logical_and(causal.unsqueeze(0));
      mask = torch::zeros({b, t, s}, opts).masked_fill_(allowed.logical_not(), mask_min(dtype)).view({b, 1, 1, t, s});
    } else if (t > 1) {
      mask = torch::zeros({t, s}, opts).masked_fill_(causal.logical_not(), mask_min(dtype)).view({1, 1, 1, t, s});
    }

    const LoraRun run{o.adapters, lora_scale, lora_dropout, o.training};
    const HeadDims hd{cfg.heads, cfg.kv_heads, cfg.head_dim};
    const double q_scale = 1.0 / std::sqrt(double(cfg.head_dim));
    const int64_t n = b * t, attn_width = cfg.heads * cfg.head_dim;
    auto x = torch::embedding(embed, ids).view({n, h});
    for (int64_t li = 0; li < cfg.layers; ++li) {
      const Layer& L = layers[li];
      const auto qkv = L.qkv.forward(rms_norm(x, L.attn_norm, cfg.rms_eps), Tensor(), run);
      auto [q, k, v] = qkv_rope(qkv.view({b, t, -1}), cos, sin, hd, q_scale);
      if (cache) {
        cache->k[li].narrow(2, past, t).copy_(k);
        cache->v[li].narrow(2, past, t).copy_(v);
        k = cache->k[li].narrow(2, 0, s);
        v = cache->v[li].narrow(2, 0, s);
      }
      const auto a = attention(q, k, v, mask).view({n, attn_width});
      x = L.o.forward(a, x, run);
      const auto gu = L.gate_up.forward(rms_norm(x, L.mlp_norm, cfg.rms_eps), Tensor(), run);
      x = L.down.forward(swiglu(gu), x, run);
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
