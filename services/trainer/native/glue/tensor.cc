// Tensor handles: properties, typed-array copies in and out, autograd entry points, and the factories.
#include <cstring>
#include <fstream>
#include "common.h"

namespace spark::glue {

namespace {

const std::vector<std::pair<std::string, torch::ScalarType>>& dtype_table() {
  static const std::vector<std::pair<std::string, torch::ScalarType>> t = {
      {"float32", torch::kFloat}, {"bfloat16", torch::kBFloat16}, {"float16", torch::kHalf},
      {"float64", torch::kDouble}, {"int64", torch::kLong},       {"int32", torch::kInt},
      {"int16", torch::kShort},   {"int8", torch::kChar},          {"uint8", torch::kByte},
      {"bool", torch::kBool}};
  return t;
}

/// The typed-array kind a dtype is copied out as (bf16/fp16 as their raw 16-bit patterns).
napi_typedarray_type typed_array_kind(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat: return napi_float32_array;
    case torch::kDouble: return napi_float64_array;
    case torch::kLong: return napi_bigint64_array;
    case torch::kInt: return napi_int32_array;
    case torch::kShort: return napi_int16_array;
    case torch::kChar: return napi_int8_array;
    case torch::kBFloat16:
    case torch::kHalf: return napi_uint16_array;
    default: return napi_uint8_array;  // uint8, bool
  }
}

torch::Tensor cpu_contiguous(const torch::Tensor& t) { return t.detach().to(torch::kCPU).contiguous(); }

}  // namespace

torch::ScalarType parse_dtype(Napi::Env env, const std::string& s) {
  for (const auto& [name, t] : dtype_table())
    if (name == s) return t;
  std::string allowed;
  for (const auto& [name, t] : dtype_table()) allowed += (allowed.empty() ? "" : ", ") + name;
  throw Napi::TypeError::New(env, "unknown dtype '" + s + "' (allowed: " + allowed + ")");
}

std::string dtype_name(torch::ScalarType t) {
  for (const auto& [name, v] : dtype_table())
    if (v == t) return name;
  return c10::toString(t);
}

torch::Device parse_device(Napi::Env env, const std::string& s) {
  try {
    const torch::Device d(s);
    if (d.is_cuda() && !torch::cuda::is_available())
      throw Napi::Error::New(env, "device '" + s + "' requested but this build/machine has no CUDA device");
    return d;
  } catch (const c10::Error&) {
    throw Napi::TypeError::New(env, "unknown device '" + s + "' (allowed: cpu, cuda, cuda:N)");
  }
}

// ---------------------------------------------------------------- TensorWrap

Napi::Function TensorWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeTensor",
                     {
                         InstanceAccessor<&TensorWrap::Shape>("shape"),
                         InstanceAccessor<&TensorWrap::Dtype>("dtype"),
                         InstanceAccessor<&TensorWrap::Device>("device"),
                         InstanceAccessor<&TensorWrap::Numel>("numel"),
                         InstanceAccessor<&TensorWrap::Disposed>("disposed"),
                         InstanceAccessor<&TensorWrap::RequiresGrad>("requiresGrad"),
                         InstanceMethod<&TensorWrap::SetRequiresGrad>("setRequiresGrad"),
                         InstanceAccessor<&TensorWrap::Grad>("grad"),
                         InstanceMethod<&TensorWrap::Data>("data"),
                         InstanceMethod<&TensorWrap::Bytes>("bytes"),
                         InstanceMethod<&TensorWrap::Item>("item"),
                         InstanceMethod<&TensorWrap::Dispose>("dispose"),
                         InstanceMethod<&TensorWrap::Backward>("backward"),
                     });
}

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal())
    throw Napi::TypeError::New(info.Env(), "NativeTensor is created by the addon's factories, not with new");
  t_ = *info[0].As<Napi::External<torch::Tensor>>().Data();
}

Napi::Object TensorWrap::New(Napi::Env env, torch::Tensor t) {
  return addon_data(env).tensor_ctor.New({Napi::External<torch::Tensor>::New(env, &t)});
}

bool TensorWrap::Is(Napi::Env env, const Napi::Value& v) {
  return v.IsObject() && v.As<Napi::Object>().InstanceOf(addon_data(env).tensor_ctor.Value());
}

Napi::Value TensorWrap::Shape(const Napi::CallbackInfo& info) {
  const auto sizes = get(info.Env()).sizes();
  auto a = Napi::Array::New(info.Env(), sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) a[i] = Napi::Number::New(info.Env(), double(sizes[i]));
  return a;
}

Napi::Value TensorWrap::Dtype(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), dtype_name(get(info.Env()).scalar_type()));
}

Napi::Value TensorWrap::Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), get(info.Env()).device().str());
}

Napi::Value TensorWrap::Numel(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(get(info.Env()).numel()));
}

Napi::Value TensorWrap::Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !t_.defined()); }

Napi::Value TensorWrap::RequiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), get(info.Env()).requires_grad());
}

Napi::Value TensorWrap::SetRequiresGrad(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    get(info.Env()).requires_grad_(bool_arg(info, 0, "requiresGrad", true));
    return info.This();
  });
}

