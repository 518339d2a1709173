// Distributed training on libtorch's c10d: a TCP store (hosted by rank 0, or torchrun's agent store), a Gloo process
// group (NCCL in CUDA builds), collectives run in the libuv pool with a time-out on every wait, a heartbeat per rank
// in the store so that a failure names the lost rank, bucketed gradient all-reduce started from autograd hooks while
// backward runs (DistributedDataParallel's reducer, reduced to what we need), and a differentiable all-reduce for
// synchronized batch norm. Arguments are validated in TypeScript (src/distributed/).
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef I3D_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "common.h"

namespace i3d {
namespace {

using ms = std::chrono::milliseconds;

std::vector<uint8_t> Bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

struct Group {
  int id = 0, rank = 0, size = 1;
  std::string backend, where;  // where: the store's address, for messages
  ms timeout{300000};
  int64_t hbMs = 1000;
  c10::intrusive_ptr<c10d::Store> store;    // the process group's
  c10::intrusive_ptr<c10d::Store> hbStore;  // heartbeats and diagnosis: a connection of its own
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  std::atomic<int64_t> seq{0};  // collectives this rank has started
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::condition_variable cv;
  std::thread hb;
  std::mutex failMu;
  std::string failure;  // the first failure: later calls fail at once with it
};

// Groups live until destroyed; the map itself is never destructed, so that exiting the process after a failure
// never waits in a process group's destructor for a peer that is gone.
std::mutex gMu;
std::map<int, std::shared_ptr<Group>>& Groups() {
  static auto* m = new std::map<int, std::shared_ptr<Group>>();
  return *m;
}
std::shared_ptr<Group> Find(int id) {
  std::lock_guard<std::mutex> l(gMu);
  auto it = Groups().find(id);
  if (it == Groups().end()) throw std::runtime_error("I3D_DIST_CONFIG: process group " + std::to_string(id) + " was destroyed");
  return it->second;
}

std::string HbKey(int r) { return "hb/" + std::to_string(r); }

void Beat(Group* g) {
  int64_t n = 0;
  std::unique_lock<std::mutex> lk(g->mu);
  while (!g->stop) {
    lk.unlock();
    try {
      g->hbStore->set(HbKey(g->rank), Bytes(std::to_string(++n) + " " + std::to_string(g->seq.load())));
    } catch (...) {
      // The store is gone (rank 0 died): the next collective fails and Diagnose names rank 0.
    }
    lk.lock();
    g->cv.wait_for(lk, ms(g->hbMs), [g] { return g->stop.load(); });
  }
}

struct Beats {
  bool ok = true;
  std::string error;
  std::map<int, std::pair<int64_t, int64_t>> v;  // rank -> (beat, collectives started); absent: never beat
};

Beats ReadBeats(Group& g) {
  Beats b;
  try {
    for (int r = 0; r < g.size; r++) {
      if (r == g.rank) continue;
      if (!g.hbStore->check({HbKey(r)})) continue;
      auto raw = g.hbStore->get(HbKey(r));
      std::istringstream in(std::string(raw.begin(), raw.end()));
      int64_t beat = 0, s = 0;
      in >> beat >> s;
      b.v[r] = {beat, s};
    }
  } catch (const std::exception& e) {
    b.ok = false;
    b.error = ErrorText(e);
  }
  return b;
}

// Which rank is lost, and the error code: I3D_DIST_PEER_LOST (a rank stopped beating, or the store is gone) or
// I3D_DIST_TIMEOUT (every rank alive; someone is slow or waits elsewhere).
std::pair<std::string, std::string> Diagnose(Group& g) {
  if (g.size < 2) return {"I3D_DIST_TIMEOUT", ""};
  Beats a = ReadBeats(g);
  if (!a.ok)
    return {"I3D_DIST_PEER_LOST",
            g.rank == 0 ? "the store does not answer (" + a.error + ")"
                        : "rank 0 is lost: the store it hosts at " + g.where + " does not answer (" + a.error + ")"};
  std::this_thread::sleep_for(ms(2 * g.hbMs + 300));
  Beats b = ReadBeats(g);
  if (!b.ok)
    return {"I3D_DIST_PEER_LOST", g.rank == 0 ? "the store does not answer (" + b.error + ")"
                                              : "rank 0 is lost: the store it hosts at " + g.where +
                                                    " stopped answering (" + b.error + ")"};
  std::vector<int> lost;
  for (int r = 0; r < g.size; r++) {
    if (r == g.rank) continue;
    auto x = a.v.find(r), y = b.v.find(r);
    if (y == b.v.end() || (x != a.v.end() && x->second.first == y->second.first)) lost.push_back(r);
  }
  auto list = [](const std::vector<int>& rs) {
    std::string s;
    for (size_t i = 0; i < rs.size(); i++) s += (i ? (i + 1 == rs.size() ? " and " : ", ") : "") + std::to_string(rs[i]);
    return s;
  };
  double secs = (2 * g.hbMs + 300) / 1000.0;
  std::ostringstream o;
  if (!lost.empty()) {
    o << (lost.size() > 1 ? "ranks " : "rank ") << list(lost) << (lost.size() > 1 ? " are" : " is")
      << " lost (no heartbeat in the store for " << secs << " s: the process died or is stopped)";
    return {"I3D_DIST_PEER_LOST", o.str()};
  }
  int64_t mine = g.seq.load();
  std::vector<int> behind;
  for (auto& [r, v] : b.v)
    if (v.second < mine) behind.push_back(r);
  if (!behind.empty()) {
    o << (behind.size() > 1 ? "ranks " : "rank ") << list(behind) << " did not reach this collective ("
      << (behind.size() > 1 ? "they are" : "it is") << " alive but busy or stuck outside the collectives)";
    return {"I3D_DIST_TIMEOUT", o.str()};
  }
  return {"I3D_DIST_TIMEOUT", "every rank is alive"};
}

[[noreturn]] void Fail(Group& g, const std::string& what, int64_t n, const std::string& err) {
  std::string msg;
  {
    std::lock_guard<std::mutex> l(g.failMu);
    if (!g.failure.empty()) throw std::runtime_error(g.failure);
  }
  auto [code, who] = Diagnose(g);
  std::string first = err.substr(0, err.find('\n'));
  std::ostringstream o;
  o << code << ": " << what << " (collective #" << n << ") failed on rank " << g.rank << " of " << g.size;
  if (!who.empty()) o << ": " << who;
  o << " [--dist-timeout " << g.timeout.count() / 1000.0 << " s; " << g.backend << ": " << first << "]";
  msg = o.str();
  {
    std::lock_guard<std::mutex> l(g.failMu);
    if (g.failure.empty()) g.failure = msg;
  }
  throw std::runtime_error(msg);
}

void CheckHealthy(Group& g) {
  std::lock_guard<std::mutex> l(g.failMu);
  if (!g.failure.empty()) throw std::runtime_error(g.failure);
}

// Waits up to the time-out less the time the diagnosis takes, so that the error comes within --dist-timeout.
void Wait(Group& g, const c10::intrusive_ptr<c10d::Work>& w, const std::string& what, int64_t n) {
  try {
    auto budget = std::max(g.timeout / 2, g.timeout - ms(2 * g.hbMs + 300));
    if (!w->wait(budget)) throw std::runtime_error("timed out");
  } catch (const std::exception& e) {
    Fail(g, what, n, ErrorText(e));
  }
}

int64_t Start(Group& g) {
  CheckHealthy(g);
  return ++g.seq;
}

c10d::ReduceOp ParseOp(const std::string& op) {
  if (op == "sum" || op == "avg") return c10d::ReduceOp::SUM;
  if (op == "max") return c10d::ReduceOp::MAX;
  if (op == "min") return c10d::ReduceOp::MIN;
  if (op == "product") return c10d::ReduceOp::PRODUCT;
  throw std::invalid_argument("unknown reduce op " + op);
}

// The sum over the ranks of x, now (on this thread), with the time-out.
at::Tensor ReduceNow(Group& g, const at::Tensor& x, const std::string& what) {
  at::NoGradGuard ng;
  auto t = x.detach().clone(at::MemoryFormat::Contiguous);
  std::vector<at::Tensor> ts{t};
  int64_t n = Start(g);
  c10::intrusive_ptr<c10d::Work> w;
  try {
    w = g.pg->allreduce(ts);
  } catch (const std::exception& e) {
    Fail(g, what, n, ErrorText(e));
  }
  Wait(g, w, what, n);
  return t;
}

// ---- process group lifecycle ----

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

// distInit(id, rank, size, addr, port, timeoutMs, backend, ifnames, agentStorePrefix, heartbeatMs)
// agentStorePrefix: '' (rank 0 hosts the store, as PyTorch's env:// does) or torchrun's '/worker/attempt_N'
// (its agent hosts the store; every rank is a client).
Thunk Init(const Args& a) {
  int id = static_cast<int>(a.I(0)), rank = static_cast<int>(a.I(1)), size = static_cast<int>(a.I(2));
  std::string addr = a.S(3);
  int port = static_cast<int>(a.I(4));
  int64_t timeoutMs = a.I(5), hbMs = a.I(9);
  std::string backend = a.S(6), ifnames = a.S(7), agentPrefix = a.S(8);
  return None([=] {
    auto g = std::make_shared<Group>();
    g->id = id;
    g->rank = rank;
    g->size = size;
    g->backend = backend;
    g->timeout = ms(timeoutMs);
    g->hbMs = hbMs;
    g->where = addr + ":" + std::to_string(port);
    auto connect = [&](bool server) -> c10::intrusive_ptr<c10d::Store> {
      c10d::TCPStoreOptions o;
      o.port = static_cast<uint16_t>(port);
      o.isServer = server;
      o.waitWorkers = false;
      o.timeout = ms(timeoutMs);
      o.multiTenant = true;
      c10::intrusive_ptr<c10d::Store> s;
      try {
        s = c10::make_intrusive<c10d::TCPStore>(addr, o);
      } catch (const std::exception& e) {
        throw std::runtime_error(std::string(server ? "I3D_DIST_CONFIG: rank 0 could not host the store on port "
                                                    : "I3D_DIST_TIMEOUT: rank ") +
                                 (server ? std::to_string(port) : std::to_string(rank) + " could not reach the store at " + g->where) +
                                 " within --dist-timeout " + std::to_string(timeoutMs / 1000.0) + " s: " + ErrorText(e));
      }
      if (!agentPrefix.empty()) s = c10::make_intrusive<c10d::PrefixStore>(agentPrefix, s);
      return s;
    };
    auto base = connect(agentPrefix.empty() && rank == 0);
    g->store = c10::make_intrusive<c10d::PrefixStore>("i3d/pg", base);
    g->hbStore = c10::make_intrusive<c10d::PrefixStore>("i3d/", connect(false));
    g->hbStore->setTimeout(ms(std::min<int64_t>(timeoutMs, 10000)));
    try {
      if (backend == "gloo") {
        auto o = c10d::ProcessGroupGloo::Options::create(ms(timeoutMs));
        auto names = Split(ifnames);
        for (auto& n : names) o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(n));
        if (names.empty()) o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        o->threads = static_cast<int>(o->devices.size() * 2);
        g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store, rank, size, o);
      } else if (backend == "nccl") {
#ifdef I3D_WITH_NCCL
        auto o = c10d::ProcessGroupNCCL::Options::create();
        o->timeout = ms(timeoutMs);
        g->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(g->store, rank, size, o);
#else
        throw std::runtime_error(
            "I3D_DIST_CONFIG: backend 'nccl' needs the addon built against a CUDA build of libtorch (this one has no NCCL)");
#endif
      } else {
        throw std::runtime_error("I3D_DIST_CONFIG: unknown backend '" + backend + "'");
      }
    } catch (const std::exception& e) {
      std::string m = ErrorText(e);
      if (m.rfind("I3D_DIST_", 0) == 0) throw;
      throw std::runtime_error("I3D_DIST_TIMEOUT: rank " + std::to_string(rank) + " of " + std::to_string(size) +
                               " could not connect the " + backend + " process group through the store at " + g->where +
                               " within --dist-timeout " + std::to_string(timeoutMs / 1000.0) + " s: " +
                               m.substr(0, m.find('\n')));
    }
    g->hb = std::thread(Beat, g.get());
    std::lock_guard<std::mutex> l(gMu);
    Groups()[id] = g;
  });
}

