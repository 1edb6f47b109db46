// The tensor ops the model code and the losses compose (element-wise math, reductions, shape changes,
// indexing), each a thin call into libtorch. Anything hot is a fused op elsewhere (model.cc).
#include "../torch/blocks.h"
#include "../torch/nf4.h"
#include "common.h"

namespace spark::glue {

namespace {

using torch::Tensor;

Napi::Value wrap(const Napi::CallbackInfo& info, Tensor t) { return TensorWrap::New(info.Env(), std::move(t)); }

bool is_number(const Napi::CallbackInfo& info, size_t i) { return i < info.Length() && info[i].IsNumber(); }

std::vector<int64_t> dims_arg(const Napi::CallbackInfo& info, size_t i) {
  if (is_missing(info, i)) return {};
  if (info[i].IsNumber()) return {int_arg(info, i, "dim")};
  return int_list_arg(info, i, "dims");
}

#define UNARY(NAME, EXPR)                                \
  Napi::Value NAME(const Napi::CallbackInfo& info) {     \
    const auto a = tensor_arg(info, 0, "self");          \
    return wrap(info, EXPR);                             \
  }

UNARY(Neg, a.neg())
UNARY(Exp, a.exp())
UNARY(Log, a.log())
UNARY(Sqrt, a.sqrt())
UNARY(Rsqrt, a.rsqrt())
UNARY(Abs, a.abs())
UNARY(Sigmoid, a.sigmoid())
UNARY(Tanh, a.tanh())
UNARY(Silu, torch::silu(a))
UNARY(LogicalNot, a.logical_not())
UNARY(Contiguous, a.contiguous())
UNARY(Detach, a.detach())
UNARY(Clone, a.clone())
UNARY(Sign, a.sign())

#define BINARY(NAME, TENSOR_EXPR, SCALAR_EXPR)                              \
  Napi::Value NAME(const Napi::CallbackInfo& info) {                        \
    const auto a = tensor_arg(info, 0, "self");                             \
    if (is_number(info, 1)) {                                               \
      const double s = info[1].As<Napi::Number>().DoubleValue();            \
      return wrap(info, SCALAR_EXPR);                                       \
    }                                                                       \
    const auto b = tensor_arg(info, 1, "other");                            \
    return wrap(info, TENSOR_EXPR);                                         \
  }

BINARY(Add, a.add(b), a.add(s))
BINARY(Sub, a.sub(b), a.sub(s))
BINARY(Mul, a.mul(b), a.mul(s))
BINARY(Div, a.div(b), a.div(s))
BINARY(Pow, a.pow(b), a.pow(s))
BINARY(Maximum, torch::maximum(a, b), a.clamp_min(s))
BINARY(Minimum, torch::minimum(a, b), a.clamp_max(s))
BINARY(Eq, a.eq(b), a.eq(s))
BINARY(Ne, a.ne(b), a.ne(s))
BINARY(Lt, a.lt(b), a.lt(s))
BINARY(Le, a.le(b), a.le(s))
BINARY(Gt, a.gt(b), a.gt(s))
BINARY(Ge, a.ge(b), a.ge(s))
BINARY(LogicalAnd, a.logical_and(b), a.logical_and(torch::scalar_tensor(s, a.options())))
BINARY(LogicalOr, a.logical_or(b), a.logical_or(torch::scalar_tensor(s, a.options())))

Napi::Value Matmul(const Napi::CallbackInfo& info) {
  return wrap(info, torch::matmul(tensor_arg(info, 0, "self"), tensor_arg(info, 1, "other")));
}

/// Reductions: (self, dims?: number | number[], keepdim?: boolean). No dims = over everything.
#define REDUCE(NAME, ALL_EXPR, DIM_EXPR)                           \
  Napi::Value NAME(const Napi::CallbackInfo& info) {               \
    const auto a = tensor_arg(info, 0, "self");                    \
    const auto dims = dims_arg(info, 1);                           \
    const bool keep = bool_arg(info, 2, "keepdim", false);         \
    return wrap(info, dims.empty() ? (ALL_EXPR) : (DIM_EXPR));     \
  }

REDUCE(Sum, a.sum(), a.sum(dims, keep))
REDUCE(Mean, a.mean(), a.mean(dims, keep))
REDUCE(Amax, a.amax(), a.amax(dims, keep))
REDUCE(Amin, a.amin(), a.amin(dims, keep))
REDUCE(Logsumexp, a.flatten().logsumexp(0), a.logsumexp(dims, keep))

/// var(self, dims?, unbiased = true, keepdim = false)
Napi::Value Var(const Napi::CallbackInfo& info) {
  const auto a = tensor_arg(info, 0, "self");
  const auto dims = dims_arg(info, 1);
  const bool unbiased = bool_arg(info, 2, "unbiased", true), keep = bool_arg(info, 3, "keepdim", false);
  return wrap(info, dims.empty() ? a.var(unbiased) : a.var(dims, unbiased, keep));
}

Napi::Value Argmax(const Napi::CallbackInfo& info) {
  const auto a = tensor_arg(info, 0, "self");
  return wrap(info, a.argmax(int_arg(info, 1, "dim"), bool_arg(info, 2, "keepdim", false)));
}

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  return wrap(info, torch::softmax(tensor_arg(info, 0, "self"), int_arg(info, 1, "dim")));
}

Napi::Value LogSoftmax(const Napi::CallbackInfo& info) {
  return wrap(info, torch::log_softmax(tensor_arg(info, 0, "self"), int_arg(info, 1, "dim")));
}

Napi::Value Cumsum(const Napi::CallbackInfo& info) {
  return wrap(info, tensor_arg(info, 0, "self").cumsum(int_arg(info, 1, "dim")));
}

Napi::Value Gather(const Napi::CallbackInfo& info) {
  return wrap(info, tensor_arg(info, 0, "self").gather(int_arg(info, 1, "dim"), tensor_arg(info, 2, "index")));
}

Napi::Value IndexSelect(const Napi::CallbackInfo& info) {
  return wrap(info, tensor_arg(info, 0, "self").index_select(int_arg(info, 1, "dim"), tensor_arg(info, 2, "index")));
}

/// clamp(self, min | null, max | null)
Napi::Value Clamp(const Napi::CallbackInfo& info) {
  const auto a = tensor_arg(info, 0, "self");
  const auto lo = is_missing(info, 1) ? TorchOptional<c10::Scalar>() : TorchOptional<c10::Scalar>(number_arg(info, 1, "min"));
  const auto hi = is_missing(info, 2) ? TorchOptional<c10::Scalar>() : TorchOptional<c10::Scalar>(number_arg(info, 2, "max"));
  return wrap(info, a.clamp(lo, hi));
}

/// where(cond, a, b): a and b are tensors or numbers.
Napi::Value Where(const Napi::CallbackInfo& info) {
  const auto c = tensor_arg(info, 0, "condition");
  const bool an = is_number(info, 1), bn = is_number(info, 2);
  if (an && bn) type_error(info.Env(), "self", "a Tensor when other is a number");
  if (an) return wrap(info, torch::where(c, c10::Scalar(number_arg(info, 1, "self")), tensor_arg(info, 2, "other")));
  if (bn) return wrap(info, torch::where(c, tensor_arg(info, 1, "self"), c10::Scalar(number_arg(info, 2, "other"))));
  return wrap(info, torch::where(c, tensor_arg(info, 1, "self"), tensor_arg(info, 2, "other")));
}

Napi::Value MaskedFill(const Napi::CallbackInfo& info) {
  return wrap(info, tensor_arg(info, 0, "self").masked_fill(tensor_arg(info, 1, "mask"), number_arg(info, 2, "value")));
}

Napi::Value Reshape(const Napi::CallbackInfo& info) {
  return wrap(info, tensor_arg(info, 0, "self").reshape(int_list_arg(info, 1, "shape")));
}

Napi::Value Expand(const Napi::CallbackInfo& info) {
  return wrap(info, tensor_arg(info, 0, "self").expand(int_list_arg(info, 1, "shape")));
}

Napi::Value Transpose(const Napi::CallbackInfo& info) {
  return wrap(info, tensor_arg(info, 0, "self").transpose(int_arg(info, 1, "dim0"), int_arg(info, 2, "dim1")));
}

Napi::Value Permute(const Napi::CallbackInfo& info) {
  return wrap(info, tensor_arg(info, 0, "self").permute(int_list_arg(info, 1, "dims")));
}

Napi::Value Narrow(const Napi::CallbackInfo& info) {
  return wrap(info, tensor_arg(info, 0, "self").narrow(int_arg(info, 1, "dim"), int_arg(info, 2, "start"),
                                                       int_arg(info, 3, "length")));
}

Napi::Value Squeeze(const Napi::CallbackInfo& info) {
  const auto a = tensor_arg(info, 0, "self");
  return wrap(info, is_missing(info, 1) ? a.squeeze() : a.squeeze(int_arg(info, 1, "dim")));
}

Napi::Value Unsqueeze(const Napi::CallbackInfo& info) {
  return wrap(info, tensor_arg(info, 0, "self").unsqueeze(int_arg(info, 1, "dim")));
}

Napi::Value Cat(const Napi::CallbackInfo& info) {
  return wrap(info, torch::cat(tensor_list(info.Env(), info[0], "tensors"), is_missing(info, 1) ? 0 : int_arg(info, 1, "dim")));
}

Napi::Value Stack(const Napi::CallbackInfo& info) {
  return wrap(info, torch::stack(tensor_list(info.Env(), info[0], "tensors"), is_missing(info, 1) ? 0 : int_arg(info, 1, "dim")));
}

/// to(self, dtype | null, device | null)
Napi::Value To(const Napi::CallbackInfo& info) {
  auto a = tensor_arg(info, 0, "self");
  if (!is_missing(info, 1)) a = a.to(parse_dtype(info.Env(), string_arg(info, 1, "dtype")));
  if (!is_missing(info, 2)) a = a.to(parse_device(info.Env(), string_arg(info, 2, "device")));
  return wrap(info, a);
}

// In-place ops: used for initialisation and optimiser-side updates; they return the same handle's tensor.
Napi::Value Copy_(const Napi::CallbackInfo& info) {
  torch::NoGradGuard no_grad;
  auto a = tensor_arg(info, 0, "self");
  a.copy_(tensor_arg(info, 1, "src"));
  return info.Env().Undefined();
}

Napi::Value Uniform_(const Napi::CallbackInfo& info) {
  torch::NoGradGuard no_grad;
  auto a = tensor_arg(info, 0, "self");
  a.uniform_(number_arg(info, 1, "low"), number_arg(info, 2, "high"));
  return info.Env().Undefined();
}

Napi::Value Normal_(const Napi::CallbackInfo& info) {
  torch::NoGradGuard no_grad;
  auto a = tensor_arg(info, 0, "self");
  a.normal_(number_arg(info, 1, "mean"), number_arg(info, 2, "std"));
  return info.Env().Undefined();
}

Napi::Value Zero_(const Napi::CallbackInfo& info) {
  torch::NoGradGuard no_grad;
  auto a = tensor_arg(info, 0, "self");
  a.zero_();
  return info.Env().Undefined();
}

/// Bitwise equality of two tensors (same dtype, shape and bytes); for save/reload checks.
Napi::Value Equal(const Napi::CallbackInfo& info) {
  const auto a = tensor_arg(info, 0, "self"), b = tensor_arg(info, 1, "other");
  const bool same = a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() &&
                    (a.numel() == 0 || torch::equal(a.to(torch::kCPU), b.to(torch::kCPU)));
  return Napi::Boolean::New(info.Env(), same);
}

/// tokenLogprobs(logits [.., V] fp32, targets [..] int64) → log p(target), fused with its backward.
Napi::Value TokenLogprobs(const Napi::CallbackInfo& info) {
  return wrap(info, token_logprobs(tensor_arg(info, 0, "logits"), tensor_arg(info, 1, "targets")));
}

/// rmsNorm(x, w, eps) → Tensor: the decoder block's RMSNorm (fused where blocks.h fuses it).
Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  return wrap(info, rms_norm(tensor_arg(info, 0, "x"), tensor_arg(info, 1, "weight"), number_arg(info, 2, "eps")));
}

