// spark_torch: the export table of the libtorch addon (DESIGN.md section 6). Each glue/*.cc registers its
// own exports; services/trainer/native/index.ts is the only loader and declares their types.
#include "glue/common.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new spark::glue::AddonData());
  spark::glue::register_system(env, exports);  // first: malloc, CPU allocator and thread settings
  spark::glue::register_tensor(env, exports);  // NativeTensor, factories
  spark::glue::register_ops(env, exports);     // ops
  spark::glue::register_model(env, exports);   // NativeLlama, NativeKvCache
  spark::glue::register_optim(env, exports);   // NativeAdamW, clipGradNorm
  return exports;
}

}  // namespace

NODE_API_MODULE(spark_torch, Init)
