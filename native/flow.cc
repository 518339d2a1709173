// Optical flow: TV-L1 on two grayscale frames, by OpenCV (cv::optflow::DualTVL1OpticalFlow, opencv_contrib) or by
// our own implementation of the same algorithm (native/tvl1.cc). Arguments are validated in TypeScript
// (src/video/flow.ts); this side copies them, runs the flow now or in a libuv worker, and turns exceptions into
// JavaScript errors.
#include <napi.h>

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/optflow.hpp>

#include <cstring>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "tvl1.h"

namespace i3d {
namespace {

// What one flow computation needs, copied out of the JavaScript values (the baton of the async worker).
struct FlowJob {
  int width = 0;
  int height = 0;
  bool u8 = true;  // frames are 8-bit (0..255); else float32 in [0, 1]
  std::vector<uint8_t> prev, next;
  // tau, lambda, theta, scales, warps, epsilon, innerIterations, outerIterations, scaleStep, gamma, medianFiltering
  std::vector<double> p;
  std::vector<float> flow;  // height * width * 2, (x, y) per pixel
  bool ours = false;         // native/tvl1.cc instead of OpenCV
  tvl1::Isa isa = tvl1::Isa::kScalar;

  void RunOurs() {
    const size_t n = static_cast<size_t>(width) * height;
    std::vector<float> a(n), b(n);
    if (u8) {
      for (size_t i = 0; i < n; i++) a[i] = prev[i], b[i] = next[i];
    } else {  // OpenCV scales float frames by 255
      const float* fa = reinterpret_cast<const float*>(prev.data());
      const float* fb = reinterpret_cast<const float*>(next.data());
      for (size_t i = 0; i < n; i++) a[i] = fa[i] * 255.f, b[i] = fb[i] * 255.f;
    }
    tvl1::Params q;
    q.tau = p[0];
    q.lambda = p[1];
    q.theta = p[2];
    q.scales = static_cast<int>(p[3]);
    q.warps = static_cast<int>(p[4]);
    q.epsilon = p[5];
    q.innerIterations = static_cast<int>(p[6]);
    q.outerIterations = static_cast<int>(p[7]);
    q.scaleStep = p[8];
    if (p[9] != 0) throw std::invalid_argument("our TV-L1 has no illumination term: gamma must be 0");
    q.medianFiltering = static_cast<int>(p[10]);
    flow.assign(n * 2, 0.f);
    tvl1::Flow(a.data(), b.data(), width, height, q, isa, flow.data());
  }

