// The N-API side of the addon: argument checks (TypeError naming the argument), libtorch errors turned
// into JS errors (never an abort), tensor handles, and the AsyncWorker that runs long calls off the JS
// thread and settles a Promise. libtorch code lives in ../torch/*.h and knows nothing of N-API.
#pragma once
#include <napi.h>
#include <torch/torch.h>
#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace spark::glue {

/// Thread count for libtorch's intra-op pool. OpenMP keeps it per calling thread, so every worker sets it.
inline std::atomic<int> g_num_threads{1};

inline void apply_thread_count() {
  const int n = g_num_threads.load();
  if (at::get_num_threads() != n) at::set_num_threads(n);
}

/// libtorch's message without the C++ backtrace it appends.
inline std::string torch_message(const c10::Error& e) {
  std::string m = e.what_without_backtrace();
  const auto cut = m.find("\nException raised from");
  return cut == std::string::npos ? m : m.substr(0, cut);
}

/// Runs `f`, turning libtorch and standard exceptions into JS errors.
template <typename F>
auto guard(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, torch_message(e));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

/// Wraps a plain N-API callback in `guard` so that it can be exported as-is.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&] { return F(info); });
}

[[noreturn]] inline void type_error(Napi::Env env, const std::string& name, const std::string& want) {
  throw Napi::TypeError::New(env, "argument '" + name + "' must be " + want);
}

// ---------------------------------------------------------------- tensor handles

/// The JS object behind a tensor. The TS `Tensor` class owns one and frees it with dispose(); the GC
/// finalizer only catches what a caller forgot.
class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object New(Napi::Env env, torch::Tensor t);
  static bool Is(Napi::Env env, const Napi::Value& v);
  explicit TensorWrap(const Napi::CallbackInfo& info);

  torch::Tensor& get(Napi::Env env) {
    if (!t_.defined()) throw Napi::Error::New(env, "tensor was disposed");
    return t_;
  }

 private:
  torch::Tensor t_;
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value Dtype(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value Numel(const Napi::CallbackInfo& info);
  Napi::Value RequiresGrad(const Napi::CallbackInfo& info);
  Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info);
  Napi::Value Grad(const Napi::CallbackInfo& info);
  Napi::Value Data(const Napi::CallbackInfo& info);
  Napi::Value Bytes(const Napi::CallbackInfo& info);
  Napi::Value Item(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value Backward(const Napi::CallbackInfo& info);
};

/// Per-environment state (worker_threads each load their own copy of the addon's classes).
struct AddonData {
  Napi::FunctionReference tensor_ctor;
  Napi::FunctionReference llama_ctor;
  Napi::FunctionReference cache_ctor;
};

inline AddonData& addon_data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

// ---------------------------------------------------------------- argument readers

inline torch::Tensor tensor_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !TensorWrap::Is(info.Env(), info[i])) type_error(info.Env(), name, "a Tensor");
  return TensorWrap::Unwrap(info[i].As<Napi::Object>())->get(info.Env());
}

inline torch::Tensor tensor_value(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!TensorWrap::Is(env, v)) type_error(env, name, "a Tensor");
  return TensorWrap::Unwrap(v.As<Napi::Object>())->get(env);
}

inline bool is_missing(const Napi::CallbackInfo& info, size_t i) {
  return i >= info.Length() || info[i].IsUndefined() || info[i].IsNull();
}

inline double number_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsNumber()) type_error(info.Env(), name, "a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

inline int64_t int_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  const double d = number_arg(info, i, name);
  if (d != static_cast<double>(static_cast<int64_t>(d))) type_error(info.Env(), name, "an integer");
  return static_cast<int64_t>(d);
}

inline bool bool_arg(const Napi::CallbackInfo& info, size_t i, const char* name, bool fallback) {
  if (is_missing(info, i)) return fallback;
  if (!info[i].IsBoolean()) type_error(info.Env(), name, "a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

inline std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsString()) type_error(info.Env(), name, "a string");
  return info[i].As<Napi::String>().Utf8Value();
}

inline std::vector<int64_t> int_list(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsArray()) type_error(env, name, "an array of integers");
  const auto a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    const Napi::Value e = a[i];
    if (!e.IsNumber()) type_error(env, name, "an array of integers");
    out[i] = e.As<Napi::Number>().Int64Value();
  }
  return out;
}

inline std::vector<int64_t> int_list_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length()) type_error(info.Env(), name, "an array of integers");
  return int_list(info.Env(), info[i], name);
}

inline std::vector<torch::Tensor> tensor_list(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsArray()) type_error(env, name, "an array of Tensors");
  const auto a = v.As<Napi::Array>();
  std::vector<torch::Tensor> out;
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(tensor_value(env, a[i], name));
  return out;
}

/// Object field readers for option bags.
inline std::optional<double> opt_number(Napi::Env env, const Napi::Object& o, const char* key) {
  const auto v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsNumber()) type_error(env, key, "a number");
  return v.As<Napi::Number>().DoubleValue();
}

inline std::optional<bool> opt_bool(Napi::Env env, const Napi::Object& o, const char* key) {
  const auto v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsBoolean()) type_error(env, key, "a boolean");
  return v.As<Napi::Boolean>().Value();
}

inline Napi::Object object_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (is_missing(info, i)) return Napi::Object::New(info.Env());
  if (!info[i].IsObject()) type_error(info.Env(), name, "an object");
  return info[i].As<Napi::Object>();
}

torch::ScalarType parse_dtype(Napi::Env env, const std::string& s);
std::string dtype_name(torch::ScalarType t);
torch::Device parse_device(Napi::Env env, const std::string& s);

// ---------------------------------------------------------------- async work

/// Runs `work` on libuv's thread pool and settles a Promise with `done(env)`. `work` sees the grad mode
/// that was current on the JS thread when the call was made (autograd keeps it per thread).
class TorchWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Done = std::function<Napi::Value(Napi::Env)>;

  static Napi::Promise Run(Napi::Env env, Work work, Done done) {
    auto* w = new TorchWorker(env, std::move(work), std::move(done));
    auto promise = w->deferred_.Promise();
    w->Queue();
    return promise;
  }

 protected:
  void Execute() override {
    try {
      c10::AutoGradMode mode(grad_enabled_);
      apply_thread_count();
      work_();
    } catch (const c10::Error& e) {
      SetError(torch_message(e));
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    try {
      deferred_.Resolve(done_(Env()));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(Env(), e.what()).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  TorchWorker(Napi::Env env, Work work, Done done)
      : Napi::AsyncWorker(env, "spark_torch"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        done_(std::move(done)),
        grad_enabled_(torch::GradMode::is_enabled()) {}
  Napi::Promise::Deferred deferred_;
  Work work_;
  Done done_;
  bool grad_enabled_;
};

// ---------------------------------------------------------------- module registration (one per .cc)

void register_tensor(Napi::Env env, Napi::Object exports);
void register_ops(Napi::Env env, Napi::Object exports);
void register_model(Napi::Env env, Napi::Object exports);
void register_optim(Napi::Env env, Napi::Object exports);
void register_system(Napi::Env env, Napi::Object exports);

}  // namespace spark::glue
