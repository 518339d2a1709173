// Entry point. Context-aware: each environment (main thread, worker) has its own tensor table as instance data.
#include "common.h"

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  i3d::InitTensorTable(env);
  i3d::RegisterTensor(env, exports);
  i3d::RegisterOps(env, exports);
  i3d::RegisterAutograd(env, exports);
  i3d::RegisterRuntime(env, exports);
  i3d::RegisterFlow(env, exports);
  i3d::RegisterPlan(env, exports);
  i3d::RegisterDist(env, exports);
  return exports;
}

NODE_API_MODULE(i3d_native, Init)