// distDestroy(id): stops the heartbeat and lets the process group go (a failed group is left alone: its threads may
// wait on a lost peer, and the process is about to exit anyway).
Thunk Destroy(const Args& a) {
  int id = static_cast<int>(a.I(0));
  return None([=] {
    std::shared_ptr<Group> g;
    {
      std::lock_guard<std::mutex> l(gMu);
      auto it = Groups().find(id);
      if (it == Groups().end()) return;
      g = it->second;
      Groups().erase(it);
    }
    {
      std::lock_guard<std::mutex> l(g->mu);
      g->stop = true;
    }
    g->cv.notify_all();
    if (g->hb.joinable()) g->hb.join();
    bool failed;
    {
      std::lock_guard<std::mutex> l(g->failMu);
      failed = !g->failure.empty();
    }
    if (failed) new std::shared_ptr<Group>(g);  // leaked on purpose
  });
}

// ---- collectives ----

// Every collective is started here, on the JavaScript thread, in the order JavaScript calls them (the same order on
// every rank, which Gloo needs: collectives are matched by their sequence), and only waited for in the libuv pool.
// Starting one does not block: it queues the work on the process group's own threads.

c10::intrusive_ptr<c10d::Work> Launch(Group& g, const std::string& what, int64_t n,
                                      const std::function<c10::intrusive_ptr<c10d::Work>()>& start) {
  try {
    return start();
  } catch (const std::exception& e) {
    Fail(g, what, n, ErrorText(e));
  }
}

