#include "binding/process_group_binding.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "binding/convert.h"
#include "binding/errors.h"
#include "binding/typed_arrays.h"
#include "core/error.h"

namespace torchrec::binding {

namespace dist = torchrec::distributed;

// One call in flight: made on the JS thread, filled on the op thread, settled on the JS thread.
struct PgOp {
  enum class Result { None, Array, ArrayAndCounts };
  explicit PgOp(Napi::Env env, Result r) : deferred(Napi::Promise::Deferred::New(env)), result(r) {}
  Napi::Promise::Deferred deferred;
  Result result;
  napi_typedarray_type type = napi_float32_array;
  at::Tensor tensor;
  std::vector<int64_t> counts;
  bool failed = false;
  CapturedError error;
};

// The connected group: set by connect and dropped by close, both on the op thread; read there, and
// (for failure()) on the JS thread, hence the lock.
struct PgState {
  std::atomic<bool> destroyed{false};
  std::mutex mutex;
  std::shared_ptr<dist::ProcessGroup> group;

  std::shared_ptr<dist::ProcessGroup> get() {
    std::lock_guard<std::mutex> lock(mutex);
    return group;
  }
  void set(std::shared_ptr<dist::ProcessGroup> g) {
    std::lock_guard<std::mutex> lock(mutex);
    group = std::move(g);
  }
  dist::ProcessGroup& connected() {
    std::shared_ptr<dist::ProcessGroup> g = get();
    if (!g) fail(ErrorCode::Distributed, "the process group is not connected (its init failed)");
    return *g;  // kept alive by `group`: only this thread resets it
  }
};

void settle(Napi::Env env, Napi::Function, PgBridge* bridge, PgOp* op);
using Tsfn = Napi::TypedThreadSafeFunction<PgBridge, PgOp, settle>;

// The path from the op thread back to JS. `open` turns false when the thread-safe function is
// released or finalized (at environment teardown, possibly before the binding's destructor), after
// which results are dropped instead of touching a freed function.
struct PgBridge {
  std::mutex mutex;
  bool open = true;
  Tsfn tsfn;
  ProcessGroupBinding* owner = nullptr;  // JS thread only; null once the binding is gone

  void deliver(PgOp* op) {
    std::lock_guard<std::mutex> lock(mutex);
    if (open && tsfn.NonBlockingCall(op) == napi_ok) return;
    delete op;
  }
};

namespace {

// Marks NativeProcessGroup objects, so that group_of can unwrap safely (N-API 8 type tags).
constexpr napi_type_tag kProcessGroupTag = {0x7a1c3e5d9b2f4a61ULL, 0x8e4d2c6b1f3a5e97ULL};

int64_t row_elems_arg(const Napi::CallbackInfo& info, size_t i) {
  if (i >= info.Length() || is_nullish(info[i])) return 1;
  return to_count(info[i], "rowElems");
}

}  // namespace

// JS thread. Nothing may escape (see EbcWorker::OnOK): an exception here would abort the process.
void settle(Napi::Env env, Napi::Function, PgBridge* bridge, PgOp* raw) {
  std::unique_ptr<PgOp> op(raw);
  if (env == nullptr) return;  // the environment is going away; nobody is waiting
  try {
    if (op->failed) {
      op->deferred.Reject(make_js_error(env, op->error));
    } else if (op->result == PgOp::Result::None) {
      op->deferred.Resolve(env.Undefined());
    } else if (op->result == PgOp::Result::Array) {
      op->deferred.Resolve(to_typed_array(env, op->tensor, op->type));
    } else {
      Napi::Object out = Napi::Object::New(env);
      out.Set("data", to_typed_array(env, op->tensor, op->type));
      out.Set("counts", number_array(env, op->counts));
      op->deferred.Resolve(out);
    }
  } catch (const Napi::Error& e) {
    try {
      op->deferred.Reject(e.Value());
    } catch (...) {
    }
  } catch (...) {
    try {
      op->deferred.Reject(make_js_error(env, capture_current_exception()));
    } catch (...) {
    }
  }
  if (bridge->owner != nullptr) bridge->owner->settled(env);
}

void ProcessGroupBinding::define(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "NativeProcessGroup",
                                   {
                                       InstanceMethod("connect", &ProcessGroupBinding::connect),
                                       InstanceMethod("barrier", &ProcessGroupBinding::barrier),
                                       InstanceMethod("allreduce", &ProcessGroupBinding::allreduce),
                                       InstanceMethod("allgather", &ProcessGroupBinding::allgather),
                                       InstanceMethod("allgatherv", &ProcessGroupBinding::allgatherv),
                                       InstanceMethod("alltoall", &ProcessGroupBinding::alltoall),
                                       InstanceMethod("broadcast", &ProcessGroupBinding::broadcast),
                                       InstanceMethod("destroy", &ProcessGroupBinding::destroy),
                                       InstanceMethod("failure", &ProcessGroupBinding::failure),
                                       InstanceMethod("traffic", &ProcessGroupBinding::traffic),
                                   });
  exports.Set("NativeProcessGroup", cls);
  exports.Set("glooAvailable", Napi::Boolean::New(env, dist::gloo_available()));
}

