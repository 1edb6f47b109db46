// The Llama model handle (weights, LoRA parts, forward) and its KV cache handle. Loading, naming and
// LoRA/PEFT bookkeeping live in TypeScript (services/trainer/model/); this file only moves tensors in and
// runs the fused C++ forward of ../torch/llama.h on the libuv pool.
#include <map>
#include "../torch/llama.h"
#include "common.h"

namespace spark::glue {

namespace {

using torch::Tensor;

LlamaConfig read_config(Napi::Env env, const Napi::Object& o) {
  const auto need = [&](const char* key) {
    const auto v = opt_number(env, o, key);
    if (!v) type_error(env, std::string("config.") + key, "a number");
    return int64_t(*v);
  };
  LlamaConfig c;
  c.hidden = need("hiddenSize");
  c.layers = need("numLayers");
  c.heads = need("numHeads");
  c.kv_heads = need("numKvHeads");
  c.head_dim = need("headDim");
  c.intermediate = need("intermediateSize");
  c.vocab = need("vocabSize");
  c.rms_eps = opt_number(env, o, "rmsNormEps").value_or(1e-5);
  c.rope_theta = opt_number(env, o, "ropeTheta").value_or(500000.0);
  c.tie_embeddings = opt_bool(env, o, "tieWordEmbeddings").value_or(false);
  const auto rs = o.Get("ropeScaling");
  if (rs.IsObject()) {
    const auto r = rs.As<Napi::Object>();
    c.rope_scaling.factor = opt_number(env, r, "factor").value_or(0);
    c.rope_scaling.low_freq_factor = opt_number(env, r, "lowFreqFactor").value_or(1);
    c.rope_scaling.high_freq_factor = opt_number(env, r, "highFreqFactor").value_or(4);
    c.rope_scaling.original_max_position = opt_number(env, r, "originalMaxPositionEmbeddings").value_or(8192);
  }
  return c;
}

void check_shape(Napi::Env env, const Tensor& t, std::vector<int64_t> want, const std::string& name) {
  if (t.sizes().vec() != want) {
    std::ostringstream s;
    s << name << ": expected shape " << c10::IntArrayRef(want) << ", got " << t.sizes();
    throw Napi::Error::New(env, s.str());
  }
}

class CacheWrap : public Napi::ObjectWrap<CacheWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeKvCache",
                       {InstanceAccessor<&CacheWrap::Length>("length"), InstanceAccessor<&CacheWrap::Capacity>("capacity"),
                        InstanceAccessor<&CacheWrap::Bytes>("nbytes"), InstanceMethod<&CacheWrap::Dispose>("dispose")});
  }
  explicit CacheWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CacheWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      throw Napi::TypeError::New(info.Env(), "NativeKvCache is created by Llama.newCache");
    cache = *info[0].As<Napi::External<std::shared_ptr<KvCache>>>().Data();
  }
  std::shared_ptr<KvCache> get(Napi::Env env) const {
    if (!cache) throw Napi::Error::New(env, "KV cache was disposed");
    return cache;
  }
  std::shared_ptr<KvCache> cache;

 private:
  Napi::Value Length(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(get(info.Env())->len)); }
  Napi::Value Capacity(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(get(info.Env())->capacity));
  }
  Napi::Value Bytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(get(info.Env())->nbytes())); }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    cache.reset();
    return info.Env().Undefined();
  }
};