/// swiglu(gu) → Tensor: silu(gate) * up over the fused gate|up projection [.., 2·inter].
Napi::Value Swiglu(const Napi::CallbackInfo& info) { return wrap(info, swiglu(tensor_arg(info, 0, "gu"))); }

/// qkvRope(qkv [b,t,(nh+2nkv)·hd], cos, sin [1|b, t, hd], {heads, kvHeads, headDim, qScale}) → [q, k, v].
Napi::Value QkvRope(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  const auto o = object_arg(info, 3, "dims");
  const auto need = [&](const char* k) {
    const auto v = opt_number(env, o, k);
    if (!v) throw Napi::TypeError::New(env, std::string("qkvRope: dims.") + k + " is required");
    return *v;
  };
  const HeadDims h{int64_t(need("heads")), int64_t(need("kvHeads")), int64_t(need("headDim"))};
  const auto out = qkv_rope(tensor_arg(info, 0, "qkv"), tensor_arg(info, 1, "cos"), tensor_arg(info, 2, "sin"), h,
                            opt_number(env, o, "qScale").value_or(1.0));
  auto arr = Napi::Array::New(env, 3);
  for (uint32_t i = 0; i < 3; ++i) arr[i] = wrap(info, out[i]);
  return arr;
}

/// nf4Quantize(w, blockSize = 64, doubleQuant = false) → {codes, absmax?, absmaxCodes?, absmaxScale?, absmaxOffset}
Napi::Value Nf4Quantize(const Napi::CallbackInfo& info) {
  const auto w = tensor_arg(info, 0, "weight");
  const auto block = is_missing(info, 1) ? 64 : int_arg(info, 1, "blockSize");
  const auto q = nf4_quantize(w, block, bool_arg(info, 2, "doubleQuant", false), w.scalar_type());
  auto o = Napi::Object::New(info.Env());
  o.Set("codes", TensorWrap::New(info.Env(), q.codes));
  if (q.absmax.defined()) o.Set("absmax", TensorWrap::New(info.Env(), q.absmax));
  if (q.absmax_codes.defined()) {
    o.Set("absmaxCodes", TensorWrap::New(info.Env(), q.absmax_codes));
    o.Set("absmaxScale", TensorWrap::New(info.Env(), q.absmax_scale));
  }
  o.Set("absmaxOffset", q.absmax_offset);
  o.Set("blockSize", double(q.block));
  return o;
}

