// Autograd (backward, gradients, grad mode) and the optimizer step.
#include "common.h"

namespace i3d {
namespace {

// backward(t, grad?, retainGraph)
Thunk Backward(const Args& a) {
  auto t = a.T(0);
  auto g = a.OT(1);
  bool retain = a.B(2);
  return None([=] { t.backward(g.value_or(at::Tensor()), retain); });
}

Napi::Value Grad(const Napi::CallbackInfo& info) { return Wrap(info.Env(), ArgTensor(info[0]).grad()); }

Napi::Value RequiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), ArgTensor(info[0]).requires_grad());
}

Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  try {
    ArgTensor(info[0]).requires_grad_(info[1].As<Napi::Boolean>().Value());
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), ErrorText(e));
  }
  return info.Env().Undefined();
}

// zeroGrad(params): drops the gradients (set to none, as PyTorch's optimizer.zero_grad() does by default).
Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
  for (auto& p : Args(info).TL(0))
    if (p.defined()) p.mutable_grad().reset();
  return info.Env().Undefined();
}

Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled());
}

Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  at::GradMode::set_enabled(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

// sgdStep(params, buffers, lr, momentum, dampening, weightDecay, nesterov) -> buffers
// The algorithm of torch.optim.SGD: the momentum buffer starts as a copy of the first gradient.
// A buffer entry may be null (no step taken yet); the new buffers are returned for the caller to keep.
Thunk SgdStep(const Args& a) {
  auto params = a.TL(0);
  auto bufs = a.TL(1);
  double lr = a.D(2), momentum = a.D(3), dampening = a.D(4), wd = a.D(5);
  bool nesterov = a.B(6);
  if (bufs.size() != params.size()) throw std::invalid_argument("sgdStep: one buffer slot per parameter expected");
  return Many([=] {
    at::NoGradGuard ng;
    Outs out = bufs;
    for (size_t i = 0; i < params.size(); i++) {
      const at::Tensor& p = params[i];
      at::Tensor g = p.grad();
      if (!g.defined()) continue;
      at::Tensor d = wd != 0 ? g.add(p, wd) : g;
      if (momentum != 0) {
        if (!out[i].defined()) {
          out[i] = d.clone().detach();
        } else {
          out[i].mul_(momentum).add_(d, 1 - dampening);
        }
        d = nesterov ? d.add(out[i], momentum) : out[i];
      }
      p.add_(d, -lr);
    }
    return out;
  });
}

}  // namespace

void RegisterAutograd(Napi::Env env, Napi::Object exports) {
  I3D_EXPORT_OP(exports, env, "backward", Backward);
  I3D_EXPORT_OP(exports, env, "sgdStep", SgdStep);
  exports.Set("grad", Napi::Function::New(env, Grad, "grad"));
  exports.Set("requiresGrad", Napi::Function::New(env, RequiresGrad, "requiresGrad"));
  exports.Set("setRequiresGrad", Napi::Function::New(env, SetRequiresGrad, "setRequiresGrad"));
  exports.Set("zeroGrad", Napi::Function::New(env, ZeroGrad, "zeroGrad"));
  exports.Set("isGradEnabled", Napi::Function::New(env, IsGradEnabled, "isGradEnabled"));
  exports.Set("setGradEnabled", Napi::Function::New(env, SetGradEnabled, "setGradEnabled"));
}

}  // namespace i3d