class LlamaWrap : public Napi::ObjectWrap<LlamaWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeLlama",
                       {
                           InstanceMethod<&LlamaWrap::SetGlobal>("setGlobal"),
                           InstanceMethod<&LlamaWrap::SetLayer>("setLayer"),
                           InstanceMethod<&LlamaWrap::SetLora>("setLora"),
                           InstanceMethod<&LlamaWrap::ClearLora>("clearLora"),
                           InstanceMethod<&LlamaWrap::SetLoraOptions>("setLoraOptions"),
                           InstanceMethod<&LlamaWrap::SetCheckpointing>("setCheckpointing"),
                           InstanceMethod<&LlamaWrap::Forward>("forward"),
                           InstanceMethod<&LlamaWrap::NewCache>("newCache"),
                           InstanceMethod<&LlamaWrap::Step>("step"),
                           InstanceMethod<&LlamaWrap::Weight>("weight"),
                           InstanceMethod<&LlamaWrap::Nbytes>("nbytes"),
                           InstanceMethod<&LlamaWrap::Dispose>("dispose"),
                       });
  }

  /// new NativeLlama(config, dtype, device)
  explicit LlamaWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LlamaWrap>(info) {
    guard(info.Env(), [&] {
      const auto cfg = read_config(info.Env(), object_arg(info, 0, "config"));
      const auto dtype = parse_dtype(info.Env(), string_arg(info, 1, "dtype"));
      const auto device = parse_device(info.Env(), string_arg(info, 2, "device"));
      model_ = std::make_shared<Llama>(cfg, dtype, device);
      return 0;
    });
  }

 private:
  std::shared_ptr<Llama> model_;

  /// Frees the weights now; later calls fail with "model weights are not loaded".
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    model_->embed = model_->norm = model_->lm_head = Tensor();
    for (auto& l : model_->layers) l = Layer();
    return info.Env().Undefined();
  }

  Tensor place(const Tensor& t) const { return t.detach().to(model_->device, model_->dtype).contiguous(); }

  /// setGlobal('embed' | 'norm' | 'lm_head', tensor)
  Napi::Value SetGlobal(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const auto name = string_arg(info, 0, "name");
      const auto t = tensor_arg(info, 1, "tensor");
      const auto& c = model_->cfg;
      if (name == "embed") {
        check_shape(info.Env(), t, {c.vocab, c.hidden}, "model.embed_tokens.weight");
        model_->embed = place(t);
      } else if (name == "norm") {
        check_shape(info.Env(), t, {c.hidden}, "model.norm.weight");
        model_->norm = place(t);
      } else if (name == "lm_head") {
        check_shape(info.Env(), t, {c.vocab, c.hidden}, "lm_head.weight");
        model_->lm_head = place(t);
      } else {
        throw Napi::TypeError::New(info.Env(), "unknown global weight '" + name + "' (allowed: embed, norm, lm_head)");
      }
      return info.Env().Undefined();
    });
  }

  /// setLayer(i, {inputNorm, postNorm, q, k, v, o, gate, up, down}, {nf4?, blockSize?, doubleQuant?}) → Promise
  Napi::Value SetLayer(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const auto env = info.Env();
      const auto li = int_arg(info, 0, "layer");
      const auto& c = model_->cfg;
      if (li < 0 || li >= c.layers)
        throw Napi::RangeError::New(env, "layer " + std::to_string(li) + " out of range [0, " + std::to_string(c.layers) + ")");
      const auto w = object_arg(info, 1, "weights");
      const auto q = object_arg(info, 2, "quant");
      const bool nf4 = opt_bool(env, q, "nf4").value_or(false);
      const int64_t block = int64_t(opt_number(env, q, "blockSize").value_or(64));
      const bool dq = opt_bool(env, q, "doubleQuant").value_or(false);
      const auto get = [&](const char* key, std::vector<int64_t> shape) {
        auto t = tensor_value(env, w.Get(key), std::string("weights.") + key);
        check_shape(env, t, shape, "layers." + std::to_string(li) + "." + key);
        return t;
      };
      const int64_t qd = c.heads * c.head_dim, kvd = c.kv_heads * c.head_dim;
      const std::map<std::string, Tensor> ts = {
          {"inputNorm", get("inputNorm", {c.hidden})}, {"postNorm", get("postNorm", {c.hidden})},
          {"q", get("q", {qd, c.hidden})},              {"k", get("k", {kvd, c.hidden})},
          {"v", get("v", {kvd, c.hidden})},             {"o", get("o", {c.hidden, qd})},
          {"gate", get("gate", {c.intermediate, c.hidden})}, {"up", get("up", {c.intermediate, c.hidden})},
          {"down", get("down", {c.hidden, c.intermediate})}};
      auto model = model_;
      return TorchWorker::Run(
          env,
          [=] {
            torch::NoGradGuard no_grad;
            const auto make = [&](const Tensor& dense) {
              Linear l;
              l.out = dense.size(0);
              l.in = dense.size(1);
              const auto placed = dense.detach().to(model->device, model->dtype).contiguous();
              if (nf4) l.nf4 = nf4_quantize(placed, block, dq, model->dtype);
              else l.weight = placed;
              return l;
            };
            Layer& L = model->layers[li];
            L.attn_norm = ts.at("inputNorm").detach().to(model->device, model->dtype).contiguous();
            L.mlp_norm = ts.at("postNorm").detach().to(model->device, model->dtype).contiguous();
            L.qkv = make(torch::cat({ts.at("q"), ts.at("k"), ts.at("v")}, 0));
            L.o = make(ts.at("o"));
            L.gate_up = make(torch::cat({ts.at("gate"), ts.at("up")}, 0));
            L.down = make(ts.at("down"));
          },
          [](Napi::Env e) { return e.Undefined(); });
    });
  }

  /// Which fused projection an HF module name lives in, and its row range there.
  std::tuple<Linear*, int64_t, int64_t> locate(Napi::Env env, int64_t li, const std::string& module) {
    const auto& c = model_->cfg;
    if (li < 0 || li >= c.layers) throw Napi::RangeError::New(env, "layer " + std::to_string(li) + " out of range");
    Layer& L = model_->layers[li];
    const int64_t qd = c.heads * c.head_dim, kvd = c.kv_heads * c.head_dim;
    if (module == "q_proj") return {&L.qkv, 0, qd};
    if (module == "k_proj") return {&L.qkv, qd, kvd};
    if (module == "v_proj") return {&L.qkv, qd + kvd, kvd};
    if (module == "o_proj") return {&L.o, 0, c.hidden};
    if (module == "gate_proj") return {&L.gate_up, 0, c.intermediate};
    if (module == "up_proj") return {&L.gate_up, c.intermediate, c.intermediate};
    if (module == "down_proj") return {&L.down, 0, c.hidden};
    throw Napi::TypeError::New(env, "unknown LoRA target '" + module +
                                        "' (allowed: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
  }

  /// setLora(layer, module, A [r, in], B [out, r]): the same tensors the optimiser updates.
  Napi::Value SetLora(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const auto env = info.Env();
      const auto li = int_arg(info, 0, "layer");
      const auto module = string_arg(info, 1, "module");
      const auto a = tensor_arg(info, 2, "A"), b = tensor_arg(info, 3, "B");
      auto [lin, offset, size] = locate(env, li, module);
      if (lin->in == 0) throw Napi::Error::New(env, "layer " + std::to_string(li) + " has no weights yet");
      const int64_t r = a.size(0);
      const auto name = "layers." + std::to_string(li) + "." + module;
      check_shape(env, a, {r, lin->in}, name + ".lora_A");
      check_shape(env, b, {size, r}, name + ".lora_B");
      // "cuda" (no index) is the current device: tensors placed there report "cuda:0".
      const auto on_model = [&](const Tensor& t) {
        const auto& d = model_->device;
        return t.device().type() == d.type() && (!d.has_index() || t.device().index() == d.index());
      };
      if (!on_model(a) || !on_model(b))
        throw Napi::Error::New(env, name + ": LoRA weights must be on " + model_->device.str());
      auto& parts = lin->lora;
      parts.erase(std::remove_if(parts.begin(), parts.end(), [&](const LoraPart& p) { return p.offset == offset; }),
                  parts.end());
      parts.push_back({offset, size, a, b});
      std::sort(parts.begin(), parts.end(), [](const LoraPart& x, const LoraPart& y) { return x.offset < y.offset; });
      return env.Undefined();
    });
  }

  Napi::Value ClearLora(const Napi::CallbackInfo& info) {
    for (auto& L : model_->layers)
      for (auto* lin : {&L.qkv, &L.o, &L.gate_up, &L.down}) lin->lora.clear();
    return info.Env().Undefined();
  }

  /// setLoraOptions(scale, dropout)
  Napi::Value SetLoraOptions(const Napi::CallbackInfo& info) {
    model_->lora_scale = number_arg(info, 0, "scale");
    const double p = number_arg(info, 1, "dropout");
    if (p < 0 || p >= 1) throw Napi::RangeError::New(info.Env(), "dropout must be in [0, 1)");
    model_->lora_dropout = p;
    return info.Env().Undefined();
  }

  /// setCheckpointing(on): activation checkpointing per decoder block in training forwards.
  Napi::Value SetCheckpointing(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsBoolean()) type_error(info.Env(), "on", "a boolean");
    model_->checkpointing = info[0].As<Napi::Boolean>().Value();
    return info.Env().Undefined();
  }

  ForwardOpts read_opts(Napi::Env env, const Napi::Object& o) {
    ForwardOpts f;
    const auto m = o.Get("attentionMask");
    if (!m.IsUndefined() && !m.IsNull()) f.attention_mask = tensor_value(env, m, "attentionMask");
    f.adapters = opt_bool(env, o, "adapters").value_or(true);
    f.training = opt_bool(env, o, "training").value_or(false);
    f.logits_to_keep = int64_t(opt_number(env, o, "logitsToKeep").value_or(0));
    if (f.logits_to_keep < 0) throw Napi::RangeError::New(env, "logitsToKeep must be >= 0");
    f.want_hidden = opt_bool(env, o, "wantHidden").value_or(false);
    return f;
  }

  /// forward(ids [b, t] int64, opts) → Promise<{logits, hidden?}>
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const auto ids = tensor_arg(info, 0, "ids");
      const auto opts = read_opts(info.Env(), object_arg(info, 1, "options"));
      auto model = model_;
      auto out = std::make_shared<ForwardOut>();
      return TorchWorker::Run(
          info.Env(), [=] { *out = model->forward(ids, opts); },
          [out](Napi::Env e) -> Napi::Value {
            auto r = Napi::Object::New(e);
            r.Set("logits", TensorWrap::New(e, out->logits));
            if (out->hidden.defined()) r.Set("hidden", TensorWrap::New(e, out->hidden));
            return r;
          });
    });
  }

  /// newCache(batch, capacity) → NativeKvCache
  Napi::Value NewCache(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const auto b = int_arg(info, 0, "batch"), cap = int_arg(info, 1, "capacity");
      if (b <= 0 || cap <= 0) throw Napi::RangeError::New(info.Env(), "batch and capacity must be positive");
      auto c = std::make_shared<KvCache>(model_->make_cache(b, cap));
      return addon_data(info.Env()).cache_ctor.New({Napi::External<std::shared_ptr<KvCache>>::New(info.Env(), &c)});
    });
  }

  /// step(cache, ids [b, t], {attentionMask?, adapters?, sample?: {temperature, topK, topP}, wantLogits?})
  /// → Promise<{tokens?: Int32Array, logprobs?: Float32Array, logits?: Tensor [b, vocab]}>
  /// Appends ids to the cache and, with `sample`, draws each row's next token from the last position.
  Napi::Value Step(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const auto env = info.Env();
      if (info.Length() < 1 || !info[0].IsObject() ||
          !info[0].As<Napi::Object>().InstanceOf(addon_data(env).cache_ctor.Value()))
        type_error(env, "cache", "a KV cache from newCache");
      auto cache = CacheWrap::Unwrap(info[0].As<Napi::Object>())->get(env);
      const auto ids = tensor_arg(info, 1, "ids");
      const auto o = object_arg(info, 2, "options");
      auto opts = read_opts(env, o);
      opts.logits_to_keep = 1;
      const bool want_logits = opt_bool(env, o, "wantLogits").value_or(false);
      std::optional<SampleOpts> sample;
      const auto so = o.Get("sample");
      if (so.IsObject()) {
        const auto s = so.As<Napi::Object>();
        SampleOpts x;
        x.temperature = opt_number(env, s, "temperature").value_or(1.0);
        x.top_k = int64_t(opt_number(env, s, "topK").value_or(0));
        x.top_p = opt_number(env, s, "topP").value_or(1.0);
        if (x.temperature < 0) throw Napi::RangeError::New(env, "sample.temperature must be >= 0");
        if (x.top_p <= 0 || x.top_p > 1) throw Napi::RangeError::New(env, "sample.topP must be in (0, 1]");
        if (x.top_k < 0) throw Napi::RangeError::New(env, "sample.topK must be >= 0");
        sample = x;
      }
      auto model = model_;
      struct Result {
        Tensor logits, tokens, logprobs;
      };
      auto res = std::make_shared<Result>();
      return TorchWorker::Run(
          env,
          [=] {
            torch::NoGradGuard no_grad;
            auto logits = model->forward(ids, opts, cache.get()).logits.select(1, 0);  // [b, vocab]
            if (sample) {
              auto [tok, lp] = Llama::sample(logits, *sample);
              res->tokens = tok.to(torch::kCPU, torch::kInt);
              res->logprobs = lp.to(torch::kCPU, torch::kFloat);
            }
            if (want_logits) res->logits = logits;
          },
          [res](Napi::Env e) -> Napi::Value {
            auto r = Napi::Object::New(e);
            if (res->tokens.defined()) {
              const int64_t n = res->tokens.numel();
              auto tok = Napi::Int32Array::New(e, n);
              auto lp = Napi::Float32Array::New(e, n);
              std::memcpy(tok.Data(), res->tokens.data_ptr<int>(), n * sizeof(int));
              std::memcpy(lp.Data(), res->logprobs.data_ptr<float>(), n * sizeof(float));
              r.Set("tokens", tok);
              r.Set("logprobs", lp);
            }
            if (res->logits.defined()) r.Set("logits", TensorWrap::New(e, res->logits));
            return r;
          });
    });
  }

  /// weight(hfName) → the dense base weight (a view of the fused tensor, or dequantised NF4).
  Napi::Value Weight(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const auto env = info.Env();
      const auto name = string_arg(info, 0, "name");
      const auto& m = *model_;
      if (name == "model.embed_tokens.weight") return TensorWrap::New(env, m.embed);
      if (name == "model.norm.weight") return TensorWrap::New(env, m.norm);
      if (name == "lm_head.weight") return TensorWrap::New(env, m.head());
      const std::string pre = "model.layers.";
      const auto dot = name.find('.', pre.size());
      if (name.rfind(pre, 0) == 0 && dot != std::string::npos) {
        const int64_t li = std::stoll(name.substr(pre.size(), dot - pre.size()));
        const auto rest = name.substr(dot + 1);
        if (li >= 0 && li < m.cfg.layers) {
          if (rest == "input_layernorm.weight") return TensorWrap::New(env, m.layers[li].attn_norm);
          if (rest == "post_attention_layernorm.weight") return TensorWrap::New(env, m.layers[li].mlp_norm);
          const auto slash = rest.find('.');
          const auto module = rest.substr(rest.find('.') + 1, rest.rfind('.') - slash - 1);
          if (rest.size() > 7 && rest.substr(rest.size() - 7) == ".weight") {
            auto [lin, offset, size] = locate(env, li, module);
            return TensorWrap::New(env, lin->dense().narrow(0, offset, size));
          }
        }
      }
      throw Napi::Error::New(env, "no weight named '" + name + "'");
    });
  }

  Napi::Value Nbytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(model_->nbytes())); }
};

}  // namespace

void register_model(Napi::Env env, Napi::Object exports) {
  auto llama = LlamaWrap::Define(env);
  auto cache = CacheWrap::Define(env);
  addon_data(env).llama_ctor = Napi::Persistent(llama);
  addon_data(env).cache_ctor = Napi::Persistent(cache);
  exports.Set("NativeLlama", llama);
  exports.Set("NativeKvCache", cache);
}

}  // namespace spark::glue