// distAllReduce(id, x, op) -> a new tensor: the reduction over the ranks (op sum, avg, max, min, product).
Thunk AllReduce(const Args& a) {
  auto g = Find(static_cast<int>(a.I(0)));
  auto x = a.T(1);
  std::string op = a.S(2);
  at::NoGradGuard ng;
  auto t = x.detach().clone(at::MemoryFormat::Contiguous);
  c10d::AllreduceOptions o;
  o.reduceOp = ParseOp(op);
  int64_t n = Start(*g);
  auto w = Launch(*g, "allReduce", n, [&] {
    std::vector<at::Tensor> ts{t};
    return g->pg->allreduce(ts, o);
  });
  return One([=] {
    Wait(*g, w, "allReduce", n);
    if (op == "avg") t.div_(g->size);
    return t;
  });
}

// distBroadcast(id, x, root): x takes root's values, in place.
Thunk Broadcast(const Args& a) {
  auto g = Find(static_cast<int>(a.I(0)));
  auto x = a.T(1);
  int64_t root = a.I(2);
  at::NoGradGuard ng;
  auto c = x.detach().contiguous();
  c10d::BroadcastOptions o;
  o.rootRank = root;
  int64_t n = Start(*g);
  auto w = Launch(*g, "broadcast", n, [&] {
    std::vector<at::Tensor> ts{c};
    return g->pg->broadcast(ts, o);
  });
  return None([=] {
    Wait(*g, w, "broadcast", n);
    at::NoGradGuard ng2;
    if (!c.is_same(x)) x.detach().copy_(c);
  });
}

