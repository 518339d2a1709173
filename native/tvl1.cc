// Our TV-L1 optical flow: the algorithm of OpenCV's cv::optflow::DualTVL1OpticalFlow (opencv_contrib tvl1flow.cpp,
// after Sánchez Pérez, Meinhardt-Llopis and Facciolo) with gamma = 0, written for speed:
// - the same pyramid (bilinear resize by scaleStep with OpenCV's pixel-centre mapping and clamped borders; levels
//   smaller than 16 px stop it), the same warping (bicubic remap with a = -0.75, sample positions rounded to 1/32 px
//   as cv::remap does, zero outside the image), the same centred/forward differences and their borders, the same
//   thresholding, median filter (replicated border) and stopping rule (sum of squared changes of u <= epsilon^2 * area,
//   tested after every inner iteration: the sum is fused into the update, so it costs a few instructions per pixel);
// - float32 throughout; one inner iteration is one sweep over the rows (thresholding, divergence, primal step, then
//   the dual step one row behind), so each array is read and written once per iteration instead of a dozen passes;
// - vectorised for AVX-512 and AVX2+FMA, with a baseline x86-64 fallback, chosen at run time (never assumed at build
//   time); $I3D_FLOW_ISA = avx512 | avx2 | scalar caps the choice.
// One pair runs on the calling thread: pairs run in parallel in libuv's pool, one thread each.
#include "tvl1.h"

#include <immintrin.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

#define TVL1_INLINE static inline __attribute__((always_inline))
#define TVL1_HOT static __attribute__((noinline))