Napi::Value TensorWrap::Grad(const Napi::CallbackInfo& info) {
  const auto& g = get(info.Env()).grad();
  return g.defined() ? Napi::Value(New(info.Env(), g)) : info.Env().Null();
}

Napi::Value TensorWrap::Data(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const auto c = cpu_contiguous(get(info.Env()));
    auto buf = Napi::ArrayBuffer::New(info.Env(), c.nbytes());
    if (c.nbytes()) std::memcpy(buf.Data(), c.data_ptr(), c.nbytes());
    napi_value out;
    NAPI_THROW_IF_FAILED(info.Env(),
                         napi_create_typedarray(info.Env(), typed_array_kind(c.scalar_type()),
                                                c.nbytes() / c.element_size(), buf, 0, &out),
                         Napi::Value());
    return Napi::Value(info.Env(), out);
  });
}

Napi::Value TensorWrap::Bytes(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const auto c = cpu_contiguous(get(info.Env()));
    return Napi::Buffer<uint8_t>::Copy(info.Env(), static_cast<const uint8_t*>(c.data_ptr()), c.nbytes());
  });
}

Napi::Value TensorWrap::Item(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), get(info.Env()).item().toDouble());
  });
}

Napi::Value TensorWrap::Dispose(const Napi::CallbackInfo& info) {
  t_ = torch::Tensor();
  return info.Env().Undefined();
}

Napi::Value TensorWrap::Backward(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto t = get(info.Env());
    const auto g = is_missing(info, 0) ? torch::Tensor() : tensor_arg(info, 0, "gradient");
    return TorchWorker::Run(info.Env(), [t, g]() mutable { t.backward(g); },
                            [](Napi::Env env) { return env.Undefined(); });
  });
}

// ---------------------------------------------------------------- factories

namespace {

torch::TensorOptions options_from(const Napi::CallbackInfo& info, size_t dtype_at, size_t device_at,
                                  torch::ScalarType fallback = torch::kFloat) {
  auto o = torch::TensorOptions().dtype(is_missing(info, dtype_at) ? fallback
                                                                   : parse_dtype(info.Env(), string_arg(info, dtype_at, "dtype")));
  if (!is_missing(info, device_at)) o = o.device(parse_device(info.Env(), string_arg(info, device_at, "device")));
  return o;
}

/// fromData(typedArray, shape, dtype?, device?): copies the array. Uint16Array needs dtype bfloat16 or
/// float16 (raw bits); other arrays convert to `dtype` when it differs from their own element type.
Napi::Value FromData(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) type_error(env, "data", "a typed array");
  const auto arr = info[0].As<Napi::TypedArray>();
  const auto shape = int_list_arg(info, 1, "shape");
  torch::ScalarType src;
  std::optional<torch::ScalarType> want;
  if (!is_missing(info, 2)) want = parse_dtype(env, string_arg(info, 2, "dtype"));
  switch (arr.TypedArrayType()) {
    case napi_float32_array: src = torch::kFloat; break;
    case napi_float64_array: src = torch::kDouble; break;
    case napi_int32_array: src = torch::kInt; break;
    case napi_int16_array: src = torch::kShort; break;
    case napi_int8_array: src = torch::kChar; break;
    case napi_bigint64_array: src = torch::kLong; break;
    case napi_uint8_array: src = (want == torch::kBool) ? torch::kBool : torch::kByte; break;
    case napi_uint16_array:
      if (want != torch::kBFloat16 && want != torch::kHalf)
        type_error(env, "dtype", "'bfloat16' or 'float16' for a Uint16Array (raw 16-bit values)");
      src = *want;
      break;
    default: type_error(env, "data", "a Float32Array, Float64Array, Int32Array, BigInt64Array, Uint8Array or Uint16Array");
  }
  int64_t n = 1;
  for (auto d : shape) n *= d;
  if (n != int64_t(arr.ElementLength()))
    throw Napi::RangeError::New(env, "shape holds " + std::to_string(n) + " elements but data has " +
                                         std::to_string(arr.ElementLength()));
  auto* ptr = static_cast<uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset();
  auto t = torch::from_blob(ptr, shape, torch::TensorOptions().dtype(src)).clone();
  if (want && *want != src) t = t.to(*want);
  if (!is_missing(info, 3)) t = t.to(parse_device(env, string_arg(info, 3, "device")));
  return TensorWrap::New(env, t);
}

/// fromBytes(bytes, shape, dtype, device?): reinterprets raw little-endian bytes (a safetensors payload).
Napi::Value FromBytes(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    type_error(env, "bytes", "a Uint8Array or Buffer");
  const auto arr = info[0].As<Napi::Uint8Array>();
  const auto shape = int_list_arg(info, 1, "shape");
  const auto dtype = parse_dtype(env, string_arg(info, 2, "dtype"));
  int64_t n = 1;
  for (auto d : shape) n *= d;
  const int64_t need = n * int64_t(c10::elementSize(dtype));
  if (need != int64_t(arr.ByteLength()))
    throw Napi::RangeError::New(env, "shape and dtype need " + std::to_string(need) + " bytes, got " +
                                         std::to_string(arr.ByteLength()));
  auto t = torch::from_blob(const_cast<uint8_t*>(arr.Data()), shape, torch::TensorOptions().dtype(dtype)).clone();
  if (!is_missing(info, 3)) t = t.to(parse_device(env, string_arg(info, 3, "device")));
  return TensorWrap::New(env, t);
}