// distBroadcastMany(id, xs, root): several tensors (any dtypes), flattened into one float64 message.
Thunk BroadcastMany(const Args& a) {
  auto g = Find(static_cast<int>(a.I(0)));
  auto xs = a.TL(1);
  int64_t root = a.I(2);
  at::NoGradGuard ng;
  std::vector<at::Tensor> flat;
  for (auto& x : xs) flat.push_back(x.detach().to(at::kDouble).reshape({-1}));
  auto buf = flat.empty() ? at::zeros({0}, at::kDouble) : at::cat(flat);
  c10d::BroadcastOptions o;
  o.rootRank = root;
  int64_t n = Start(*g);
  auto w = Launch(*g, "broadcast", n, [&] {
    std::vector<at::Tensor> ts{buf};
    return g->pg->broadcast(ts, o);
  });
  return None([=] {
    Wait(*g, w, "broadcast", n);
    at::NoGradGuard ng2;
    int64_t off = 0;
    for (auto& x : xs) {
      auto k = x.numel();
      x.detach().copy_(buf.narrow(0, off, k).view(x.sizes()));
      off += k;
    }
  });
}

// distAllGather(id, x) -> [x of rank 0, x of rank 1, ...] (the same shape on every rank).
Thunk AllGather(const Args& a) {
  auto g = Find(static_cast<int>(a.I(0)));
  auto x = a.T(1);
  at::NoGradGuard ng;
  auto in = x.detach().contiguous();
  std::vector<at::Tensor> outs;
  for (int r = 0; r < g->size; r++) outs.push_back(at::empty_like(in));
  int64_t n = Start(*g);
  auto w = Launch(*g, "allGather", n, [&] {
    std::vector<std::vector<at::Tensor>> o{outs};
    std::vector<at::Tensor> ins{in};
    return g->pg->allgather(o, ins);
  });
  return Many([=] {
    Wait(*g, w, "allGather", n);
    return outs;
  });
}