  void Run() {
    if (ours) return RunOurs();
    const int type = u8 ? CV_8UC1 : CV_32FC1;
    cv::Mat a(height, width, type, prev.data());
    cv::Mat b(height, width, type, next.data());
    auto tvl1 = cv::optflow::DualTVL1OpticalFlow::create(p[0], p[1], p[2], static_cast<int>(p[3]), static_cast<int>(p[4]), p[5],
                                                         static_cast<int>(p[6]), static_cast<int>(p[7]), p[8], p[9],
                                                         static_cast<int>(p[10]), false);
    flow.assign(static_cast<size_t>(width) * height * 2, 0.f);
    cv::Mat out(height, width, CV_32FC2, flow.data());
    tvl1->calc(a, b, out);
    // calc() reallocates when it cannot write in place; copy back in that case.
    if (out.data != reinterpret_cast<uchar*>(flow.data())) {
      CV_Assert(out.isContinuous() && out.type() == CV_32FC2);
      std::memcpy(flow.data(), out.data, flow.size() * sizeof(float));
    }
  }
};

std::vector<uint8_t> Bytes(const Napi::Value& v) {
  auto a = v.As<Napi::TypedArray>();
  auto buf = a.ArrayBuffer();
  const uint8_t* p = static_cast<const uint8_t*>(buf.Data()) + a.ByteOffset();
  return std::vector<uint8_t>(p, p + a.ByteLength());
}

// tvl1Flow(prev, next, width, height, params: number[11], impl?: 'opencv' | 'ours', isa?: 'auto' | 'avx512' | 'avx2' |
// 'scalar') with prev/next both Uint8Array or both Float32Array.
FlowJob ReadJob(const Napi::CallbackInfo& info) {
  FlowJob j;
  j.u8 = info[0].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
  j.prev = Bytes(info[0]);
  j.next = Bytes(info[1]);
  j.width = info[2].As<Napi::Number>().Int32Value();
  j.height = info[3].As<Napi::Number>().Int32Value();
  auto p = info[4].As<Napi::Array>();
  for (uint32_t k = 0; k < p.Length(); k++) j.p.push_back(p.Get(k).As<Napi::Number>().DoubleValue());
  if (j.p.size() != 11) throw std::runtime_error("tvl1Flow: expected 11 parameters");
  if (info.Length() > 5 && info[5].IsString()) {
    const std::string impl = info[5].As<Napi::String>().Utf8Value();
    if (impl != "opencv" && impl != "ours") throw std::invalid_argument("tvl1Flow: impl must be 'opencv' or 'ours', got '" + impl + "'");
    j.ours = impl == "ours";
  }
  if (j.ours) j.isa = tvl1::ChooseIsa(info.Length() > 6 && info[6].IsString() ? info[6].As<Napi::String>().Utf8Value() : "auto");
  return j;
}

Napi::Value ToJs(Napi::Env env, const std::vector<float>& flow) {
  auto out = Napi::Float32Array::New(env, flow.size());
  std::memcpy(out.Data(), flow.data(), flow.size() * sizeof(float));
  return out;
}

std::string Message(const std::exception& e) {
  if (auto* cv = dynamic_cast<const cv::Exception*>(&e)) return "OpenCV TV-L1 flow failed: " + cv->err + " (in " + cv->func + ")";
  return std::string("TV-L1 flow failed: ") + e.what();
}

Napi::Value Tvl1Flow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    FlowJob j = ReadJob(info);
    j.Run();
    return ToJs(env, j.flow);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, Message(e));
  }
}

class FlowWorker : public Napi::AsyncWorker {
 public:
  FlowWorker(Napi::Env env, FlowJob job)
      : Napi::AsyncWorker(env, "i3d.flow"), job_(std::move(job)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }
  void Execute() override {
    try {
      job_.Run();
    } catch (const std::exception& e) {
      SetError(Message(e));
    }
  }
  void OnOK() override { deferred_.Resolve(ToJs(Env(), job_.flow)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  FlowJob job_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value Tvl1FlowAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FlowJob j;
  try {
    j = ReadJob(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, Message(e));
  }
  auto* w = new FlowWorker(env, std::move(j));
  w->Queue();
  return w->Promise();
}

// OpenCV's own thread pool (TBB or pthreads, as OpenCV was built): how many threads one calc() may use.
Napi::Value SetFlowThreads(const Napi::CallbackInfo& info) {
  cv::setNumThreads(info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value FlowFacts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("opencvVersion", CV_VERSION);
  o.Set("threads", cv::getNumThreads());
  std::string build = cv::getBuildInformation();
  auto at = build.find("Parallel framework:");
  std::string parallel = "unknown";
  if (at != std::string::npos) {
    auto end = build.find('\n', at);
    parallel = build.substr(at + 19, end - at - 19);
    parallel.erase(0, parallel.find_first_not_of(' '));
  }
  o.Set("parallelFramework", parallel);
  o.Set("oursBestIsa", tvl1::IsaName(tvl1::BestIsa()));
  return o;
}

// The ISA our TV-L1 runs with for this request ('auto' reads $I3D_FLOW_ISA), capped by what the CPU supports.
Napi::Value FlowIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    return Napi::String::New(env, tvl1::IsaName(tvl1::ChooseIsa(info[0].As<Napi::String>().Utf8Value())));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

}  // namespace

void RegisterFlow(Napi::Env env, Napi::Object exports) {
  exports.Set("tvl1Flow", Napi::Function::New(env, Tvl1Flow, "tvl1Flow"));
  exports.Set("tvl1FlowAsync", Napi::Function::New(env, Tvl1FlowAsync, "tvl1FlowAsync"));
  exports.Set("setFlowThreads", Napi::Function::New(env, SetFlowThreads, "setFlowThreads"));
  exports.Set("flowFacts", Napi::Function::New(env, FlowFacts, "flowFacts"));
  exports.Set("flowIsa", Napi::Function::New(env, FlowIsa, "flowIsa"));
}

}  // namespace i3d