/// nf4Dequantize(q, shape, dtype) → Tensor
Napi::Value Nf4Dequantize(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  const auto o = object_arg(info, 0, "quantized");
  Nf4Tensor q;
  q.codes = tensor_value(env, o.Get("codes"), "codes");
  if (o.Has("absmax")) q.absmax = tensor_value(env, o.Get("absmax"), "absmax");
  if (o.Has("absmaxCodes")) {
    q.absmax_codes = tensor_value(env, o.Get("absmaxCodes"), "absmaxCodes");
    q.absmax_scale = tensor_value(env, o.Get("absmaxScale"), "absmaxScale");
    q.absmax_offset = opt_number(env, o, "absmaxOffset").value_or(0);
  }
  q.block = int64_t(opt_number(env, o, "blockSize").value_or(64));
  q.shape = int_list_arg(info, 1, "shape");
  q.dtype = parse_dtype(env, string_arg(info, 2, "dtype"));
  return wrap(info, nf4_dequantize(q));
}

}  // namespace

void register_ops(Napi::Env env, Napi::Object exports) {
  auto o = Napi::Object::New(env);
#define REG(JS, FN) o.Set(JS, Napi::Function::New<guarded<FN>>(env, JS))
  REG("neg", Neg); REG("exp", Exp); REG("log", Log); REG("sqrt", Sqrt); REG("rsqrt", Rsqrt); REG("abs", Abs);
  REG("sigmoid", Sigmoid); REG("tanh", Tanh); REG("silu", Silu); REG("logicalNot", LogicalNot);
  REG("contiguous", Contiguous); REG("detach", Detach); REG("clone", Clone); REG("sign", Sign);
  REG("add", Add); REG("sub", Sub); REG("mul", Mul); REG("div", Div); REG("pow", Pow);
  REG("maximum", Maximum); REG("minimum", Minimum);
  REG("eq", Eq); REG("ne", Ne); REG("lt", Lt); REG("le", Le); REG("gt", Gt); REG("ge", Ge);
  REG("logicalAnd", LogicalAnd); REG("logicalOr", LogicalOr);
  REG("matmul", Matmul);
  REG("sum", Sum); REG("mean", Mean); REG("amax", Amax); REG("amin", Amin); REG("logsumexp", Logsumexp);
  REG("var", Var); REG("argmax", Argmax);
  REG("softmax", Softmax); REG("logSoftmax", LogSoftmax); REG("cumsum", Cumsum);
  REG("gather", Gather); REG("indexSelect", IndexSelect); REG("clamp", Clamp); REG("where", Where);
  REG("maskedFill", MaskedFill);
  REG("reshape", Reshape); REG("expand", Expand); REG("transpose", Transpose); REG("permute", Permute);
  REG("narrow", Narrow); REG("squeeze", Squeeze); REG("unsqueeze", Unsqueeze); REG("cat", Cat); REG("stack", Stack);
  REG("to", To);
  REG("copy_", Copy_); REG("uniform_", Uniform_); REG("normal_", Normal_); REG("zero_", Zero_);
  REG("equal", Equal);
  REG("tokenLogprobs", TokenLogprobs);
  REG("rmsNorm", RmsNorm); REG("swiglu", Swiglu); REG("qkvRope", QkvRope);
  REG("nf4Quantize", Nf4Quantize); REG("nf4Dequantize", Nf4Dequantize);
#undef REG
  exports.Set("ops", o);
}

}  // namespace spark::glue
