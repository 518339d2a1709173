// Inference plans on oneDNN: a fixed list of convolutions (batch norm already folded into weights and bias by
// TypeScript, ReLU fused as a post-op) and max pools over activation buffers kept in oneDNN's blocked channel
// layout (nCdhw16c on AVX-512, nCdhw8c on AVX2: TypeScript chooses from the ISA oneDNN runs) from the first convolution
// to the last, built once per input shape and reused across calls.
// An Inception block's branches write straight into their channel range of the block's output buffer, so the
// concatenation costs nothing. Weights are reordered once, at build time, into the layout each convolution wants.
// The model's structure comes from TypeScript (src/inference/i3d-plan.ts); this file only knows steps and buffers.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.h"

namespace i3d {
namespace {

using dnnl::memory;
using Dims = memory::dims;
using Tag = memory::format_tag;
using Dt = memory::data_type;

dnnl::engine& Cpu() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}


struct Buffer {
  Dims dims;  // {1, C, D, H, W}
  memory::desc md;
  at::Tensor storage;  // one of the plan's storages (shared with buffers whose lifetimes do not overlap)
  char* data() const { return static_cast<char*>(storage.data_ptr()); }
};

// One primitive and its arguments; memories whose handle changes per sample are set before each run.
struct Step {
  dnnl::primitive prim;
  std::unordered_map<int, memory> args;
  std::string impl;
};

struct Plan {
  Dt dt = Dt::f32;
  int64_t block = 16;  // channels per block: 16 (nCdhw16c) or 8 (nCdhw8c)
  Tag tag = Tag::nCdhw16c;
  Dims inputDims;     // {1, C, T, H, W}
  memory userInput;   // f32 ndhwc over the caller's tensor (handle set per sample)
  memory inputMem;    // what the first convolution reads (userInput itself, or a converted copy)
  bool convertInput = false;
  dnnl::reorder inputReorder;
  std::vector<at::Tensor> storages;  // bytes, 64-byte aligned by libtorch's allocator
  std::vector<Buffer> buffers;
  std::vector<Step> steps;
  int outputBuffer = -1;
  memory userOutput;  // f32 ncdhw over the result tensor (handle set per sample)
  dnnl::reorder outputReorder;
  std::mutex mutex;   // buffers are shared: one run at a time
};

Dims ReadDims(const Napi::Value& v) {
  auto a = v.As<Napi::Array>();
  Dims d;
  for (uint32_t k = 0; k < a.Length(); k++) d.push_back(a.Get(k).As<Napi::Number>().Int64Value());
  return d;
}

int64_t Volume(const Dims& d, size_t from) {
  int64_t n = 1;
  for (size_t k = from; k < d.size(); k++) n *= d[k];
  return n;
}

size_t ElementSize(Dt dt) { return dt == Dt::f32 ? 4 : 2; }

// The memory a step writes: the whole buffer, or channels [offset, offset + channels) of it. In nCdhw16c (or 8c) with
// batch 1, a range of whole channel blocks is contiguous, so it is a dense memory at an offset.
memory Slice(const Plan& p, int id, int64_t offset, int64_t channels) {
  const Buffer& b = p.buffers.at(id);
  if (offset < 0 || offset + channels > b.dims[1]) throw std::runtime_error("plan: channel range outside its buffer");
  const bool whole = offset == 0 && channels == b.dims[1];
  if (!whole && (offset % p.block != 0 || (channels % p.block != 0 && offset + channels != b.dims[1])))
    throw std::runtime_error("plan: a channel range of a buffer must start and end on a block of " + std::to_string(p.block) +
                             " channels");
  Dims d = b.dims;
  d[1] = channels;
  memory::desc md(d, p.dt, p.tag);
  char* at = b.data() + offset * Volume(b.dims, 2) * ElementSize(p.dt);
  return memory(md, Cpu(), at);
}

memory Source(const Plan& p, int id) {
  if (id < 0) return p.inputMem;
  const Buffer& b = p.buffers.at(id);
  return memory(b.md, Cpu(), b.data());
}

// A float32 tensor argument (contiguous, `dims` elements) as an f32 memory over its data (no copy).
memory TensorMemory(const Napi::Value& v, const Dims& dims, Tag tag, at::Tensor& keep) {
  keep = ArgTensor(v);
  memory::desc md(dims, Dt::f32, tag);
  if (keep.scalar_type() != at::kFloat || !keep.is_contiguous() || !keep.device().is_cpu() ||
      static_cast<size_t>(keep.numel()) * 4 != md.get_size())
    throw std::runtime_error("plan: a weight must be a contiguous float32 CPU tensor of the step's shape");
  return memory(md, Cpu(), keep.data_ptr());
}

void Reorder(dnnl::stream& s, memory& from, memory& to) { dnnl::reorder(from, to).execute(s, from, to); }

// When a primitive wants another layout than the buffer has, it reads or writes a scratch copy in its own.
struct Adapted {
  memory mem;
  bool copy = false;
};
Adapted Adapt(const memory& have, const memory::desc& want) {
  if (have.get_desc() == want) return {have, false};
  return {memory(want, Cpu()), true};
}

void AddStep(Plan& p, dnnl::primitive prim, std::unordered_map<int, memory> args, const std::string& impl) {
  p.steps.push_back(Step{std::move(prim), std::move(args), impl});
}

// Adds `prim` with its source and destination adapted (reorders before and after) when their layouts differ.
template <typename PD>
void AddAdapted(Plan& p, const PD& pd, dnnl::primitive prim, memory src, memory dst, std::unordered_map<int, memory> args) {
  Adapted s = Adapt(src, pd.src_desc());
  Adapted d = Adapt(dst, pd.dst_desc());
  if (s.copy) AddStep(p, dnnl::reorder(src, s.mem), {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, s.mem}}, "reorder (source)");
  args[DNNL_ARG_SRC] = s.mem;
  args[DNNL_ARG_DST] = d.mem;
  AddStep(p, prim, std::move(args), pd.impl_info_str());
  if (d.copy) AddStep(p, dnnl::reorder(d.mem, dst), {{DNNL_ARG_FROM, d.mem}, {DNNL_ARG_TO, dst}}, "reorder (destination)");
}