namespace i3d {
namespace tvl1 {
namespace {

// ---- median selection networks (built at compile time) ----

struct Cmp {
  int a = 0, b = 0;  // a < b: after the exchange r[a] <= r[b]
  int kind = 0;      // 0: both outputs used, 1: only the min (r[a]), 2: only the max (r[b])
};
struct Net {
  Cmp c[256] = {};
  int n = 0;
};

// Knuth's merge exchange (TAOCP 5.2.2, Algorithm M) sorts any n; pruned backwards to the comparators the element
// `want` of the sorted order depends on.
constexpr Net MakeMedianNet(int n, int want) {
  Net all;
  int t = 0;
  while ((1 << t) < n) t++;
  for (int p = 1 << (t - 1); p > 0; p >>= 1) {
    int q = 1 << (t - 1), r = 0, d = p;
    for (;;) {
      for (int i = 0; i < n - d; i++)
        if ((i & p) == r) all.c[all.n++] = Cmp{i, i + d, 0};
      if (q == p) break;
      d = q - p;
      q >>= 1;
      r = p;
    }
  }
  bool need[32] = {};
  need[want] = true;
  Net rev;
  for (int k = all.n - 1; k >= 0; k--) {
    Cmp c = all.c[k];
    const bool na = need[c.a], nb = need[c.b];
    if (!na && !nb) continue;
    c.kind = na && nb ? 0 : na ? 1 : 2;
    need[c.a] = need[c.b] = true;
    rev.c[rev.n++] = c;
  }
  Net out;
  for (int k = rev.n - 1; k >= 0; k--) out.c[out.n++] = rev.c[k];
  return out;
}
constexpr Net kMedian25 = MakeMedianNet(25, 12);
constexpr Net kMedian9 = MakeMedianNet(9, 4);

// ---- what a sweep needs ----

struct SweepArgs {
  int h = 0, S = 0, stride = 0;  // rows; columns processed (width rounded up to 16); floats per row
  float *u1, *u2, *p11, *p12, *p21, *p22;
  const float *ix, *iy, *invGrad, *rhoC;  // warped gradient of I1, 1 / |grad|^2, constant part of rho
  const float* notLastCol;                // per column: all bits set for x < width - 1, else 0
  const float* real;                      // per column: all bits set for x < width, else 0
  const float* zeroRow;                   // the row above row 0 of p12, p22
  float lt, theta, taut;
};

struct WarpArgs {
  int w = 0, h = 0, ustride = 0, istride = 0;
  const float *u1, *u2, *i0;  // u planes (stride ustride), I0 (stride w)
  const float* img;           // interleaved (I1, I1x, I1y, 0) at pixel (0, 0), zero border of 3 px, istride floats/row
  const float (*wx)[16];      // bicubic x weights per 1/32 px, each repeated for the 4 interleaved values
  const float (*wy)[4];
  float *ix, *iy, *invGrad, *rhoC;  // outputs (stride ustride)
};

// cv::remap's rounding of a float map to 1/32 px: saturate_cast<int>(v * 32) (round to nearest even), then the
// integer part saturated to a short.
static inline void Round32(float mx, float my, int& X, int& Y) {
  const float lim = 1048000.f;  // keeps X >> 5 inside a short
  X = _mm_cvtss_si32(_mm_set_ss(std::min(std::max(mx * 32.f, -lim), lim)));
  Y = _mm_cvtss_si32(_mm_set_ss(std::min(std::max(my * 32.f, -lim), lim)));
}

}  // namespace

#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx2,fma")
#define TVL1_ISA 2
namespace {
#include "tvl1_simd.inc"
}
#undef TVL1_ISA
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define TVL1_ISA 1
namespace {
#include "tvl1_simd.inc"
}
#undef TVL1_ISA
#pragma GCC pop_options

#define TVL1_ISA 0
namespace {
#include "tvl1_simd.inc"
}
#undef TVL1_ISA

namespace {

struct Kernels {
  double (*sweep)(const SweepArgs&);
  void (*median)(const float*, int, float*, int, int, int, int);
  void (*warp)(const WarpArgs&);
};
Kernels KernelsFor(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return {avx512::Sweep, avx512::Median, avx512::Warp};
    case Isa::kAvx2:
      return {avx2::Sweep, avx2::Median, avx2::Warp};
    default:
      return {scalar::Sweep, scalar::Median, scalar::Warp};
  }
}

constexpr int kAlign = 16;  // floats: rows and the processed width are multiples of 64 bytes

// A float image with kAlign columns of zeros left of column 0 and at least kAlign right of the processed width.
struct Plane {
  int w = 0, h = 0, S = 0, stride = 0;
  std::vector<float> mem;
  float* origin = nullptr;
  Plane() = default;
  Plane(int width, int height) { Reset(width, height); }
  Plane(const Plane& o) : Plane(o.w, o.h) {
    for (int y = 0; y < h; y++) std::memcpy(row(y) - kAlign, o.row(y) - kAlign, sizeof(float) * stride);
  }
  Plane& operator=(const Plane&) = delete;
  Plane(Plane&&) = default;
  Plane& operator=(Plane&&) = default;
  void Reset(int width, int height) {
    w = width;
    h = height;
    S = (w + kAlign - 1) / kAlign * kAlign;
    stride = S + 2 * kAlign;
    mem.assign(static_cast<size_t>(stride) * h + 2 * kAlign, 0.f);
    float* base = mem.data();
    while (reinterpret_cast<uintptr_t>(base) % 64) base++;
    origin = base + kAlign;
  }
  float* row(int y) { return origin + static_cast<ptrdiff_t>(y) * stride; }
  const float* row(int y) const { return origin + static_cast<ptrdiff_t>(y) * stride; }
};

// A plain w x h image (the pyramid).
struct Image {
  int w = 0, h = 0;
  std::vector<float> px;
  float at(int y, int x) const { return px[static_cast<size_t>(y) * w + x]; }
};

// cv::resize(INTER_LINEAR) for float images: pixel centres mapped by (d + 0.5) * scale - 0.5, the source index and
// its weight clamped at the borders. `get(y, x)` reads the source, `put(y, x, v)` writes.
template <class Get, class Put>
void ResizeLinear(int sw, int sh, int dw, int dh, double invScaleX, double invScaleY, Get get, Put put) {
  const double sx = 1. / invScaleX, sy = 1. / invScaleY;
  std::vector<int> x0(dw), x1(dw);
  std::vector<float> ax(dw);
  for (int d = 0; d < dw; d++) {
    float f = static_cast<float>((d + 0.5) * sx - 0.5);
    int i = static_cast<int>(std::floor(f));
    f -= static_cast<float>(i);
    if (i < 0) f = 0, i = 0;
    if (i >= sw - 1) f = 0, i = sw - 1;
    x0[d] = i;
    x1[d] = std::min(i + 1, sw - 1);
    ax[d] = f;
  }
  std::vector<float> r0(dw), r1(dw);
  for (int d = 0; d < dh; d++) {
    float f = static_cast<float>((d + 0.5) * sy - 0.5);
    int i = static_cast<int>(std::floor(f));
    f -= static_cast<float>(i);
    if (i < 0) f = 0, i = 0;
    if (i >= sh - 1) f = 0, i = sh - 1;
    const int j = std::min(i + 1, sh - 1);
    for (int x = 0; x < dw; x++) {
      const float a1 = ax[x], a0 = 1.f - a1;
      r0[x] = get(i, x0[x]) * a0 + get(i, x1[x]) * a1;
      r1[x] = get(j, x0[x]) * a0 + get(j, x1[x]) * a1;
    }
    const float b1 = f, b0 = 1.f - f;
    for (int x = 0; x < dw; x++) put(d, x, r0[x] * b0 + r1[x] * b1);
  }
}

// cv::remap's bicubic weights (a = -0.75) at the 32 sub-pixel positions it rounds to.
struct CubicTable {
  float w[32][4];
  CubicTable() {
    for (int i = 0; i < 32; i++) {
      const float x = i * (1.f / 32), A = -0.75f;
      w[i][0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
      w[i][1] = ((A + 2) * x - (A + 3)) * x * x + 1;
      w[i][2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
      w[i][3] = 1.f - w[i][0] - w[i][1] - w[i][2];
    }
  }
};
const CubicTable kCubic;
struct CubicX16 {
  float w[32][16];
  CubicX16() {
    for (int i = 0; i < 32; i++)
      for (int j = 0; j < 16; j++) w[i][j] = j % 4 == 3 ? 0.f : kCubic.w[i][j / 4];
  }
};
const CubicX16 kCubicX16;

// I1 and its gradient interleaved per pixel (I1, I1x, I1y, 0) with a zero border of 3 px (the warp's layout).
struct Interleaved {
  int istride = 0;
  std::vector<float> mem;
  const float* origin = nullptr;
  void Build(const Image& i1, const Image& gx, const Image& gy) {
    const int w = i1.w, h = i1.h;
    istride = (w + 6) * 4;
    mem.assign(static_cast<size_t>(istride) * (h + 6), 0.f);
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        float* d = &mem[static_cast<size_t>(y + 3) * istride + (x + 3) * 4];
        d[0] = i1.at(y, x);
        d[1] = gx.at(y, x);
        d[2] = gy.at(y, x);
      }
    origin = mem.data() + 3 * istride + 12;
  }
};

// Centred differences with one-sided (halved) differences at the borders, as OpenCV's centeredGradient.
void CentredGradient(const Image& s, Image& dx, Image& dy) {
  const int w = s.w, h = s.h;
  dx = Image{w, h, std::vector<float>(s.px.size())};
  dy = Image{w, h, std::vector<float>(s.px.size())};
  for (int y = 0; y < h; y++) {
    const int yu = std::max(y - 1, 0), yd = std::min(y + 1, h - 1);
    for (int x = 0; x < w; x++) {
      const int xl = std::max(x - 1, 0), xr = std::min(x + 1, w - 1);
      dx.px[static_cast<size_t>(y) * w + x] = 0.5f * (s.at(y, xr) - s.at(y, xl));
      dy.px[static_cast<size_t>(y) * w + x] = 0.5f * (s.at(yd, x) - s.at(yu, x));
    }
  }
}

// u's k x k median with a replicated border (cv::medianBlur on float), in place.
void MedianInPlace(const Kernels& k, Plane& u, int size, std::vector<float>& scratch) {
  const int r = size / 2, pw = u.S + 2 * r + 2 * kAlign, ph = u.h + 2 * r;
  scratch.resize(static_cast<size_t>(pw) * ph);
  for (int y = -r; y < u.h + r; y++) {
    const float* src = u.row(std::min(std::max(y, 0), u.h - 1));
    float* dst = &scratch[static_cast<size_t>(y + r) * pw + r];
    for (int x = -r; x < u.S + r + kAlign; x++) dst[x] = src[std::min(std::max(x, 0), u.w - 1)];
  }
  k.median(&scratch[static_cast<size_t>(r) * pw + r], pw, u.origin, u.stride, u.S, u.h, size);
}

}  // namespace

Isa BestIsa() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
  return Isa::kScalar;
}

Isa ChooseIsa(const std::string& request) {
  std::string want = request;
  if (want.empty() || want == "auto") {
    const char* env = std::getenv("I3D_FLOW_ISA");
    want = env ? env : "";
    if (want.empty() || want == "auto") return BestIsa();
    Isa cap;
    if (want == "avx512") cap = Isa::kAvx512;
    else if (want == "avx2") cap = Isa::kAvx2;
    else if (want == "scalar") cap = Isa::kScalar;
    else throw std::invalid_argument("I3D_FLOW_ISA must be avx512, avx2, scalar or auto, got '" + want + "'");
    return static_cast<Isa>(std::min(static_cast<int>(cap), static_cast<int>(BestIsa())));
  }
  Isa cap;
  if (want == "avx512") cap = Isa::kAvx512;
  else if (want == "avx2") cap = Isa::kAvx2;
  else if (want == "scalar") cap = Isa::kScalar;
  else throw std::invalid_argument("flow ISA must be avx512, avx2, scalar or auto, got '" + want + "'");
  return static_cast<Isa>(std::min(static_cast<int>(cap), static_cast<int>(BestIsa())));
}

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx2:
      return "avx2";
    default:
      return "scalar";
  }
}