Thunk Barrier(const Args& a) {
  auto g = Find(static_cast<int>(a.I(0)));
  c10d::BarrierOptions o;
  o.timeout = g->timeout;
  int64_t n = Start(*g);
  auto w = Launch(*g, "barrier", n, [&] { return g->pg->barrier(o); });
  return None([=] { Wait(*g, w, "barrier", n); });
}

// ---- gradient synchronisation (the reducer of DistributedDataParallel, reduced) ----
// Parameters are put in buckets in reverse order (the order backward produces their gradients). A post-hook on each
// parameter's gradient accumulator marks it ready; a bucket whose gradients are all ready is flattened and its
// all-reduce started at once, in bucket order (the same order on every rank), while backward goes on. finish() starts
// the buckets left (parameters without a gradient count as zeros), waits for all, and writes the averages back.

struct Bucket {
  std::vector<size_t> params;
  std::vector<int64_t> offsets;
  at::Tensor flat;
  size_t pending = 0;
  bool launched = false;
  int64_t n = 0;
  c10::intrusive_ptr<c10d::Work> work;
};

struct GradSync {
  std::shared_ptr<Group> g;
  std::vector<at::Tensor> params;
  std::vector<size_t> bucketOf;
  std::vector<Bucket> buckets;
  std::vector<bool> ready;
  std::vector<std::shared_ptr<torch::autograd::Node>> accs;  // kept alive: they carry the hooks
  std::mutex mu;
  bool armed = false;
  size_t next = 0;
  std::string error;

  void Reset() {
    std::fill(ready.begin(), ready.end(), false);
    for (auto& b : buckets) {
      b.pending = b.params.size();
      b.launched = false;
      b.work.reset();
    }
    next = 0;
    error.clear();
  }

  void Launch(Bucket& b) {
    at::NoGradGuard ng;
    for (size_t k = 0; k < b.params.size(); k++) {
      auto& p = params[b.params[k]];
      auto slice = b.flat.narrow(0, b.offsets[k], p.numel()).view(p.sizes());
      const auto& grad = p.grad();
      if (grad.defined())
        slice.copy_(grad);
      else
        slice.zero_();
    }
    b.launched = true;
    if (!error.empty()) return;
    try {
      b.n = Start(*g);
      std::vector<at::Tensor> ts{b.flat};
      b.work = g->pg->allreduce(ts);
    } catch (const std::exception& e) {
      error = ErrorText(e);
    }
  }

  void LaunchReady() {
    while (next < buckets.size() && buckets[next].pending == 0) Launch(buckets[next++]);
  }

