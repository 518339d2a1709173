// Entry point. Context-aware (no global JS state), so it loads in the main thread and in worker threads.
#include "common.h"

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  i3d::RegisterTensor(env, exports);
  i3d::RegisterOps(env, exports);
  i3d::RegisterAutograd(env, exports);
  i3d::RegisterRuntime(env, exports);
  return exports;
}

NODE_API_MODULE(i3d_native, Init)