// new NativeProcessGroup({rank, worldSize, masterAddr, masterPort, timeoutMs, agentStore, restartCount}),
// already validated by lib/distributed/process_group.ts; connect() does the blocking part.
ProcessGroupBinding::ProcessGroupBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessGroupBinding>(info) {
  Napi::Env env = info.Env();
  guard(env, [&]() -> Napi::Value {
    if (!info[0].IsObject()) fail(ErrorCode::InvalidArgument, "NativeProcessGroup expects an options object");
    Napi::Object o = info[0].As<Napi::Object>();
    auto small = [&](const char* key) {
      const int64_t x = to_count(o.Get(key), key);
      if (x > INT32_MAX) fail(ErrorCode::InvalidArgument, key, " is too large (", x, ")");
      return static_cast<int>(x);
    };
    options_.rank = small("rank");
    options_.world_size = small("worldSize");
    options_.master_addr = to_string(o.Get("masterAddr"), "masterAddr");
    options_.master_port = small("masterPort");
    options_.timeout_ms = to_count(o.Get("timeoutMs"), "timeoutMs");
    options_.agent_store = o.Get("agentStore").ToBoolean().Value();
    options_.restart_count = to_count(o.Get("restartCount"), "restartCount");
    return env.Undefined();
  });
  info.This().As<Napi::Object>().TypeTag(&kProcessGroupTag);
  state_ = std::make_shared<PgState>();
  bridge_ = std::make_shared<PgBridge>();
  bridge_->owner = this;
  // The function's finalizer (run on release, or at environment teardown) owns a reference to the
  // bridge, so the bridge outlives every call into it.
  auto* keep = new std::shared_ptr<PgBridge>(bridge_);
  bridge_->tsfn = Tsfn::New(
      env, "torchrec-node ProcessGroup", 0, 1, bridge_.get(),
      [](Napi::Env, std::shared_ptr<PgBridge>* kept, PgBridge*) {
        {
          std::lock_guard<std::mutex> lock((*kept)->mutex);
          (*kept)->open = false;
        }
        delete kept;
      },
      keep);
  bridge_->tsfn.Unref(env);
  thread_ = std::make_unique<dist::OpThread>();
}

ProcessGroupBinding::~ProcessGroupBinding() {
  bridge_->owner = nullptr;
  {
    std::lock_guard<std::mutex> lock(bridge_->mutex);
    if (bridge_->open) {
      bridge_->open = false;
      bridge_->tsfn.Release();
    }
  }
  // Collected without destroy(), or the environment is exiting. A call still blocked in c10d (a
  // peer that stopped answering) must not block the JS thread here: the thread and the group are
  // left to it and leaked, since freeing them under a running collective is not safe.
  if (thread_->busy()) {
    state_->destroyed = true;
    thread_->stop();
    (void)thread_.release();
    return;
  }
  close_group();
  thread_.reset();  // runs the close, joins
}

