// Tensor math: each op reads its arguments, then returns a Thunk that runs now or in a worker.
#include "common.h"

namespace i3d {
namespace {

at::MemoryFormat Format(const std::string& name) {
  if (name == "channelsLast3d") return at::MemoryFormat::ChannelsLast3d;
  if (name == "channelsLast") return at::MemoryFormat::ChannelsLast;
  return at::MemoryFormat::Contiguous;
}

int64_t Reduction(const std::string& name) {
  if (name == "none") return at::Reduction::None;
  if (name == "sum") return at::Reduction::Sum;
  return at::Reduction::Mean;
}

// ---- shape and layout ----
Thunk Reshape(const Args& a) {
  auto x = a.T(0);
  auto s = a.IL(1);
  return One([=] { return x.reshape(s); });
}
Thunk View(const Args& a) {
  auto x = a.T(0);
  auto s = a.IL(1);
  return One([=] { return x.view(s); });
}
Thunk Permute(const Args& a) {
  auto x = a.T(0);
  auto d = a.IL(1);
  return One([=] { return x.permute(d); });
}
Thunk Transpose(const Args& a) {
  auto x = a.T(0);
  int64_t d0 = a.I(1), d1 = a.I(2);
  return One([=] { return x.transpose(d0, d1); });
}
Thunk Contiguous(const Args& a) {
  auto x = a.T(0);
  auto f = Format(a.S(1));
  return One([=] { return x.contiguous(f); });
}
Thunk Squeeze(const Args& a) {
  auto x = a.T(0);
  int64_t d = a.I(1);
  return One([=] { return x.squeeze(d); });
}
Thunk Unsqueeze(const Args& a) {
  auto x = a.T(0);
  int64_t d = a.I(1);
  return One([=] { return x.unsqueeze(d); });
}
Thunk Flatten(const Args& a) {
  auto x = a.T(0);
  int64_t s = a.I(1), e = a.I(2);
  return One([=] { return x.flatten(s, e); });
}
Thunk Expand(const Args& a) {
  auto x = a.T(0);
  auto s = a.IL(1);
  return One([=] { return x.expand(s); });
}
Thunk Narrow(const Args& a) {
  auto x = a.T(0);
  int64_t d = a.I(1), s = a.I(2), n = a.I(3);
  return One([=] { return x.narrow(d, s, n); });
}
Thunk Slice(const Args& a) {
  auto x = a.T(0);
  int64_t d = a.I(1), s = a.I(2), e = a.I(3), st = a.I(4);
  return One([=] { return x.slice(d, s, e, st); });
}
Thunk Cat(const Args& a) {
  auto l = a.TL(0);
  int64_t d = a.I(1);
  return One([=] { return at::cat(l, d); });
}
Thunk Stack(const Args& a) {
  auto l = a.TL(0);
  int64_t d = a.I(1);
  return One([=] { return at::stack(l, d); });
}
Thunk IndexSelect(const Args& a) {
  auto x = a.T(0);
  int64_t d = a.I(1);
  auto i = a.T(2);
  return One([=] { return x.index_select(d, i); });
}
Thunk Flip(const Args& a) {
  auto x = a.T(0);
  auto d = a.IL(1);
  return One([=] { return x.flip(d); });
}
Thunk Clone(const Args& a) {
  auto x = a.T(0);
  return One([=] { return x.clone(); });
}
Thunk Detach(const Args& a) {
  auto x = a.T(0);
  return One([=] { return x.detach(); });
}
// to(x, dtype | null, device | null)
Thunk To(const Args& a) {
  auto x = a.T(0);
  c10::optional<at::ScalarType> dt;
  c10::optional<c10::Device> dev;
  if (a.Has(1)) dt = a.Dtype(1);
  if (a.Has(2)) dev = c10::Device(a.S(2));
  return One([=] {
    at::Tensor y = x.is_mkldnn() ? x.to_dense() : x;
    if (dev) y = y.to(*dev);
    if (dt) y = y.to(*dt);
    return y;
  });
}

// ---- elementwise ----
// Each binary op has a tensor-tensor form `name` and a tensor-number form `nameScalar`
// (handles are numbers too, so the JS side picks the form).
#define I3D_BINARY(Name, expr_t, expr_s)     \
  Thunk Name(const Args& a) {                \
    auto x = a.T(0);                         \
    auto y = a.T(1);                         \
    return One([=] { return expr_t; });      \
  }                                          \
  Thunk Name##Scalar(const Args& a) {        \
    auto x = a.T(0);                         \
    at::Scalar y(a.D(1));                    \
    return One([=] { return expr_s; });      \
  }
I3D_BINARY(Add, at::add(x, y), at::add(x, y))
I3D_BINARY(Sub, at::sub(x, y), at::sub(x, y))
I3D_BINARY(Mul, at::mul(x, y), at::mul(x, y))
I3D_BINARY(Div, at::div(x, y), at::div(x, y))
I3D_BINARY(Pow, at::pow(x, y), at::pow(x, y))
I3D_BINARY(Eq, at::eq(x, y), at::eq(x, y))
I3D_BINARY(Ne, at::ne(x, y), at::ne(x, y))
I3D_BINARY(Lt, at::lt(x, y), at::lt(x, y))
I3D_BINARY(Le, at::le(x, y), at::le(x, y))
I3D_BINARY(Gt, at::gt(x, y), at::gt(x, y))
I3D_BINARY(Ge, at::ge(x, y), at::ge(x, y))
I3D_BINARY(Maximum, at::maximum(x, y), at::clamp_min(x, y))
I3D_BINARY(Minimum, at::minimum(x, y), at::clamp_max(x, y))
#undef I3D_BINARY

#define I3D_UNARY(Name, fn)          \
  Thunk Name(const Args& a) {        \
    auto x = a.T(0);                 \
    return One([=] { return fn(x); }); \
  }
I3D_UNARY(Neg, at::neg)
I3D_UNARY(Exp, at::exp)
I3D_UNARY(Log, at::log)
I3D_UNARY(Sqrt, at::sqrt)
I3D_UNARY(Abs, at::abs)
I3D_UNARY(Relu, at::relu)
I3D_UNARY(Sigmoid, at::sigmoid)
I3D_UNARY(Tanh, at::tanh)
I3D_UNARY(Floor, at::floor)
I3D_UNARY(Round, at::round)
I3D_UNARY(IsNan, at::isnan)
I3D_UNARY(IsFinite, at::isfinite)
#undef I3D_UNARY

Thunk Clamp(const Args& a) {
  auto x = a.T(0);
  c10::optional<at::Scalar> lo, hi;
  if (a.Has(1)) lo = at::Scalar(a.D(1));
  if (a.Has(2)) hi = at::Scalar(a.D(2));
  return One([=] { return at::clamp(x, lo, hi); });
}
Thunk Where(const Args& a) {
  auto c = a.T(0), x = a.T(1), y = a.T(2);
  return One([=] { return at::where(c, x, y); });
}

// ---- reductions ----
Thunk Sum(const Args& a) {
  auto x = a.T(0);
  bool all = !a.Has(1);
  auto d = all ? std::vector<int64_t>{} : a.IL(1);
  bool keep = a.B(2);
  return One([=] { return all ? x.sum() : x.sum(d, keep); });
}
Thunk Mean(const Args& a) {
  auto x = a.T(0);
  bool all = !a.Has(1);
  auto d = all ? std::vector<int64_t>{} : a.IL(1);
  bool keep = a.B(2);
  return One([=] { return all ? x.mean() : x.mean(d, keep); });
}
Thunk Max(const Args& a) {
  auto x = a.T(0);
  return One([=] { return x.max(); });
}
Thunk Min(const Args& a) {
  auto x = a.T(0);
  return One([=] { return x.min(); });
}
Thunk MaxDim(const Args& a) {
  auto x = a.T(0);
  int64_t d = a.I(1);
  bool keep = a.B(2);
  return Two([=] { return x.max(d, keep); });
}
Thunk Argmax(const Args& a) {
  auto x = a.T(0);
  int64_t d = a.I(1);
  bool keep = a.B(2);
  return One([=] { return x.argmax(d, keep); });
}
Thunk Topk(const Args& a) {
  auto x = a.T(0);
  int64_t k = a.I(1), d = a.I(2);
  bool largest = a.B(3);
  return Two([=] { return x.topk(k, d, largest, true); });
}
Thunk Norm(const Args& a) {
  auto x = a.T(0);
  return One([=] { return x.norm(); });
}

// ---- linear algebra and neural-network ops ----
Thunk Matmul(const Args& a) {
  auto x = a.T(0), y = a.T(1);
  return One([=] { return at::matmul(x, y); });
}
Thunk Linear(const Args& a) {
  auto x = a.T(0), w = a.T(1);
  auto b = a.OT(2);
  return One([=] { return at::linear(x, w, b); });
}
// conv3d(x, w, b?, stride, padding, dilation, groups): x [N, C, T, H, W], w [O, C/groups, kt, kh, kw]
Thunk Conv3d(const Args& a) {
  auto x = a.T(0), w = a.T(1);
  auto b = a.OT(2);
  auto s = a.IL(3), p = a.IL(4), d = a.IL(5);
  int64_t g = a.I(6);
  return One([=] {
    // float32 on the CPU goes to oneDNN's convolution whatever the shape: at::conv3d's own heuristic sends batch-1
    // inputs with small kernels or few elements to slow_conv3d (im2col and the system BLAS, up to 40x slower).
    // Autograd follows (mkldnn_convolution's derivative is convolution_backward).
    const bool onednn = at::hasMKLDNN() && at::globalContext().userEnabledMkldnn() && x.dim() == 5 && x.device().is_cpu() &&
                        !x.is_mkldnn() && x.scalar_type() == at::kFloat && w.scalar_type() == at::kFloat &&
                        (!b.has_value() || !b->defined() || b->scalar_type() == at::kFloat);
    if (onednn) return at::mkldnn_convolution(x, w, b, p, s, d, g);
    return at::conv3d(x, w, b, s, p, d, g);
  });
}
// pad(x, pads, value): pads as in torch.nn.functional.pad, last dimension first: [left, right, top, bottom, ...]
Thunk Pad(const Args& a) {
  auto x = a.T(0);
  auto p = a.IL(1);
  double v = a.D(2);
  return One([=] { return at::constant_pad_nd(x, p, v); });
}
// batchNorm(x, weight?, bias?, runningMean?, runningVar?, training, momentum, eps)
Thunk BatchNorm(const Args& a) {
  auto x = a.T(0);
  auto w = a.OT(1), b = a.OT(2), rm = a.OT(3), rv = a.OT(4);
  bool training = a.B(5);
  double momentum = a.D(6), eps = a.D(7);
  return One([=] { return at::batch_norm(x, w, b, rm, rv, training, momentum, eps, true); });
}
Thunk MaxPool3d(const Args& a) {
  auto x = a.T(0);
  auto k = a.IL(1), s = a.IL(2), p = a.IL(3);
  bool ceil = a.B(4);
  return One([=] { return at::max_pool3d(x, k, s, p, {1, 1, 1}, ceil); });
}
Thunk AvgPool3d(const Args& a) {
  auto x = a.T(0);
  auto k = a.IL(1), s = a.IL(2), p = a.IL(3);
  bool ceil = a.B(4), countPad = a.B(5);
  return One([=] { return at::avg_pool3d(x, k, s, p, ceil, countPad); });
}
Thunk Softmax(const Args& a) {
  auto x = a.T(0);
  int64_t d = a.I(1);
  return One([=] { return at::softmax(x, d); });
}
Thunk LogSoftmax(const Args& a) {
  auto x = a.T(0);
  int64_t d = a.I(1);
  return One([=] { return at::log_softmax(x, d); });
}
Thunk Dropout(const Args& a) {
  auto x = a.T(0);
  double p = a.D(1);
  bool train = a.B(2);
  return One([=] { return at::dropout(x, p, train); });
}
// lstm(x, [h0, c0], params, numLayers, dropout, train, bidirectional, batchFirst) -> [output, hN, cN]
// params per layer (and direction): w_ih [4H, I], w_hh [4H, H], b_ih [4H], b_hh [4H]; gates i, f, g, o.
Thunk Lstm(const Args& a) {
  auto x = a.T(0);
  auto hx = a.TL(1);
  auto params = a.TL(2);
  int64_t layers = a.I(3);
  double dropout = a.D(4);
  bool train = a.B(5), bidi = a.B(6), batchFirst = a.B(7);
  return Three([=] { return at::lstm(x, hx, params, true, layers, dropout, train, bidi, batchFirst); });
}
// crossEntropy(logits [N, C], target (int64 class indices [N] or float probabilities [N, C]), weight?, reduction, labelSmoothing)
Thunk CrossEntropy(const Args& a) {
  auto x = a.T(0), y = a.T(1);
  auto w = a.OT(2);
  int64_t r = Reduction(a.S(3));
  double ls = a.D(4);
  return One([=] { return at::cross_entropy_loss(x, y, w, r, -100, ls); });
}
Thunk MseLoss(const Args& a) {
  auto x = a.T(0), y = a.T(1);
  int64_t r = Reduction(a.S(2));
  return One([=] { return at::mse_loss(x, y, r); });
}

// ---- in place (no autograd history is expected: callers run these under noGrad) ----
Thunk AddInPlace(const Args& a) {
  auto x = a.T(0), y = a.T(1);
  double alpha = a.D(2);
  return None([=] { x.add_(y, alpha); });
}
Thunk MulInPlace(const Args& a) {
  auto x = a.T(0);
  double s = a.D(1);
  return None([=] { x.mul_(s); });
}
Thunk CopyInPlace(const Args& a) {
  auto x = a.T(0), y = a.T(1);
  return None([=] { x.copy_(y); });
}
Thunk FillInPlace(const Args& a) {
  auto x = a.T(0);
  double v = a.D(1);
  return None([=] { x.fill_(v); });
}
Thunk UniformInPlace(const Args& a) {
  auto x = a.T(0);
  double lo = a.D(1), hi = a.D(2);
  return None([=] { x.uniform_(lo, hi); });
}
Thunk NormalInPlace(const Args& a) {
  auto x = a.T(0);
  double m = a.D(1), s = a.D(2);
  return None([=] { x.normal_(m, s); });
}

}  // namespace

