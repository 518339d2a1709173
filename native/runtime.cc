// Process-level settings and facts: threads, seeds, versions, CUDA.
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/csrc/api/include/torch/version.h>

#include <atomic>
#include <thread>

#include "common.h"

namespace i3d {
namespace {

std::atomic<int> gThreads{0};  // 0: not set from JS yet
thread_local int tThreads = -1;

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  int n = info[0].As<Napi::Number>().Int32Value();
  gThreads = n;
  EnsureThreads();
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  EnsureThreads();
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  at::manual_seed(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  return info.Env().Undefined();
}

Napi::Value Facts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("torchVersion", TORCH_VERSION);
  o.Set("cudaAvailable", at::hasCUDA());
  o.Set("cudaDeviceCount", at::hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0);
  o.Set("mkldnn", at::hasMKLDNN());
  o.Set("openmp", at::hasOpenMP());
  o.Set("hardwareConcurrency", static_cast<double>(std::thread::hardware_concurrency()));
  o.Set("config", at::show_config());
  o.Set("parallelInfo", at::get_parallel_info());
  return o;
}

}  // namespace

void EnsureThreads() {
  int want = gThreads.load();
  if (want > 0 && tThreads != want) {
    at::set_num_threads(want);
    tThreads = want;
  }
}

void RegisterRuntime(Napi::Env env, Napi::Object exports) {
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  exports.Set("manualSeed", Napi::Function::New(env, ManualSeed, "manualSeed"));
  exports.Set("facts", Napi::Function::New(env, Facts, "facts"));
}

}  // namespace i3d