std::shared_ptr<dist::ProcessGroup> ProcessGroupBinding::group_of(const Napi::Value& value, const char* name) {
  if (!value.IsObject() || !value.As<Napi::Object>().CheckTypeTag(&kProcessGroupTag)) {
    fail(ErrorCode::InvalidArgument, name, " must be a ProcessGroup");
  }
  ProcessGroupBinding* binding = Unwrap(value.As<Napi::Object>());
  if (binding->destroyed_) fail(ErrorCode::Disposed, name, ": the process group was destroyed");
  std::shared_ptr<dist::ProcessGroup> group = binding->state_->get();
  if (!group) fail(ErrorCode::Distributed, name, ": the process group has not finished its init");
  return group;
}

void ProcessGroupBinding::settled(Napi::Env env) {
  if (--pending_ == 0) {
    bridge_->tsfn.Unref(env);
    Unref();
  }
}

void ProcessGroupBinding::close_group() {
  if (destroyed_) return;
  destroyed_ = true;
  state_->destroyed = true;
  std::shared_ptr<PgState> state = state_;
  thread_->post([state] {
    if (auto group = state->get()) group->close();
    state->set(nullptr);
  });
  thread_->stop();
}

Napi::Value ProcessGroupBinding::submit(Napi::Env env, std::unique_ptr<PgOp> op, Work work) {
  Napi::Promise promise = op->deferred.Promise();
  if (destroyed_) {
    op->deferred.Reject(make_js_error(env, {"ERR_DISPOSED", "the process group was destroyed"}));
    return promise;
  }
  if (pending_++ == 0) {
    bridge_->tsfn.Ref(env);
    Ref();
  }
  std::shared_ptr<PgState> state = state_;
  std::shared_ptr<PgBridge> bridge = bridge_;
  PgOp* raw = op.release();
  thread_->post([state, bridge, raw, work = std::move(work)] {
    try {
      if (state->destroyed) fail(ErrorCode::Disposed, "the process group was destroyed before this call ran");
      work(*raw, *state);
    } catch (...) {
      raw->failed = true;
      raw->error = capture_current_exception();
    }
    bridge->deliver(raw);
  });
  return promise;
}

Napi::Value ProcessGroupBinding::connect(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    if (connect_called_) fail(ErrorCode::InvalidArgument, "NativeProcessGroup.connect may be called once");
    connect_called_ = true;
    const dist::ProcessGroupOptions options = options_;
    return submit(info.Env(), std::make_unique<PgOp>(info.Env(), PgOp::Result::None),
                  [options](PgOp&, PgState& s) { s.set(dist::ProcessGroup::connect(options)); });
  });
}

Napi::Value ProcessGroupBinding::barrier(const Napi::CallbackInfo& info) {
  auto op = std::make_unique<PgOp>(info.Env(), PgOp::Result::None);
  return submit(info.Env(), std::move(op), [](PgOp&, PgState& s) { s.connected().barrier(); });
}

// allreduce(data): a new array of the same type holding the element-wise sum over the ranks.
Napi::Value ProcessGroupBinding::allreduce(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto op = std::make_unique<PgOp>(info.Env(), PgOp::Result::Array);
    op->tensor = copy_typed_array(info[0], "data", 1, &op->type).view({-1});
    return submit(info.Env(), std::move(op), [](PgOp& o, PgState& s) { s.connected().allreduce_sum(o.tensor); });
  });
}