/// readFile(path, offset, shape, dtype, device?) → Promise<Tensor>: reads a tensor's bytes straight from
/// a file (a safetensors shard) into tensor memory, off the JS thread.
Napi::Value ReadFile(const Napi::CallbackInfo& info) {
  const auto env = info.Env();
  const auto path = string_arg(info, 0, "path");
  const auto offset = int_arg(info, 1, "offset");
  const auto shape = int_list_arg(info, 2, "shape");
  const auto dtype = parse_dtype(env, string_arg(info, 3, "dtype"));
  const auto device = is_missing(info, 4) ? torch::Device(torch::kCPU) : parse_device(env, string_arg(info, 4, "device"));
  auto out = std::make_shared<torch::Tensor>();
  return TorchWorker::Run(
      env,
      [=] {
        auto t = torch::empty(shape, torch::TensorOptions().dtype(dtype));
        std::ifstream f(path, std::ios::binary);
        if (!f) throw std::runtime_error("cannot open " + path);
        f.seekg(offset);
        f.read(static_cast<char*>(t.data_ptr()), std::streamsize(t.nbytes()));
        if (f.gcount() != std::streamsize(t.nbytes()))
          throw std::runtime_error(path + ": file ends before the tensor at offset " + std::to_string(offset));
        *out = t.to(device);
      },
      [out](Napi::Env e) { return TensorWrap::New(e, *out); });
}

Napi::Value Zeros(const Napi::CallbackInfo& info) {
  return TensorWrap::New(info.Env(), torch::zeros(int_list_arg(info, 0, "shape"), options_from(info, 1, 2)));
}

Napi::Value Ones(const Napi::CallbackInfo& info) {
  return TensorWrap::New(info.Env(), torch::ones(int_list_arg(info, 0, "shape"), options_from(info, 1, 2)));
}

Napi::Value Full(const Napi::CallbackInfo& info) {
  return TensorWrap::New(info.Env(), torch::full(int_list_arg(info, 0, "shape"), number_arg(info, 1, "value"),
                                                 options_from(info, 2, 3)));
}

/// arange(start, end, step?, dtype? = int64, device?)
Napi::Value Arange(const Napi::CallbackInfo& info) {
  const double step = is_missing(info, 2) ? 1.0 : number_arg(info, 2, "step");
  return TensorWrap::New(info.Env(), torch::arange(number_arg(info, 0, "start"), number_arg(info, 1, "end"), step,
                                                   options_from(info, 3, 4, torch::kLong)));
}

Napi::Value Randn(const Napi::CallbackInfo& info) {
  return TensorWrap::New(info.Env(), torch::randn(int_list_arg(info, 0, "shape"), options_from(info, 1, 2)));
}

Napi::Value Rand(const Napi::CallbackInfo& info) {
  return TensorWrap::New(info.Env(), torch::rand(int_list_arg(info, 0, "shape"), options_from(info, 1, 2)));
}

/// randint(low, high, shape, device?) → int64
Napi::Value Randint(const Napi::CallbackInfo& info) {
  auto o = torch::TensorOptions().dtype(torch::kLong);
  if (!is_missing(info, 3)) o = o.device(parse_device(info.Env(), string_arg(info, 3, "device")));
  return TensorWrap::New(info.Env(), torch::randint(int_arg(info, 0, "low"), int_arg(info, 1, "high"),
                                                    int_list_arg(info, 2, "shape"), o));
}

}  // namespace

void register_tensor(Napi::Env env, Napi::Object exports) {
  auto ctor = TensorWrap::Define(env);
  addon_data(env).tensor_ctor = Napi::Persistent(ctor);
  exports.Set("NativeTensor", ctor);
  auto f = Napi::Object::New(env);
  f.Set("fromData", Napi::Function::New<guarded<FromData>>(env, "fromData"));
  f.Set("fromBytes", Napi::Function::New<guarded<FromBytes>>(env, "fromBytes"));
  f.Set("readFile", Napi::Function::New<guarded<ReadFile>>(env, "readFile"));
  f.Set("zeros", Napi::Function::New<guarded<Zeros>>(env, "zeros"));
  f.Set("ones", Napi::Function::New<guarded<Ones>>(env, "ones"));
  f.Set("full", Napi::Function::New<guarded<Full>>(env, "full"));
  f.Set("arange", Napi::Function::New<guarded<Arange>>(env, "arange"));
  f.Set("randn", Napi::Function::New<guarded<Randn>>(env, "randn"));
  f.Set("rand", Napi::Function::New<guarded<Rand>>(env, "rand"));
  f.Set("randint", Napi::Function::New<guarded<Randint>>(env, "randint"));
  exports.Set("factories", f);
}

}  // namespace spark::glue