void AddConv(Plan& p, const Napi::Object& s, dnnl::stream& strm) {
  const int src = s.Get("src").As<Napi::Number>().Int32Value();
  const int dst = s.Get("dst").As<Napi::Number>().Int32Value();
  const int64_t offset = s.Get("offset").As<Napi::Number>().Int64Value();
  const Dims wdims = ReadDims(s.Get("weightShape"));  // {O, I, kd, kh, kw}
  memory srcMem = Source(p, src);
  memory dstMem = Slice(p, dst, offset, wdims[0]);
  if (srcMem.get_desc().dims()[1] != wdims[1]) throw std::runtime_error("plan: convolution input channels do not match its source");
  memory::desc wAny(wdims, p.dt, Tag::any);
  memory::desc bMd({wdims[0]}, Dt::f32, Tag::x);
  // The first convolution (3 or 2 input channels) may want its source in another layout: let oneDNN choose.
  memory::desc srcMd = src < 0 ? memory::desc(srcMem.get_desc().dims(), p.dt, Tag::any) : srcMem.get_desc();
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, srcMd, wAny, bMd,
                                    dstMem.get_desc(), ReadDims(s.Get("stride")), ReadDims(s.Get("padL")), ReadDims(s.Get("padR")));
  dnnl::primitive_attr attr;
  if (s.Get("relu").As<Napi::Boolean>().Value()) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(po);
  }
  dnnl::convolution_forward::primitive_desc pd(d, attr, Cpu());
  at::Tensor wt, bt;
  memory userW = TensorMemory(s.Get("weight"), wdims, Tag::oidhw, wt);
  memory w(pd.weights_desc(), Cpu());
  Reorder(strm, userW, w);
  memory userB = TensorMemory(s.Get("bias"), {wdims[0]}, Tag::x, bt);
  memory b(bMd, Cpu());
  Reorder(strm, userB, b);
  strm.wait();  // the reorders read the tensors, which this function holds
  AddAdapted(p, pd, dnnl::convolution_forward(pd), srcMem, dstMem, {{DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}});
}

void AddMaxPool(Plan& p, const Napi::Object& s) {
  const int src = s.Get("src").As<Napi::Number>().Int32Value();
  const int dst = s.Get("dst").As<Napi::Number>().Int32Value();
  memory srcMem = Source(p, src);
  memory dstMem = Slice(p, dst, s.Get("offset").As<Napi::Number>().Int64Value(), srcMem.get_desc().dims()[1]);
  // Max pooling ignores padded positions: TensorFlow's 'SAME' max pool (padding with -inf).
  dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, srcMem.get_desc(),
                                dstMem.get_desc(), ReadDims(s.Get("stride")), ReadDims(s.Get("kernel")), ReadDims(s.Get("padL")),
                                ReadDims(s.Get("padR")));
  dnnl::pooling_forward::primitive_desc pd(d, Cpu());
  AddAdapted(p, pd, dnnl::pooling_forward(pd), srcMem, dstMem, {});
}

