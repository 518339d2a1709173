// Shared machinery of the addon: tensor handles, argument readers, and the sync/async op runner.
// Arguments are validated in TypeScript; this side only converts values and libtorch exceptions.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace i3d {

// A JavaScript tensor handle is a number: a slot in this environment's (main thread's or worker's) tensor
// table plus a generation, so that a stale handle never reaches a reused slot. dispose() frees the slot; no
// N-API object or finalizer is made per tensor (Node defers those to the event loop, so a synchronous
// training loop would pile them up). The JS side frees forgotten tensors through a FinalizationRegistry.
struct Slot {
  at::Tensor t;
  int64_t bytes = 0;  // what was reported to V8 with napi_adjust_external_memory
  uint32_t gen = 0;
};
struct TensorTable {
  std::vector<Slot> slots;
  std::vector<uint32_t> free;
};

Napi::Value Wrap(Napi::Env env, at::Tensor t);  // an undefined tensor becomes null
at::Tensor ArgTensor(const Napi::Value& v);
void InitTensorTable(Napi::Env env);
at::ScalarType ParseDtype(const std::string& name);
std::string DtypeName(at::ScalarType t);

using Outs = std::vector<at::Tensor>;

// What an op does, with its arguments already read on the JS thread: run now, or in a libuv worker.
struct Thunk {
  std::function<Outs()> fn;
  bool multi = false;  // return an array of tensors instead of one tensor
  bool none = false;   // return undefined (in-place ops)
};

template <typename F>
Thunk One(F f) {
  return Thunk{[f]() { return Outs{f()}; }, false, false};
}
template <typename F>
Thunk Many(F f) {
  return Thunk{[f]() { return Outs(f()); }, true, false};
}
template <typename F>
Thunk Two(F f) {
  return Thunk{[f]() {
                 auto r = f();
                 return Outs{std::get<0>(r), std::get<1>(r)};
               },
               true, false};
}
template <typename F>
Thunk Three(F f) {
  return Thunk{[f]() {
                 auto r = f();
                 return Outs{std::get<0>(r), std::get<1>(r), std::get<2>(r)};
               },
               true, false};
}
template <typename F>
Thunk None(F f) {
  return Thunk{[f]() {
                 f();
                 return Outs{};
               },
               false, true};
}

// Reads positional arguments.
struct Args {
  const Napi::CallbackInfo& info;
  explicit Args(const Napi::CallbackInfo& i) : info(i) {}
  bool Has(size_t k) const { return k < info.Length() && !info[k].IsUndefined() && !info[k].IsNull(); }
  at::Tensor T(size_t k) const { return ArgTensor(info[k]); }
  c10::optional<at::Tensor> OT(size_t k) const {
    if (!Has(k)) return c10::nullopt;
    return ArgTensor(info[k]);
  }
  int64_t I(size_t k) const { return info[k].As<Napi::Number>().Int64Value(); }
  double D(size_t k) const { return info[k].As<Napi::Number>().DoubleValue(); }
  bool B(size_t k) const { return info[k].As<Napi::Boolean>().Value(); }
  std::string S(size_t k) const { return info[k].As<Napi::String>().Utf8Value(); }
  at::ScalarType Dtype(size_t k) const { return ParseDtype(S(k)); }
  std::vector<int64_t> IL(size_t k) const;
  std::vector<at::Tensor> TL(size_t k) const;
};

Napi::Value WrapOuts(Napi::Env env, const Thunk& th, Outs& outs);
void EnsureThreads();  // applies the thread count set from JS to the calling thread (OpenMP is per thread)
std::string ErrorText(const std::exception& e);

using Parser = Thunk (*)(const Args&);

template <Parser P>
Napi::Value RunSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    Thunk th = P(Args(info));
    Outs outs = th.fn();
    return WrapOuts(env, th, outs);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, ErrorText(e));
  }
}

class OpWorker : public Napi::AsyncWorker {
 public:
  OpWorker(Napi::Env env, Thunk th)
      : Napi::AsyncWorker(env, "i3d.op"),
        th_(std::move(th)),
        grad_(at::GradMode::is_enabled()),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }
  void Execute() override {
    try {
      EnsureThreads();
      at::AutoGradMode mode(grad_);
      outs_ = th_.fn();
    } catch (const std::exception& e) {
      SetError(ErrorText(e));
    }
  }
  void OnOK() override { deferred_.Resolve(WrapOuts(Env(), th_, outs_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Thunk th_;
  Outs outs_;
  bool grad_;
  Napi::Promise::Deferred deferred_;
};

template <Parser P>
Napi::Value RunAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Thunk th;
  try {
    th = P(Args(info));
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, ErrorText(e));
  }
  auto* w = new OpWorker(env, std::move(th));
  w->Queue();
  return w->Promise();
}

// Exports `name` (runs now) and `nameAsync` (returns a Promise, runs in the libuv pool).
#define I3D_EXPORT_OP(exports, env, name, parser)                                     \
  do {                                                                                \
    exports.Set(name, Napi::Function::New(env, ::i3d::RunSync<parser>, name));        \
    exports.Set(name "Async", Napi::Function::New(env, ::i3d::RunAsync<parser>, name)); \
  } while (0)

void RegisterTensor(Napi::Env env, Napi::Object exports);
void RegisterOps(Napi::Env env, Napi::Object exports);
void RegisterAutograd(Napi::Env env, Napi::Object exports);
void RegisterRuntime(Napi::Env env, Napi::Object exports);
void RegisterFlow(Napi::Env env, Napi::Object exports);  // OpenCV TV-L1 optical flow (native/flow.cc)
void RegisterPlan(Napi::Env env, Napi::Object exports);  // oneDNN inference plans (native/plan.cc)
void RegisterDist(Napi::Env env, Napi::Object exports);  // c10d process groups, collectives (native/dist.cc)

}  // namespace i3d
