// Tensor handles: wrapping, disposal, memory accounting, typed-array copies in and out, metadata.
#include <cmath>
#include <cstring>

#include "common.h"

namespace i3d {

namespace {

int64_t ByteSize(const at::Tensor& t) { return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : 0; }

constexpr double kSlotSpan = 16777216.0;  // 2^24 slots; the generation goes above

TensorTable& Table(Napi::Env env) { return *env.GetInstanceData<TensorTable>(); }

// The live slot a handle names, or null when the handle is stale (already disposed).
Slot* Lookup(const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), "expected a native tensor handle");
  double id = v.As<Napi::Number>().DoubleValue();
  auto& tab = Table(v.Env());
  auto index = static_cast<size_t>(std::fmod(id, kSlotSpan));
  auto gen = static_cast<uint32_t>(id / kSlotSpan);
  if (index >= tab.slots.size()) return nullptr;
  Slot& s = tab.slots[index];
  return s.gen == gen && s.t.defined() ? &s : nullptr;
}

const struct {
  const char* name;
  at::ScalarType type;
} kDtypes[] = {
    {"float32", at::kFloat}, {"float64", at::kDouble}, {"bfloat16", at::kBFloat16}, {"float16", at::kHalf},
    {"int64", at::kLong},    {"int32", at::kInt},      {"uint8", at::kByte},         {"bool", at::kBool},
};

}  // namespace

at::ScalarType ParseDtype(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return d.type;
  throw std::invalid_argument("unknown dtype '" + name + "'");
}

std::string DtypeName(at::ScalarType t) {
  for (const auto& d : kDtypes)
    if (t == d.type) return d.name;
  return c10::toString(t);
}

std::string ErrorText(const std::exception& e) {
  if (auto* ce = dynamic_cast<const c10::Error*>(&e)) return ce->what_without_backtrace();
  return e.what();
}

void InitTensorTable(Napi::Env env) { env.SetInstanceData<TensorTable>(new TensorTable()); }

Napi::Value Wrap(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Null();
  auto& tab = Table(env);
  uint32_t index;
  if (!tab.free.empty()) {
    index = tab.free.back();
    tab.free.pop_back();
  } else {
    if (tab.slots.size() >= static_cast<size_t>(kSlotSpan)) throw std::runtime_error("too many live tensors (2^24)");
    index = static_cast<uint32_t>(tab.slots.size());
    tab.slots.emplace_back();
  }
  Slot& s = tab.slots[index];
  s.t = std::move(t);
  s.bytes = ByteSize(s.t);
  if (s.bytes) Napi::MemoryManagement::AdjustExternalMemory(env, s.bytes);
  return Napi::Number::New(env, s.gen * kSlotSpan + index);
}

at::Tensor ArgTensor(const Napi::Value& v) {
  Slot* s = Lookup(v);
  if (!s) throw Napi::Error::New(v.Env(), "tensor was disposed");
  return s->t;
}

std::vector<int64_t> Args::IL(size_t k) const {
  auto a = info[k].As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out[i] = a.Get(i).As<Napi::Number>().Int64Value();
  return out;
}

std::vector<at::Tensor> Args::TL(size_t k) const {
  auto a = info[k].As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    out.push_back(v.IsNull() || v.IsUndefined() ? at::Tensor() : ArgTensor(v));
  }
  return out;
}

Napi::Value WrapOuts(Napi::Env env, const Thunk& th, Outs& outs) {
  if (th.none) return env.Undefined();
  if (!th.multi) return Wrap(env, std::move(outs.at(0)));
  auto arr = Napi::Array::New(env, outs.size());
  for (size_t i = 0; i < outs.size(); i++) arr.Set(static_cast<uint32_t>(i), Wrap(env, std::move(outs[i])));
  return arr;
}

namespace {

// dispose(handle): frees the tensor now. A stale handle is ignored (idempotent).
Napi::Value Dispose(const Napi::CallbackInfo& info) {
  Slot* s = Lookup(info[0]);
  if (s) {
    if (s->bytes) Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -s->bytes);
    s->bytes = 0;
    s->t = at::Tensor();
    s->gen = (s->gen + 1) % (1u << 28);
    auto& tab = Table(info.Env());
    tab.free.push_back(static_cast<uint32_t>(s - tab.slots.data()));
  }
  return info.Env().Undefined();
}

Napi::Value IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), Lookup(info[0]) == nullptr); }

// liveCount(): tensors held in this environment's table.
Napi::Value LiveCount(const Napi::CallbackInfo& info) {
  auto& tab = Table(info.Env());
  return Napi::Number::New(info.Env(), static_cast<double>(tab.slots.size() - tab.free.size()));
}

// fromBuffer(typedArray, shape, dtype, device?): copies the bytes into a new tensor.
Napi::Value FromBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    Args a(info);
    auto view = info[0].As<Napi::TypedArray>();
    auto shape = a.IL(1);
    auto dtype = a.Dtype(2);
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
    size_t want = static_cast<size_t>(t.numel()) * t.element_size();
    if (view.ByteLength() != want)
      throw std::invalid_argument("buffer holds " + std::to_string(view.ByteLength()) + " bytes, the shape needs " +
                                  std::to_string(want));
    auto* src = static_cast<uint8_t*>(view.ArrayBuffer().Data()) + view.ByteOffset();
    if (want) std::memcpy(t.data_ptr(), src, want);
    if (a.Has(3)) t = t.to(c10::Device(a.S(3)));
    return Wrap(env, t);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, ErrorText(e));
  }
}

