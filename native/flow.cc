// Optical flow: OpenCV's TV-L1 (cv::optflow::DualTVL1OpticalFlow, opencv_contrib) on two grayscale frames.
// Arguments are validated in TypeScript (src/video/flow.ts); this side copies them, runs OpenCV now or in a libuv
// worker, and turns OpenCV exceptions into JavaScript errors.
#include <napi.h>

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/optflow.hpp>

#include <cstring>
#include <exception>
#include <string>
#include <utility>
#include <vector>

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

  void Run() {
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

// tvl1Flow(prev, next, width, height, params: number[11]) with prev/next both Uint8Array or both Float32Array.
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
  return o;
}

}  // namespace

void RegisterFlow(Napi::Env env, Napi::Object exports) {
  exports.Set("tvl1Flow", Napi::Function::New(env, Tvl1Flow, "tvl1Flow"));
  exports.Set("tvl1FlowAsync", Napi::Function::New(env, Tvl1FlowAsync, "tvl1FlowAsync"));
  exports.Set("setFlowThreads", Napi::Function::New(env, SetFlowThreads, "setFlowThreads"));
  exports.Set("flowFacts", Napi::Function::New(env, FlowFacts, "flowFacts"));
}

}  // namespace i3d