// allgather(data): every rank's array (same length everywhere), concatenated in rank order.
Napi::Value ProcessGroupBinding::allgather(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto op = std::make_unique<PgOp>(info.Env(), PgOp::Result::Array);
    op->tensor = copy_typed_array(info[0], "data", 1, &op->type).view({-1});
    return submit(info.Env(), std::move(op), [](PgOp& o, PgState& s) { o.tensor = s.connected().allgather(o.tensor); });
  });
}

// allgatherv(data, rowElems?): {data: every rank's rows concatenated, counts: rows per rank}.
Napi::Value ProcessGroupBinding::allgatherv(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto op = std::make_unique<PgOp>(info.Env(), PgOp::Result::ArrayAndCounts);
    op->tensor = copy_typed_array(info[0], "data", row_elems_arg(info, 1), &op->type);
    return submit(info.Env(), std::move(op),
                  [](PgOp& o, PgState& s) { o.tensor = s.connected().allgather_variable(o.tensor, &o.counts); });
  });
}

// alltoall(data, inputSplits, outputSplits | null, rowElems?): {data, counts: rows from each rank}.
// Without outputSplits the split sizes are exchanged first.
Napi::Value ProcessGroupBinding::alltoall(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto op = std::make_unique<PgOp>(info.Env(), PgOp::Result::ArrayAndCounts);
    op->tensor = copy_typed_array(info[0], "data", row_elems_arg(info, 3), &op->type);
    std::vector<int64_t> in_splits = to_splits(info[1], "inputSplits");
    const bool known = !is_nullish(info[2]);
    std::vector<int64_t> out_splits = known ? to_splits(info[2], "outputSplits") : std::vector<int64_t>{};
    return submit(info.Env(), std::move(op), [in_splits, out_splits, known](PgOp& o, PgState& s) {
      dist::ProcessGroup& g = s.connected();
      if (known) {
        o.tensor = g.alltoall_base(o.tensor, in_splits, out_splits);
        o.counts = out_splits;
      } else {
        o.tensor = g.alltoall(o.tensor, in_splits, &o.counts);
      }
    });
  });
}

// broadcast(data, root): root's array, on every rank (same length everywhere).
Napi::Value ProcessGroupBinding::broadcast(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto op = std::make_unique<PgOp>(info.Env(), PgOp::Result::Array);
    op->tensor = copy_typed_array(info[0], "data", 1, &op->type).view({-1});
    const int64_t root = to_count(info[1], "root");
    if (root > INT32_MAX) fail(ErrorCode::InvalidArgument, "broadcast: root must be a rank, got ", root);
    return submit(info.Env(), std::move(op),
                  [root](PgOp& o, PgState& s) { s.connected().broadcast(o.tensor, static_cast<int>(root)); });
  });
}

// Calls already queued reject with ERR_DISPOSED; one in progress finishes; then the group closes.
Napi::Value ProcessGroupBinding::destroy(const Napi::CallbackInfo& info) {
  close_group();
  return info.Env().Undefined();
}

// The first failure's message, or null while the group is healthy (or not connected yet).
Napi::Value ProcessGroupBinding::failure(const Napi::CallbackInfo& info) {
  std::shared_ptr<dist::ProcessGroup> group = state_->get();
  std::string text = group ? group->failure() : std::string();
  if (text.empty()) return info.Env().Null();
  return Napi::String::New(info.Env(), text);
}

// Bytes exchanged with the other ranks so far (dist::Traffic); zeros before connect.
Napi::Value ProcessGroupBinding::traffic(const Napi::CallbackInfo& info) {
  std::shared_ptr<dist::ProcessGroup> group = state_->get();
  const dist::Traffic t = group ? group->traffic() : dist::Traffic{};
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("bytesSent", Napi::Number::New(info.Env(), static_cast<double>(t.bytes_sent)));
  out.Set("bytesReceived", Napi::Number::New(info.Env(), static_cast<double>(t.bytes_received)));
  out.Set("collectives", Napi::Number::New(info.Env(), static_cast<double>(t.collectives)));
  return out;
}

}  // namespace torchrec::binding