// What JavaScript holds. The plan's bytes (buffers and weights) are reported to V8 while it holds them, so that a
// forgotten plan is collected as promptly as the memory it keeps.
struct PlanHolder {
  std::shared_ptr<Plan> plan;
  int64_t reported = 0;
  void Release(Napi::Env env) {
    plan.reset();
    if (reported) Napi::MemoryManagement::AdjustExternalMemory(env, -reported);
    reported = 0;
  }
};

int64_t PlanBytes(const Plan& p) {
  int64_t n = 0;
  for (const auto& s : p.storages) n += s.numel();
  for (const auto& st : p.steps) {
    auto w = st.args.find(DNNL_ARG_WEIGHTS);
    if (w != st.args.end()) n += static_cast<int64_t>(w->second.get_desc().get_size());
  }
  return n;
}

// planCreate({precision: 'f32'|'bf16', block: 8|16, input: [C, T, H, W], buffers: [{dims: [C, D, H, W], storage}...], steps,
// output})
Napi::Value PlanCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    EnsureThreads();
    auto spec = info[0].As<Napi::Object>();
    auto p = std::make_shared<Plan>();
    const std::string precision = spec.Get("precision").As<Napi::String>().Utf8Value();
    if (precision != "f32" && precision != "bf16") throw std::runtime_error("plan: precision must be f32 or bf16");
    p->dt = precision == "bf16" ? Dt::bf16 : Dt::f32;
    p->block = spec.Get("block").As<Napi::Number>().Int64Value();
    if (p->block != 8 && p->block != 16) throw std::runtime_error("plan: block must be 8 or 16");
    p->tag = p->block == 16 ? Tag::nCdhw16c : Tag::nCdhw8c;
    Dims in = ReadDims(spec.Get("input"));
    p->inputDims = {1, in[0], in[1], in[2], in[3]};
    p->userInput = memory(memory::desc(p->inputDims, Dt::f32, Tag::ndhwc), Cpu(), DNNL_MEMORY_NONE);
    p->convertInput = p->dt != Dt::f32;
    if (p->convertInput) {
      p->inputMem = memory(memory::desc(p->inputDims, p->dt, Tag::ndhwc), Cpu());
      p->inputReorder = dnnl::reorder(p->userInput, p->inputMem);
    } else {
      p->inputMem = p->userInput;
    }
    // Buffers share storages (the caller's lifetimes); each storage is as large as its largest buffer. Not zeroed:
    // every buffer is written whole (the padding channels of a last partial block too: oneDNN zero-fills them)
    // before any step reads it.
    auto bufs = spec.Get("buffers").As<Napi::Array>();
    std::vector<int> storageOf;
    std::vector<size_t> storageBytes;
    for (uint32_t k = 0; k < bufs.Length(); k++) {
      auto o = bufs.Get(k).As<Napi::Object>();
      Dims d = ReadDims(o.Get("dims"));
      Buffer b;
      b.dims = {1, d[0], d[1], d[2], d[3]};
      b.md = memory::desc(b.dims, p->dt, p->tag);
      const int s = o.Get("storage").As<Napi::Number>().Int32Value();
      if (s < 0) throw std::runtime_error("plan: negative storage index");
      if (static_cast<size_t>(s) >= storageBytes.size()) storageBytes.resize(s + 1, 0);
      storageBytes[s] = std::max(storageBytes[s], b.md.get_size());
      storageOf.push_back(s);
      p->buffers.push_back(std::move(b));
    }
    for (size_t s = 0; s < storageBytes.size(); s++)
      p->storages.push_back(at::empty({static_cast<int64_t>(storageBytes[s])}, at::kByte));
    for (size_t k = 0; k < p->buffers.size(); k++) p->buffers[k].storage = p->storages[storageOf[k]];
    dnnl::stream strm(Cpu());
    auto steps = spec.Get("steps").As<Napi::Array>();
    for (uint32_t k = 0; k < steps.Length(); k++) {
      auto s = steps.Get(k).As<Napi::Object>();
      const std::string op = s.Get("op").As<Napi::String>().Utf8Value();
      if (op == "conv")
        AddConv(*p, s, strm);
      else if (op == "maxpool")
        AddMaxPool(*p, s);
      else
        throw std::runtime_error("plan: unknown step " + op);
    }
    strm.wait();
    p->outputBuffer = spec.Get("output").As<Napi::Number>().Int32Value();
    const Buffer& out = p->buffers.at(p->outputBuffer);
    p->userOutput = memory(memory::desc(out.dims, Dt::f32, Tag::ncdhw), Cpu(), DNNL_MEMORY_NONE);
    memory outMem(out.md, Cpu(), out.data());
    p->outputReorder = dnnl::reorder(outMem, p->userOutput);
    p->steps.push_back(Step{p->outputReorder, {{DNNL_ARG_FROM, outMem}, {DNNL_ARG_TO, p->userOutput}}, "reorder (output)"});
    auto* holder = new PlanHolder{p, PlanBytes(*p)};
    Napi::MemoryManagement::AdjustExternalMemory(env, holder->reported);
    return Napi::External<PlanHolder>::New(env, holder, [](Napi::Env e, PlanHolder* h) {
      h->Release(e);
      delete h;
    });
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, ErrorText(e));
  }
}