  void OnReady(size_t i) {
    std::lock_guard<std::mutex> l(mu);
    if (!armed || ready[i]) return;
    ready[i] = true;
    buckets[bucketOf[i]].pending--;
    LaunchReady();
  }

  void Finish() {
    std::lock_guard<std::mutex> l(mu);
    if (!armed) throw std::runtime_error("gradient sync: finish() without prepare()");
    armed = false;
    while (next < buckets.size()) Launch(buckets[next++]);
    if (!error.empty()) Fail(*g, "gradient all-reduce", g->seq.load(), error);
    for (size_t k = 0; k < buckets.size(); k++)
      Wait(*g, buckets[k].work, "gradient all-reduce (bucket " + std::to_string(k) + ")", buckets[k].n);
    at::NoGradGuard ng;
    for (auto& b : buckets) {
      b.flat.div_(g->size);
      for (size_t k = 0; k < b.params.size(); k++) {
        auto& p = params[b.params[k]];
        auto slice = b.flat.narrow(0, b.offsets[k], p.numel()).view(p.sizes());
        if (p.grad().defined())
          p.mutable_grad().copy_(slice);
        else
          p.mutable_grad() = slice.clone();
      }
      b.work.reset();
    }
  }
};

std::mutex sMu;
std::map<int, std::shared_ptr<GradSync>>& Syncs() {
  static auto* m = new std::map<int, std::shared_ptr<GradSync>>();
  return *m;
}
std::shared_ptr<GradSync> FindSync(int id) {
  std::lock_guard<std::mutex> l(sMu);
  auto it = Syncs().find(id);
  if (it == Syncs().end()) throw std::runtime_error("gradient sync " + std::to_string(id) + " was destroyed");
  return it->second;
}

// gradSyncCreate(id, groupId, params, bucketBytes) -> the number of buckets
Napi::Value GradSyncCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    Args a(info);
    int id = static_cast<int>(a.I(0));
    auto s = std::make_shared<GradSync>();
    s->g = Find(static_cast<int>(a.I(1)));
    s->params = a.TL(2);
    int64_t cap = a.I(3);
    size_t np = s->params.size();
    s->bucketOf.assign(np, 0);
    s->ready.assign(np, false);
    int64_t bytes = cap;  // start a new bucket at the first parameter
    for (size_t j = np; j-- > 0;) {
      auto& p = s->params[j];
      int64_t pb = p.numel() * static_cast<int64_t>(p.element_size());
      if (s->buckets.empty() || bytes + pb > cap) {
        s->buckets.emplace_back();
        bytes = 0;
      }
      auto& b = s->buckets.back();
      b.offsets.push_back(b.params.empty() ? 0 : b.offsets.back() + s->params[b.params.back()].numel());
      b.params.push_back(j);
      bytes += pb;
      s->bucketOf[j] = s->buckets.size() - 1;
    }
    for (auto& b : s->buckets) {
      int64_t total = b.offsets.back() + s->params[b.params.back()].numel();
      b.flat = at::zeros({total}, s->params[b.params[0]].options().requires_grad(false));
    }
    s->Reset();
    std::weak_ptr<GradSync> weak = s;
    for (size_t j = 0; j < np; j++) {
      auto acc = torch::autograd::impl::grad_accumulator(s->params[j]);
      if (!acc) throw std::runtime_error("gradient sync: parameter " + std::to_string(j) + " does not require a gradient");
      acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
          [weak, j](const torch::autograd::variable_list& outs, const torch::autograd::variable_list&) {
            if (auto live = weak.lock()) live->OnReady(j);
            return outs;
          }));
      s->accs.push_back(acc);
    }
    {
      std::lock_guard<std::mutex> l(sMu);
      Syncs()[id] = s;
    }
    return Napi::Number::New(env, static_cast<double>(s->buckets.size()));
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, ErrorText(e));
  }
}

// gradSyncPrepare(id): arms the hooks for the next backward.
Napi::Value GradSyncPrepare(const Napi::CallbackInfo& info) {
  try {
    auto s = FindSync(static_cast<int>(Args(info).I(0)));
    std::lock_guard<std::mutex> l(s->mu);
    s->Reset();
    s->armed = true;
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), ErrorText(e));
  }
  return info.Env().Undefined();
}