void Flow(const float* in0, const float* in1, int width, int height, const Params& p, Isa isa, float* flow) {
  if (width < 2 || height < 2) throw std::invalid_argument("tvl1: frames must be at least 2 x 2");
  const Kernels k = KernelsFor(isa);
  // The pyramid: level s + 1 is level s resized by scaleStep (size rounded to nearest), until a side is below 16.
  std::vector<Image> I0(1), I1(1);
  I0[0] = Image{width, height, std::vector<float>(in0, in0 + static_cast<size_t>(width) * height)};
  I1[0] = Image{width, height, std::vector<float>(in1, in1 + static_cast<size_t>(width) * height)};
  for (int s = 1; s < p.scales; s++) {
    const Image& a = I0[s - 1];
    const int w = static_cast<int>(std::lrint(a.w * p.scaleStep)), h = static_cast<int>(std::lrint(a.h * p.scaleStep));
    if (w < 16 || h < 16) break;
    Image n0{w, h, std::vector<float>(static_cast<size_t>(w) * h)}, n1 = n0;
    const Image& b = I1[s - 1];
    ResizeLinear(
        a.w, a.h, w, h, p.scaleStep, p.scaleStep, [&](int y, int x) { return a.at(y, x); },
        [&](int y, int x, float v) { n0.px[static_cast<size_t>(y) * w + x] = v; });
    ResizeLinear(
        b.w, b.h, w, h, p.scaleStep, p.scaleStep, [&](int y, int x) { return b.at(y, x); },
        [&](int y, int x, float v) { n1.px[static_cast<size_t>(y) * w + x] = v; });
    I0.push_back(std::move(n0));
    I1.push_back(std::move(n1));
  }
  const int scales = static_cast<int>(I0.size());
  const float lt = static_cast<float>(p.lambda * p.theta), taut = static_cast<float>(p.tau / p.theta);
  const float theta = static_cast<float>(p.theta);

  Plane u1(I0[scales - 1].w, I0[scales - 1].h), u2 = u1;
  Plane p11, p12, p21, p22, ix, iy, ig, rc;
  std::vector<float> scratch, masks, zeros;
  Image gx, gy;
  Interleaved img;
  for (int s = scales - 1; s >= 0; s--) {
    const Image& i0 = I0[s];
    const Image& i1 = I1[s];
    const int w = i0.w, h = i0.h;
    for (Plane* q : {&p11, &p12, &p21, &p22, &ix, &iy, &ig, &rc}) q->Reset(w, h);
    CentredGradient(i1, gx, gy);
    img.Build(i1, gx, gy);
    const int S = u1.S;
    masks.assign(2 * static_cast<size_t>(S + kAlign), 0.f);
    float* notLast = masks.data();
    float* real = notLast + S + kAlign;
    const uint32_t ones = 0xffffffffu;
    for (int x = 0; x < w; x++) {
      if (x < w - 1) std::memcpy(&notLast[x], &ones, 4);
      std::memcpy(&real[x], &ones, 4);
    }
    zeros.assign(static_cast<size_t>(u1.stride) + kAlign, 0.f);
    SweepArgs a;
    a.h = h;
    a.S = S;
    a.stride = u1.stride;
    a.u1 = u1.origin;
    a.u2 = u2.origin;
    a.p11 = p11.origin;
    a.p12 = p12.origin;
    a.p21 = p21.origin;
    a.p22 = p22.origin;
    a.ix = ix.origin;
    a.iy = iy.origin;
    a.invGrad = ig.origin;
    a.rhoC = rc.origin;
    a.notLastCol = notLast;
    a.real = real;
    a.zeroRow = zeros.data() + kAlign;
    a.lt = lt;
    a.theta = theta;
    a.taut = taut;
    const double eps = static_cast<float>(p.epsilon * p.epsilon * w * h);
    for (int warp = 0; warp < p.warps; warp++) {
      WarpArgs wa;
      wa.w = w;
      wa.h = h;
      wa.ustride = u1.stride;
      wa.istride = img.istride;
      wa.u1 = u1.origin;
      wa.u2 = u2.origin;
      wa.i0 = i0.px.data();
      wa.img = img.origin;
      wa.wx = kCubicX16.w;
      wa.wy = kCubic.w;
      wa.ix = ix.origin;
      wa.iy = iy.origin;
      wa.invGrad = ig.origin;
      wa.rhoC = rc.origin;
      k.warp(wa);
      double err = DBL_MAX;
      for (int outer = 0; err > eps && outer < p.outerIterations; outer++) {
        if (p.medianFiltering > 1) {
          MedianInPlace(k, u1, p.medianFiltering, scratch);
          MedianInPlace(k, u2, p.medianFiltering, scratch);
        }
        for (int inner = 0; err > eps && inner < p.innerIterations; inner++) err = k.sweep(a);
      }
    }
    if (s == 0) break;
    // Upsample the flow to the next finer level and scale it by 1 / scaleStep.
    const Image& f = I0[s - 1];
    Plane n1(f.w, f.h), n2(f.w, f.h);
    const float up = static_cast<float>(1. / p.scaleStep);
    const double isx = static_cast<double>(f.w) / w, isy = static_cast<double>(f.h) / h;
    ResizeLinear(
        w, h, f.w, f.h, isx, isy, [&](int y, int x) { return u1.row(y)[x]; }, [&](int y, int x, float v) { n1.row(y)[x] = v * up; });
    ResizeLinear(
        w, h, f.w, f.h, isx, isy, [&](int y, int x) { return u2.row(y)[x]; }, [&](int y, int x, float v) { n2.row(y)[x] = v * up; });
    u1 = std::move(n1);
    u2 = std::move(n2);
  }
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++) {
      flow[(static_cast<size_t>(y) * width + x) * 2] = u1.row(y)[x];
      flow[(static_cast<size_t>(y) * width + x) * 2 + 1] = u2.row(y)[x];
    }
}

}  // namespace tvl1
}  // namespace i3d