std::shared_ptr<Plan> ArgPlan(const Napi::Value& v) {
  if (!v.IsExternal()) throw std::runtime_error("plan: not a plan handle");
  auto p = v.As<Napi::External<PlanHolder>>().Data()->plan;
  if (!p) throw std::runtime_error("plan: this plan was freed");
  return p;
}

// planFree(plan): releases the plan's weights and buffers now (a run in flight keeps them until it ends).
Napi::Value PlanFree(const Napi::CallbackInfo& info) {
  if (info[0].IsExternal()) info[0].As<Napi::External<PlanHolder>>().Data()->Release(info.Env());
  return info.Env().Undefined();
}

// planRun(plan, clips): clips float32 [B, T, H, W, C] contiguous; returns the output buffer as [B, C, D, H, W] f32.
Thunk ParsePlanRun(const Args& a) {
  auto p = ArgPlan(a.info[0]);
  at::Tensor x = a.T(1);
  if (x.scalar_type() != at::kFloat || !x.is_contiguous() || x.dim() != 5 || !x.device().is_cpu())
    throw std::runtime_error("plan: clips must be a contiguous float32 CPU tensor [B, T, H, W, C]");
  const auto& d = p->inputDims;  // {1, C, T, H, W}
  if (x.size(1) != d[2] || x.size(2) != d[3] || x.size(3) != d[4] || x.size(4) != d[1])
    throw std::runtime_error("plan: clips do not have the shape this plan was built for");
  return One([p, x]() {
    std::lock_guard<std::mutex> lock(p->mutex);
    const Dims& od = p->buffers.at(p->outputBuffer).dims;
    at::Tensor out = at::empty({x.size(0), od[1], od[2], od[3], od[4]}, at::kFloat);
    dnnl::stream s(Cpu());
    const int64_t inStride = Volume(p->inputDims, 1), outStride = Volume(od, 1);
    for (int64_t i = 0; i < x.size(0); i++) {
      p->userInput.set_data_handle(x.data_ptr<float>() + i * inStride);
      p->userOutput.set_data_handle(out.data_ptr<float>() + i * outStride);
      if (p->convertInput) p->inputReorder.execute(s, p->userInput, p->inputMem);
      for (auto& st : p->steps) st.prim.execute(s, st.args);
      s.wait();
    }
    return out;
  });
}

// planInfo(plan): the implementation oneDNN chose for each step (e.g. "brg:avx512_core", "jit:avx512_core").
Napi::Value PlanInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = ArgPlan(info[0]);
  auto out = Napi::Array::New(env, p->steps.size());
  for (size_t k = 0; k < p->steps.size(); k++) out.Set(static_cast<uint32_t>(k), p->steps[k].impl);
  return out;
}