// toBuffer(handle): a new ArrayBuffer with the tensor's values in row-major order (on the CPU).
// bfloat16 and float16 come back as float32, bool as uint8.
Napi::Value ToBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    at::Tensor t = ArgTensor(info[0]).detach();
    if (t.scalar_type() == at::kBFloat16 || t.scalar_type() == at::kHalf) t = t.to(at::kFloat);
    if (t.is_mkldnn()) t = t.to_dense();
    t = t.to(at::kCPU).contiguous();
    size_t n = static_cast<size_t>(t.numel()) * t.element_size();
    auto buf = Napi::ArrayBuffer::New(env, n);
    if (n) std::memcpy(buf.Data(), t.data_ptr(), n);
    return buf;
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, ErrorText(e));
  }
}

Napi::Value Shape(const Napi::CallbackInfo& info) {
  at::Tensor t = ArgTensor(info[0]);
  auto arr = Napi::Array::New(info.Env(), t.dim());
  for (int64_t i = 0; i < t.dim(); i++) arr.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), t.size(i)));
  return arr;
}

Napi::Value Strides(const Napi::CallbackInfo& info) {
  at::Tensor t = ArgTensor(info[0]);
  auto arr = Napi::Array::New(info.Env(), t.dim());
  for (int64_t i = 0; i < t.dim(); i++) arr.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), t.stride(i)));
  return arr;
}

Napi::Value Dtype(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), DtypeName(ArgTensor(info[0]).scalar_type()));
}

Napi::Value Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), ArgTensor(info[0]).device().str());
}

Napi::Value IsContiguous(const Napi::CallbackInfo& info) {
  at::Tensor t = ArgTensor(info[0]);
  bool cl = info.Length() > 1 && info[1].IsString() && info[1].As<Napi::String>().Utf8Value() == "channelsLast3d";
  return Napi::Boolean::New(info.Env(), t.is_contiguous(cl ? at::MemoryFormat::ChannelsLast3d : at::MemoryFormat::Contiguous));
}

// externalMemory(): the total of native memory this isolate has been told about (ours included).
Napi::Value ExternalMemory(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Napi::MemoryManagement::AdjustExternalMemory(info.Env(), 0)));
}

Napi::Value Nbytes(const Napi::CallbackInfo& info) {
  Slot* s = Lookup(info[0]);
  return Napi::Number::New(info.Env(), s ? static_cast<double>(s->bytes) : 0.0);
}

// Creation ops (options: dtype, device).
at::TensorOptions Opts(const Args& a, size_t k) {
  auto o = at::TensorOptions().dtype(a.Dtype(k));
  if (a.Has(k + 1)) o = o.device(c10::Device(a.S(k + 1)));
  return o;
}
Thunk Zeros(const Args& a) {
  auto s = a.IL(0);
  auto o = Opts(a, 1);
  return One([=] { return at::zeros(s, o); });
}
Thunk Ones(const Args& a) {
  auto s = a.IL(0);
  auto o = Opts(a, 1);
  return One([=] { return at::ones(s, o); });
}
Thunk Full(const Args& a) {
  auto s = a.IL(0);
  double v = a.D(1);
  auto o = Opts(a, 2);
  return One([=] { return at::full(s, v, o); });
}
Thunk Randn(const Args& a) {
  auto s = a.IL(0);
  auto o = Opts(a, 1);
  return One([=] { return at::randn(s, o); });
}
Thunk Rand(const Args& a) {
  auto s = a.IL(0);
  auto o = Opts(a, 1);
  return One([=] { return at::rand(s, o); });
}
Thunk Randperm(const Args& a) {
  int64_t n = a.I(0);
  return One([=] { return at::randperm(n, at::kLong); });
}
Thunk Arange(const Args& a) {
  double start = a.D(0), end = a.D(1), step = a.D(2);
  auto o = Opts(a, 3);
  return One([=] { return at::arange(start, end, step, o); });
}

}  // namespace

void RegisterTensor(Napi::Env env, Napi::Object exports) {
  exports.Set("dispose", Napi::Function::New(env, Dispose, "dispose"));
  exports.Set("isDisposed", Napi::Function::New(env, IsDisposed, "isDisposed"));
  exports.Set("liveCount", Napi::Function::New(env, LiveCount, "liveCount"));
  exports.Set("externalMemory", Napi::Function::New(env, ExternalMemory, "externalMemory"));
  exports.Set("fromBuffer", Napi::Function::New(env, FromBuffer, "fromBuffer"));
  exports.Set("toBuffer", Napi::Function::New(env, ToBuffer, "toBuffer"));
  exports.Set("shape", Napi::Function::New(env, Shape, "shape"));
  exports.Set("strides", Napi::Function::New(env, Strides, "strides"));
  exports.Set("dtype", Napi::Function::New(env, Dtype, "dtype"));
  exports.Set("device", Napi::Function::New(env, Device, "device"));
  exports.Set("isContiguous", Napi::Function::New(env, IsContiguous, "isContiguous"));
  exports.Set("nbytes", Napi::Function::New(env, Nbytes, "nbytes"));
  I3D_EXPORT_OP(exports, env, "zeros", Zeros);
  I3D_EXPORT_OP(exports, env, "ones", Ones);
  I3D_EXPORT_OP(exports, env, "full", Full);
  I3D_EXPORT_OP(exports, env, "randn", Randn);
  I3D_EXPORT_OP(exports, env, "rand", Rand);
  I3D_EXPORT_OP(exports, env, "randperm", Randperm);
  I3D_EXPORT_OP(exports, env, "arange", Arange);
}

}  // namespace i3d