// gradSyncFinish(id): every gradient averaged over the ranks.
Thunk GradSyncFinish(const Args& a) {
  auto s = FindSync(static_cast<int>(a.I(0)));
  return None([s] { s->Finish(); });
}

Napi::Value GradSyncDestroy(const Napi::CallbackInfo& info) {
  int id = static_cast<int>(Args(info).I(0));
  std::lock_guard<std::mutex> l(sMu);
  auto it = Syncs().find(id);
  if (it != Syncs().end()) {
    std::lock_guard<std::mutex> k(it->second->mu);
    it->second->armed = false;
    it->second->accs.clear();
    Syncs().erase(it);
  }
  return info.Env().Undefined();
}

// ---- synchronized batch norm ----

// Every rank's x (the same shape everywhere), now (on this thread), with the time-out: [world size, ...x's shape].
at::Tensor GatherNow(Group& g, const at::Tensor& x, const std::string& what) {
  at::NoGradGuard ng;
  auto in = x.detach().contiguous();
  std::vector<at::Tensor> outs;
  for (int r = 0; r < g.size; r++) outs.push_back(at::empty_like(in));
  int64_t n = Start(g);
  c10::intrusive_ptr<c10d::Work> w;
  try {
    std::vector<std::vector<at::Tensor>> o{outs};
    std::vector<at::Tensor> ins{in};
    w = g.pg->allgather(o, ins);
  } catch (const std::exception& e) {
    Fail(g, what, n, ErrorText(e));
  }
  Wait(g, w, what, n);
  return at::stack(outs);
}

// Batch norm in training mode with the statistics of the whole global batch, as PyTorch's SyncBatchNorm: one
// collective forward (every rank's mean, sum of squared deviations and count, combined exactly as Chan et al.'s
// parallel variance, so no E[x^2] - E[x]^2 cancellation) and one backward (the sums of dy and dy * x-hat); the
// normalisation and the reductions run libtorch's batch-norm kernels. The running statistics are updated in place.
// The gradients of weight and bias are this rank's (the gradient all-reduce averages them as any other parameter's).
struct SyncBatchNormFn : public torch::autograd::Function<SyncBatchNormFn> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, at::Tensor runningMean, at::Tensor runningVar, double momentum,
                            double eps, int64_t id) {
    auto& g = *Find(static_cast<int>(id));
    int64_t c = x.size(1);
    std::vector<int64_t> dims;
    for (int64_t d = 0; d < x.dim(); d++)
      if (d != 1) dims.push_back(d);
    auto [var, mean] = at::var_mean(x, at::IntArrayRef(dims), /*unbiased=*/false, /*keepdim=*/false);
    double n = static_cast<double>(x.numel() / c);
    auto all = GatherNow(g, at::cat({mean, var * n, at::full({1}, n, x.options())}), "syncBatchNorm statistics");
    auto counts = all.select(1, 2 * c).unsqueeze(1);  // [world, 1]
    auto means = all.narrow(1, 0, c), m2s = all.narrow(1, c, c);
    double count = all.select(1, 2 * c).sum().item<double>();
    auto gmean = (means * counts).sum(0) / count;
    auto gvar = (m2s.sum(0) + ((means - gmean).pow(2) * counts).sum(0)) / count;
    runningMean.mul_(1 - momentum).add_(gmean, momentum);
    runningVar.mul_(1 - momentum).add_(gvar * (count / std::max(1.0, count - 1)), momentum);
    ctx->save_for_backward({x, weight, gmean, gvar});
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["id"] = id;
    ctx->saved_data["count"] = count;
    return at::batch_norm(x, weight, bias, gmean, gvar, /*training=*/false, 0.0, eps, /*cudnn_enabled=*/false);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto x = saved[0], weight = saved[1], mean = saved[2], var = saved[3];
    double eps = ctx->saved_data["eps"].toDouble(), count = ctx->saved_data["count"].toDouble();
    auto& g = *Find(static_cast<int>(ctx->saved_data["id"].toInt()));
    auto dy = grads[0];
    int64_t c = x.size(1);
    std::vector<int64_t> shape(x.dim(), 1);
    shape[1] = c;
    // This rank's sums of dy * x-hat and of dy, by libtorch's kernel (eval mode: the given mean and variance).
    auto [unused, sumDyXhat, sumDy] =
        at::native_batch_norm_backward(dy, x, weight, mean, var, {}, {}, /*train=*/false, eps, {false, true, true});
    auto both = ReduceNow(g, at::cat({sumDy, sumDyXhat}), "syncBatchNorm gradient");
    auto meanDy = both.narrow(0, 0, c) / count, meanDyXhat = both.narrow(0, c, c) / count;
    // dx = w invstd (dy - mean(dy) - x-hat mean(dy x-hat)), x-hat = (x - mean) invstd: dy k1 + x k2 + k3 per channel.
    auto invstd = at::rsqrt(var + eps);
    auto k1 = weight * invstd;
    auto k2 = -k1 * invstd * meanDyXhat;
    auto k3 = -k1 * meanDy - k2 * mean;
    auto dx = dy * k1.view(shape);
    dx.add_(x * k2.view(shape)).add_(k3.view(shape));
    return {dx,
            sumDyXhat,
            sumDy,
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor(),
            at::Tensor()};
  }
};