// maxPool3dInference(x, kernel, stride, padL, padR): max pooling of a float32 CPU tensor [N, C, D, H, W]
// (contiguous or channels-last-3d; the result keeps its memory format) on oneDNN's kernel, without indices (no
// backward: TypeScript uses it only where no gradient flows). Padding, asymmetric as TensorFlow's 'SAME' wants, is
// excluded from the max (padding with -inf). Where oneDNN has only its reference kernel, libtorch's runs instead.
Thunk ParseMaxPool3dInference(const Args& a) {
  at::Tensor x = a.T(0);
  const Dims k = a.IL(1), s = a.IL(2), pl = a.IL(3), pr = a.IL(4);
  if (x.scalar_type() != at::kFloat || x.dim() != 5 || !x.device().is_cpu())
    throw std::runtime_error("maxPool3dInference: x must be a float32 CPU tensor [N, C, D, H, W]");
  return One([=]() {
    bool cl = !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast3d);
    Dims src = x.sizes().vec(), dst = src;
    for (int i = 0; i < 3; i++) {
      const int64_t span = src[2 + i] + pl[i] + pr[i] - k[i];
      if (span < 0) throw std::runtime_error("maxPool3dInference: kernel larger than the padded input");
      dst[2 + i] = span / s[i] + 1;
    }
    auto describe = [&](bool channelsLast) {
      const Tag tag = channelsLast ? Tag::ndhwc : Tag::ncdhw;
      dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, memory::desc(src, Dt::f32, tag),
                                    memory::desc(dst, Dt::f32, tag), s, k, pl, pr);
      return dnnl::pooling_forward::primitive_desc(d, Cpu());  // oneDNN's primitive cache makes repeats cheap
    };
    const bool wantCl = cl;  // the result keeps the input's memory format
    auto pd = describe(cl);
    // oneDNN has jit kernels for every pool in channels-last, not in plain layout (e.g. 1x3x3 stride 2: "simple_nchw",
    // several times slower than copying to channels-last, the jit kernel, and copying the smaller result back).
    if (!cl && std::string(pd.impl_info_str()).rfind("jit", 0) != 0) {
      auto other = describe(true);
      if (std::string(other.impl_info_str()).rfind("jit", 0) == 0) {
        pd = other;
        cl = true;
      }
    }
    const at::Tensor in = x.contiguous(cl ? at::MemoryFormat::ChannelsLast3d : at::MemoryFormat::Contiguous);
    const memory::desc srcMd = pd.src_desc(), dstMd = pd.dst_desc();
    if (std::string(pd.impl_info_str()).rfind("ref", 0) == 0) {
      const float inf = std::numeric_limits<float>::infinity();
      at::Tensor padded = at::constant_pad_nd(in, {pl[2], pr[2], pl[1], pr[1], pl[0], pr[0]}, -inf);
      return at::max_pool3d(padded, k, s, {0, 0, 0}, {1, 1, 1}, false);
    }
    at::Tensor out = at::empty(dst, in.options().memory_format(cl ? at::MemoryFormat::ChannelsLast3d : at::MemoryFormat::Contiguous));
    memory srcMem(srcMd, Cpu(), in.data_ptr()), dstMem(dstMd, Cpu(), out.data_ptr());
    dnnl::stream strm(Cpu());
    dnnl::pooling_forward(pd).execute(strm, {{DNNL_ARG_SRC, srcMem}, {DNNL_ARG_DST, dstMem}});
    strm.wait();
    return cl == wantCl ? out : out.contiguous();
  });
}

const char* IsaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::all: return "all";
    default: return "unknown";
  }
}

// onednnFacts(): {version: '2.6.3', isa: the instruction set oneDNN's kernels use here (the CPU's, or less under
// ONEDNN_MAX_CPU_ISA)}.
Napi::Value OnednnFacts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const dnnl_version_t* v = dnnl_version();
  auto out = Napi::Object::New(env);
  out.Set("version", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
  out.Set("isa", IsaName(dnnl::get_effective_cpu_isa()));
  return out;
}

}  // namespace

void RegisterPlan(Napi::Env env, Napi::Object exports) {
  exports.Set("planCreate", Napi::Function::New(env, PlanCreate, "planCreate"));
  exports.Set("planInfo", Napi::Function::New(env, PlanInfo, "planInfo"));
  exports.Set("planFree", Napi::Function::New(env, PlanFree, "planFree"));
  exports.Set("onednnFacts", Napi::Function::New(env, OnednnFacts, "onednnFacts"));
  I3D_EXPORT_OP(exports, env, "planRun", ParsePlanRun);
  I3D_EXPORT_OP(exports, env, "maxPool3dInference", ParseMaxPool3dInference);
}

}  // namespace i3d