void RegisterOps(Napi::Env env, Napi::Object exports) {
  I3D_EXPORT_OP(exports, env, "reshape", Reshape);
  I3D_EXPORT_OP(exports, env, "view", View);
  I3D_EXPORT_OP(exports, env, "permute", Permute);
  I3D_EXPORT_OP(exports, env, "transpose", Transpose);
  I3D_EXPORT_OP(exports, env, "contiguous", Contiguous);
  I3D_EXPORT_OP(exports, env, "squeeze", Squeeze);
  I3D_EXPORT_OP(exports, env, "unsqueeze", Unsqueeze);
  I3D_EXPORT_OP(exports, env, "flatten", Flatten);
  I3D_EXPORT_OP(exports, env, "expand", Expand);
  I3D_EXPORT_OP(exports, env, "narrow", Narrow);
  I3D_EXPORT_OP(exports, env, "slice", Slice);
  I3D_EXPORT_OP(exports, env, "cat", Cat);
  I3D_EXPORT_OP(exports, env, "stack", Stack);
  I3D_EXPORT_OP(exports, env, "indexSelect", IndexSelect);
  I3D_EXPORT_OP(exports, env, "flip", Flip);
  I3D_EXPORT_OP(exports, env, "clone", Clone);
  I3D_EXPORT_OP(exports, env, "detach", Detach);
  I3D_EXPORT_OP(exports, env, "to", To);
  I3D_EXPORT_OP(exports, env, "add", Add);
  I3D_EXPORT_OP(exports, env, "addScalar", AddScalar);
  I3D_EXPORT_OP(exports, env, "sub", Sub);
  I3D_EXPORT_OP(exports, env, "subScalar", SubScalar);
  I3D_EXPORT_OP(exports, env, "mul", Mul);
  I3D_EXPORT_OP(exports, env, "mulScalar", MulScalar);
  I3D_EXPORT_OP(exports, env, "div", Div);
  I3D_EXPORT_OP(exports, env, "divScalar", DivScalar);
  I3D_EXPORT_OP(exports, env, "pow", Pow);
  I3D_EXPORT_OP(exports, env, "powScalar", PowScalar);
  I3D_EXPORT_OP(exports, env, "eq", Eq);
  I3D_EXPORT_OP(exports, env, "eqScalar", EqScalar);
  I3D_EXPORT_OP(exports, env, "ne", Ne);
  I3D_EXPORT_OP(exports, env, "neScalar", NeScalar);
  I3D_EXPORT_OP(exports, env, "lt", Lt);
  I3D_EXPORT_OP(exports, env, "ltScalar", LtScalar);
  I3D_EXPORT_OP(exports, env, "le", Le);
  I3D_EXPORT_OP(exports, env, "leScalar", LeScalar);
  I3D_EXPORT_OP(exports, env, "gt", Gt);
  I3D_EXPORT_OP(exports, env, "gtScalar", GtScalar);
  I3D_EXPORT_OP(exports, env, "ge", Ge);
  I3D_EXPORT_OP(exports, env, "geScalar", GeScalar);
  I3D_EXPORT_OP(exports, env, "maximum", Maximum);
  I3D_EXPORT_OP(exports, env, "maximumScalar", MaximumScalar);
  I3D_EXPORT_OP(exports, env, "minimum", Minimum);
  I3D_EXPORT_OP(exports, env, "minimumScalar", MinimumScalar);
  I3D_EXPORT_OP(exports, env, "neg", Neg);
  I3D_EXPORT_OP(exports, env, "exp", Exp);
  I3D_EXPORT_OP(exports, env, "log", Log);
  I3D_EXPORT_OP(exports, env, "sqrt", Sqrt);
  I3D_EXPORT_OP(exports, env, "abs", Abs);
  I3D_EXPORT_OP(exports, env, "relu", Relu);
  I3D_EXPORT_OP(exports, env, "sigmoid", Sigmoid);
  I3D_EXPORT_OP(exports, env, "tanh", Tanh);
  I3D_EXPORT_OP(exports, env, "floor", Floor);
  I3D_EXPORT_OP(exports, env, "round", Round);
  I3D_EXPORT_OP(exports, env, "isNan", IsNan);
  I3D_EXPORT_OP(exports, env, "isFinite", IsFinite);
  I3D_EXPORT_OP(exports, env, "clamp", Clamp);
  I3D_EXPORT_OP(exports, env, "where", Where);
  I3D_EXPORT_OP(exports, env, "sum", Sum);
  I3D_EXPORT_OP(exports, env, "mean", Mean);
  I3D_EXPORT_OP(exports, env, "max", Max);
  I3D_EXPORT_OP(exports, env, "min", Min);
  I3D_EXPORT_OP(exports, env, "maxDim", MaxDim);
  I3D_EXPORT_OP(exports, env, "argmax", Argmax);
  I3D_EXPORT_OP(exports, env, "topk", Topk);
  I3D_EXPORT_OP(exports, env, "norm", Norm);
  I3D_EXPORT_OP(exports, env, "matmul", Matmul);
  I3D_EXPORT_OP(exports, env, "linear", Linear);
  I3D_EXPORT_OP(exports, env, "conv3d", Conv3d);
  I3D_EXPORT_OP(exports, env, "pad", Pad);
  I3D_EXPORT_OP(exports, env, "batchNorm", BatchNorm);
  I3D_EXPORT_OP(exports, env, "maxPool3d", MaxPool3d);
  I3D_EXPORT_OP(exports, env, "avgPool3d", AvgPool3d);
  I3D_EXPORT_OP(exports, env, "softmax", Softmax);
  I3D_EXPORT_OP(exports, env, "logSoftmax", LogSoftmax);
  I3D_EXPORT_OP(exports, env, "dropout", Dropout);
  I3D_EXPORT_OP(exports, env, "lstm", Lstm);
  I3D_EXPORT_OP(exports, env, "crossEntropy", CrossEntropy);
  I3D_EXPORT_OP(exports, env, "mseLoss", MseLoss);
  I3D_EXPORT_OP(exports, env, "addInPlace", AddInPlace);
  I3D_EXPORT_OP(exports, env, "mulInPlace", MulInPlace);
  I3D_EXPORT_OP(exports, env, "copyInPlace", CopyInPlace);
  I3D_EXPORT_OP(exports, env, "fillInPlace", FillInPlace);
  I3D_EXPORT_OP(exports, env, "uniformInPlace", UniformInPlace);
  I3D_EXPORT_OP(exports, env, "normalInPlace", NormalInPlace);
}

}  // namespace i3d