// distSyncBatchNorm(id, x, weight?, bias?, runningMean, runningVar, momentum, eps): batch norm in training mode
// with the statistics of the whole global batch (PyTorch's SyncBatchNorm); running statistics updated in place.
Thunk SyncBatchNorm(const Args& a) {
  int64_t id = a.I(0);
  auto x = a.T(1);
  auto w = a.OT(2), b = a.OT(3);
  auto rm = a.T(4), rv = a.T(5);
  double momentum = a.D(6), eps = a.D(7);
  return One([=] {
    // libtorch 1.13's Function::apply cannot take an undefined tensor: a missing scale is ones, a missing shift
    // zeros (neither requires a gradient, so backward's values for them are dropped).
    int64_t c = x.size(1);
    return SyncBatchNormFn::apply(x, w ? *w : at::ones({c}, x.options()), b ? *b : at::zeros({c}, x.options()), rm, rv,
                                  momentum, eps, id);
  });
}

Napi::Value DistFacts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  auto backends = Napi::Array::New(env);
  backends.Set(0u, "gloo");
#ifdef I3D_WITH_NCCL
  backends.Set(1u, "nccl");
#endif
  o.Set("backends", backends);
  return o;
}

}  // namespace

void RegisterDist(Napi::Env env, Napi::Object exports) {
  I3D_EXPORT_OP(exports, env, "distInit", Init);
  I3D_EXPORT_OP(exports, env, "distDestroy", Destroy);
  I3D_EXPORT_OP(exports, env, "distAllReduce", AllReduce);
  I3D_EXPORT_OP(exports, env, "distBroadcast", Broadcast);
  I3D_EXPORT_OP(exports, env, "distBroadcastMany", BroadcastMany);
  I3D_EXPORT_OP(exports, env, "distAllGather", AllGather);
  I3D_EXPORT_OP(exports, env, "distBarrier", Barrier);
  I3D_EXPORT_OP(exports, env, "distGradSyncFinish", GradSyncFinish);
  I3D_EXPORT_OP(exports, env, "distSyncBatchNorm", SyncBatchNorm);
  exports.Set("distGradSyncCreate", Napi::Function::New(env, GradSyncCreate, "distGradSyncCreate"));
  exports.Set("distGradSyncPrepare", Napi::Function::New(env, GradSyncPrepare, "distGradSyncPrepare"));
  exports.Set("distGradSyncDestroy", Napi::Function::New(env, GradSyncDestroy, "distGradSyncDestroy"));
  exports.Set("distFacts", Napi::Function::New(env, DistFacts, "distFacts"));
}

}  // namespace i3d
