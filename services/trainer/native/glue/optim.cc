// AdamW (libtorch's torch::optim::AdamW, the same update as PyTorch's single-tensor AdamW) and global
// gradient-norm clipping over the trainable tensors (the LoRA parameters).
#include <array>
#include <cmath>
#include <map>
#include <sstream>
#include <type_traits>
#include "common.h"

namespace spark::glue {

namespace {

using torch::Tensor;

/// The key of a parameter's state in libtorch's optimisers: its TensorImpl address, printed to a string
/// in libtorch 1.x (c10::guts::to_string), the pointer itself in libtorch 2.x.
template <class State>
typename State::key_type state_key(const State&, const Tensor& p) {
  if constexpr (std::is_same_v<typename State::key_type, std::string>) {
    std::ostringstream s;
    s << p.unsafeGetTensorImpl();
    return s.str();
  } else {
    return static_cast<typename State::key_type>(p.unsafeGetTensorImpl());
  }
}

class AdamWWrap : public Napi::ObjectWrap<AdamWWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeAdamW",
                       {InstanceMethod<&AdamWWrap::Step>("step"), InstanceMethod<&AdamWWrap::ZeroGrad>("zeroGrad"),
                        InstanceMethod<&AdamWWrap::SetLr>("setLr"), InstanceMethod<&AdamWWrap::State>("state"),
                        InstanceMethod<&AdamWWrap::LoadState>("loadState")});
  }

  /// new NativeAdamW(params, {lr, beta1?, beta2?, eps?, weightDecay?})
  explicit AdamWWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AdamWWrap>(info) {
    guard(info.Env(), [&] {
      const auto env = info.Env();
      params_ = tensor_list(env, info[0], "params");
      for (size_t i = 0; i < params_.size(); ++i)
        if (!params_[i].requires_grad() || !params_[i].is_leaf())
          throw Napi::Error::New(env, "params[" + std::to_string(i) + "] is not a leaf tensor that requires grad");
      const auto o = object_arg(info, 1, "options");
      const auto lr = opt_number(env, o, "lr");
      if (!lr || *lr < 0) type_error(env, "options.lr", "a number >= 0");
      torch::optim::AdamWOptions opts(*lr);
      opts.betas({opt_number(env, o, "beta1").value_or(0.9), opt_number(env, o, "beta2").value_or(0.999)});
      opts.eps(opt_number(env, o, "eps").value_or(1e-8));
      opts.weight_decay(opt_number(env, o, "weightDecay").value_or(0.01));
      opt_ = std::make_shared<torch::optim::AdamW>(params_, opts);
      return 0;
    });
  }

 private:
  std::vector<Tensor> params_;
  std::shared_ptr<torch::optim::AdamW> opt_;

  Napi::Value Step(const Napi::CallbackInfo& info) {
    auto opt = opt_;
    return TorchWorker::Run(info.Env(), [opt] { foreach_step(*opt); }, [](Napi::Env e) { return e.Undefined(); });
  }

  /// libtorch's AdamW update (decoupled weight decay, bias-corrected moments; no amsgrad), done with the
  /// multi-tensor _foreach_ ops, kept in the optimiser's own state: the per-tensor loop of
  /// AdamW::step() is ~9 kernel launches per tensor — 4,000 for the 448 adapter tensors of an 8B model,
  /// tens of ms of launch overhead per step on a GPU (PyTorch's AdamW defaults to foreach there).
  static void foreach_step(torch::optim::AdamW& opt) {
    torch::NoGradGuard no_grad;
    auto& st = opt.state();
    for (auto& group : opt.param_groups()) {
      auto& o = static_cast<torch::optim::AdamWOptions&>(group.options());
      if (o.amsgrad()) {  // never set by this wrapper; libtorch's own loop handles it
        opt.step();
        return;
      }
      // Tensors at the same step count share one bias correction (normally all of them).
      std::map<int64_t, std::array<std::vector<Tensor>, 4>> by_step;  // step → params, grads, m, v
      for (auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        const auto key = state_key(st, p);
        if (st.find(key) == st.end()) {
          auto fresh = std::make_unique<torch::optim::AdamWParamState>();
          fresh->step(0);
          fresh->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
          fresh->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
          st[key] = std::move(fresh);
        }
        auto& s = static_cast<torch::optim::AdamWParamState&>(*st[key]);
        s.step(s.step() + 1);
        auto& lists = by_step[s.step()];
        lists[0].push_back(p);
        lists[1].push_back(p.grad());
        lists[2].push_back(s.exp_avg());
        lists[3].push_back(s.exp_avg_sq());
      }
      const double lr = o.lr(), wd = o.weight_decay(), eps = o.eps();
      const double b1 = std::get<0>(o.betas()), b2 = std::get<1>(o.betas());
      for (auto& [step, l] : by_step) {
        auto &ps = l[0], &gs = l[1], &m = l[2], &v = l[3];
        const double bc1 = 1 - std::pow(b1, double(step)), bc2 = 1 - std::pow(b2, double(step));
        if (wd != 0) at::_foreach_mul_(ps, c10::Scalar(1 - lr * wd));
        at::_foreach_mul_(m, c10::Scalar(b1));
        at::_foreach_add_(m, gs, c10::Scalar(1 - b1));
        at::_foreach_mul_(v, c10::Scalar(b2));
        at::_foreach_addcmul_(v, gs, gs, c10::Scalar(1 - b2));
        auto denom = at::_foreach_sqrt(v);
        at::_foreach_div_(denom, c10::Scalar(std::sqrt(bc2)));
        at::_foreach_add_(denom, c10::Scalar(eps));
        at::_foreach_addcdiv_(ps, m, denom, c10::Scalar(-lr / bc1));
      }
    }
  }

  /// Drops the gradients (PyTorch's set_to_none), so the next backward writes instead of accumulating.
  Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
    for (auto& p : params_) p.mutable_grad() = Tensor();
    return info.Env().Undefined();
  }

  Napi::Value SetLr(const Napi::CallbackInfo& info) {
    const double lr = number_arg(info, 0, "lr");
    for (auto& g : opt_->param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    return info.Env().Undefined();
  }

  /// state() → [{step, expAvg, expAvgSq}] per parameter (null before its first step), for checkpoints.
  Napi::Value State(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const auto env = info.Env();
      auto out = Napi::Array::New(env, params_.size());
      auto& st = opt_->state();
      for (size_t i = 0; i < params_.size(); ++i) {
        const auto it = st.find(state_key(st, params_[i]));
        if (it == st.end()) {
          out[i] = env.Null();
          continue;
        }
        const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
        auto o = Napi::Object::New(env);
        o.Set("step", double(s.step()));
        o.Set("expAvg", TensorWrap::New(env, s.exp_avg()));
        o.Set("expAvgSq", TensorWrap::New(env, s.exp_avg_sq()));
        out[i] = o;
      }
      return out;
    });
  }

  /// loadState([{step, expAvg, expAvgSq} | null]): restores what state() returned (copies the tensors).
  Napi::Value LoadState(const Napi::CallbackInfo& info) {
    return guard(info.Env(), [&]() -> Napi::Value {
      const auto env = info.Env();
      if (info.Length() < 1 || !info[0].IsArray()) type_error(env, "state", "an array");
      const auto a = info[0].As<Napi::Array>();
      if (a.Length() != params_.size())
        throw Napi::Error::New(env, "optimiser state has " + std::to_string(a.Length()) + " entries, expected " +
                                        std::to_string(params_.size()));
      auto& st = opt_->state();
      for (size_t i = 0; i < params_.size(); ++i) {
        const Napi::Value v = a[i];
        const auto key = state_key(st, params_[i]);
        if (v.IsNull() || v.IsUndefined()) {
          st.erase(key);
          continue;
        }
        const auto o = v.As<Napi::Object>();
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        s->step(int64_t(opt_number(env, o, "step").value_or(0)));
        const auto m = tensor_value(env, o.Get("expAvg"), "state.expAvg");
        const auto m2 = tensor_value(env, o.Get("expAvgSq"), "state.expAvgSq");
        if (m.sizes() != params_[i].sizes() || m2.sizes() != params_[i].sizes())
          throw Napi::Error::New(env, "optimiser state " + std::to_string(i) + " does not match its parameter's shape");
        s->exp_avg(m.detach().to(params_[i].options()).clone());
        s->exp_avg_sq(m2.detach().to(params_[i].options()).clone());
        st[key] = std::move(s);
      }
      return env.Undefined();
    });
  }
};

/// clipGradNorm(params, maxNorm) → total L2 norm of the gradients before clipping.
Napi::Value ClipGradNorm(const Napi::CallbackInfo& info) {
  auto params = tensor_list(info.Env(), info[0], "params");
  const double max_norm = number_arg(info, 1, "maxNorm");
  std::vector<Tensor> with_grad;
  for (auto& p : params)
    if (p.grad().defined()) with_grad.push_back(p);
  if (with_grad.empty()) return Napi::Number::New(info.Env(), 0);
  return Napi::Number::New(info.Env(), torch::nn::utils::clip_grad_norm_(with_grad, max_norm, 2.0));
}

}  // namespace

void register_optim(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeAdamW", AdamWWrap::Define(env));
  exports.Set("clipGradNorm", Napi::Function::New<guarded<ClipGradNorm>>(env, "clipGradNorm"));
}

}  // namespace spark::glue
