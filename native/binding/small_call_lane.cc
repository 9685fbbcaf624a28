#include "binding/small_call_lane.h"

#ifndef TORCHREC_NO_SMALL_CALL_LANE
#include <uv.h>
#ifdef __linux__
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#endif

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "binding/addon_data.h"

namespace torchrec::binding {

void LaneCall::execute() noexcept {
  try {
    run();
  } catch (...) {
    failed_ = true;
    try {
      error_ = capture_current_exception();
    } catch (...) {
      error_.code = "ERR_INTERNAL";  // out of memory while describing the failure
    }
  }
  finish();
}

#ifndef TORCHREC_NO_SMALL_CALL_LANE
namespace {

// After a call the lane spins this long for the next one before it sleeps: a sequential await loop
// makes its next call a few microseconds after the previous one settles, well within this, and an
// idle process stops spending CPU this long after its last call.
constexpr uint64_t kLaneSpinNs = 50'000;
// The JS thread polls (the loop turning with a zero timeout) while calls are in flight, until none
// has finished for this long; then it sleeps in epoll and the lane wakes it with a uv_async send.
constexpr uint64_t kPollNs = 100'000;
// A small call takes a few microseconds; polling longer than this without a result, the JS thread
// yields on every turn of the loop.
constexpr uint64_t kYieldAfterNs = 10'000;
// A call the lane has started, on another core, usually finishes within a couple of microseconds: the
// JS thread waits up to this long (counted from the last submission or settlement) in one turn of the
// loop instead of turning it again: each turn makes a zero-timeout epoll_pwait (~1 us on this VM).
constexpr uint64_t kAwaitStartedNs = 3'000;

// Spinning must not starve the thread it waits for: on a loaded machine (the bench machine's other
// core busy) the lane and the JS thread may share one core, and a pure pause loop on either side then
// holds it for a whole spin or poll window (measured: ~120 us per call, 2-3x the pool's). But a yield
// is a syscall (1.3 us here), and a lane that yields every few pauses is inside one when a call
// arrives. So a spinner yields only when it runs on the core where the other thread was last seen.
inline void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// The core this thread runs on, or -1 where that cannot be told (then spinners treat it as shared).
inline int current_cpu() {
#ifdef __linux__
  return sched_getcpu();
#else
  return -1;
#endif
}

inline bool may_share_core(int other_cpu) {
  const int here = current_cpu();
  return here < 0 || here == other_cpu;
}

}  // namespace

class SmallCallLane {
 public:
  // The lane of `env`, made on first use; nullptr if it cannot be made (the caller uses the pool).
  static SmallCallLane* of(napi_env env);

  Napi::Promise submit(Napi::Env env, std::unique_ptr<LaneCall> call);

 private:
  explicit SmallCallLane(napi_env env) : env_(env) {}
  bool start();
  void lane_main();
  void stop_thread();
  bool settle();
  void settle_one(LaneCall* call);
  void stop_polling();
  static void on_idle(uv_idle_t* handle);
  static void on_async(uv_async_t* handle);
  static void on_cleanup(napi_async_cleanup_hook_handle handle, void* arg);
  static void on_closed(uv_handle_t* handle);
  static void stop_all_at_exit();

  napi_env env_;
  uv_idle_t idle_{};
  uv_async_t async_{};
  napi_ref resource_ = nullptr;  // the async resource the promises settle under (async_hooks)
  napi_async_context context_ = nullptr;
  napi_async_cleanup_hook_handle cleanup_ = nullptr;
  int open_handles_ = 0;

  // JS thread -> lane.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<LaneCall*> queue_;
  bool sleeping_ = false;
  bool stopping_ = false;
  std::atomic<uint64_t> queued_{0};  // calls ever queued: what the spinning lane watches
  std::atomic<uint64_t> taken_{0};   // calls the lane has started: the JS thread yields until then
  std::atomic<bool> stop_flag_{false};

  // Lane -> JS thread.
  std::mutex done_mutex_;
  std::vector<LaneCall*> done_;
  std::atomic<bool> polling_{false};   // the JS thread will find finished calls without a wake-up
  std::atomic<uint64_t> finished_{0};  // calls the lane has put in done_: what a waiting JS thread watches
  std::atomic<int> js_cpu_{-1};        // the core the JS thread last submitted from (current_cpu)
  std::atomic<int> lane_cpu_{-1};      // the core the lane last started a call on

  // JS thread only.
  std::vector<LaneCall*> settling_;  // swapped with done_, so neither allocates per call
  size_t in_flight_ = 0;
  uint64_t last_progress_ = 0;

  std::thread thread_;

  // Every lane whose thread runs, for the atexit handler: process.exit() on the main thread ends
  // the process without the env's cleanup hooks, and a lane thread must not be inside libtorch
  // while static destructors run. Leaked on purpose, so it outlives every static destructor.
  static std::mutex& registry_mutex() {
    static auto* m = new std::mutex();
    return *m;
  }
  static std::vector<SmallCallLane*>& registry() {
    static auto* r = new std::vector<SmallCallLane*>();
    return *r;
  }
};

SmallCallLane* SmallCallLane::of(napi_env env) {
  AddonData* data = addon_data(Napi::Env(env));
  if (data->lane == nullptr && !data->lane_failed) {
    auto* lane = new SmallCallLane(env);
    if (lane->start()) {
      data->lane = lane;
    } else {
      data->lane_failed = true;  // start() undid what it did, or left it to on_closed
    }
  }
  return data->lane;
}

// Everything that can fail comes before the first libuv handle, so a failure undoes napi state only.
bool SmallCallLane::start() {
  uv_loop_t* loop = nullptr;
  napi_value resource;
  napi_value name;
  if (napi_get_uv_event_loop(env_, &loop) != napi_ok || napi_create_object(env_, &resource) != napi_ok ||
      napi_create_string_utf8(env_, "torchrec.forward", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_reference(env_, resource, 1, &resource_) != napi_ok) {
    delete this;
    return false;
  }
  if (napi_async_init(env_, resource, name, &context_) != napi_ok) {
    napi_delete_reference(env_, resource_);
    delete this;
    return false;
  }
  if (napi_add_async_cleanup_hook(env_, on_cleanup, this, &cleanup_) != napi_ok) {
    napi_async_destroy(env_, context_);
    napi_delete_reference(env_, resource_);
    delete this;
    return false;
  }
  if (uv_async_init(loop, &async_, on_async) != 0) {
    napi_remove_async_cleanup_hook(cleanup_);
    napi_async_destroy(env_, context_);
    napi_delete_reference(env_, resource_);
    delete this;
    return false;
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(&async_));  // referenced only while calls are in flight
  uv_idle_init(loop, &idle_);                         // cannot fail
  async_.data = this;
  idle_.data = this;
  open_handles_ = 2;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    try {
      thread_ = std::thread([this] { lane_main(); });
      static const bool registered = std::atexit(stop_all_at_exit) == 0;
      (void)registered;
      registry().push_back(this);
      return true;
    } catch (...) {
    }
  }
  // No thread: the cleanup hook closes the handles and frees the lane at env teardown; until then
  // it only answers "no lane".
  return false;
}

void SmallCallLane::lane_main() {
  uint64_t taken = 0;
  for (;;) {
    if (queued_.load(std::memory_order_acquire) == taken) {
      const uint64_t until = uv_hrtime() + kLaneSpinNs;
      for (unsigned n = 1; queued_.load(std::memory_order_acquire) == taken; ++n) {
        if ((n & 7) != 0) {
          spin_pause();
          continue;
        }
        if (stop_flag_.load(std::memory_order_relaxed) || uv_hrtime() > until) break;
        if (may_share_core(js_cpu_.load(std::memory_order_relaxed))) std::this_thread::yield();
      }
    }
    LaneCall* call;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      while (queue_.empty() && !stopping_) {
        sleeping_ = true;
        wake_.wait(lock);
        sleeping_ = false;
      }
      if (stopping_) return;  // what is still queued is dropped on the JS thread
      call = queue_.front();
      queue_.pop_front();
    }
    lane_cpu_.store(current_cpu(), std::memory_order_relaxed);
    taken_.store(++taken, std::memory_order_relaxed);
    call->execute();
    {
      std::lock_guard<std::mutex> lock(done_mutex_);
      done_.push_back(call);
    }
    finished_.fetch_add(1, std::memory_order_release);
    // Pairs with stop_polling's fence: either the JS thread sees this call when it looks again after
    // stopping, or this sees that it stopped and wakes it.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!polling_.load(std::memory_order_relaxed)) uv_async_send(&async_);
  }
}

Napi::Promise SmallCallLane::submit(Napi::Env env, std::unique_ptr<LaneCall> call) {
  napi_value promise;
  if (napi_create_promise(env, &call->deferred_, &promise) != napi_ok) throw Napi::Error::New(env);
  if (in_flight_++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(&async_));
  last_progress_ = uv_hrtime();
  js_cpu_.store(current_cpu(), std::memory_order_relaxed);
  if (!polling_.load(std::memory_order_relaxed)) {  // before queueing: then the lane need not send
    polling_.store(true, std::memory_order_seq_cst);
    uv_idle_start(&idle_, on_idle);
  }
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(call.release());
    wake = sleeping_;
  }
  queued_.fetch_add(1, std::memory_order_release);
  if (wake) wake_.notify_one();
  return Napi::Promise(env, promise);
}

void SmallCallLane::on_idle(uv_idle_t* handle) {
  auto* self = static_cast<SmallCallLane*>(handle->data);
  // The lane runs the last call on another core: wait for it here, briefly (kAwaitStartedNs).
  const uint64_t started = self->taken_.load(std::memory_order_acquire);
  if (started == self->queued_.load(std::memory_order_relaxed) &&
      self->finished_.load(std::memory_order_acquire) != started &&
      !may_share_core(self->lane_cpu_.load(std::memory_order_relaxed))) {
    const uint64_t until = self->last_progress_ + kAwaitStartedNs;
    for (unsigned n = 1; self->finished_.load(std::memory_order_acquire) != started; ++n) {
      spin_pause();
      if ((n & 7) == 0 && uv_hrtime() > until) break;
    }
  }
  // Nothing finished: yield the core if the lane may need it (a loaded machine puts both on one
  // core): it has not started the last call, or a call runs longer than a small one should. Else
  // the lane runs on another core and the loop just turns again.
  if (!self->settle() &&
      (self->taken_.load(std::memory_order_relaxed) != self->queued_.load(std::memory_order_relaxed) ||
       uv_hrtime() - self->last_progress_ > kYieldAfterNs)) {
    std::this_thread::yield();
  }
  if (self->in_flight_ == 0 || uv_hrtime() - self->last_progress_ > kPollNs) {
    self->stop_polling();
    self->settle();  // what finished while the lane still saw polling_ set
  }
}

void SmallCallLane::on_async(uv_async_t* handle) {
  static_cast<SmallCallLane*>(handle->data)->settle();
}

void SmallCallLane::stop_polling() {
  polling_.store(false, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  uv_idle_stop(&idle_);
}

// Settles every finished call inside one callback scope, whose close runs the microtasks (the
// awaits' continuations) and process.nextTick callbacks, as node does after any native callback.
bool SmallCallLane::settle() {
  {
    std::lock_guard<std::mutex> lock(done_mutex_);
    if (done_.empty()) return false;
    std::swap(done_, settling_);
  }
  in_flight_ -= settling_.size();
  last_progress_ = uv_hrtime();
  if (in_flight_ == 0) uv_unref(reinterpret_cast<uv_handle_t*>(&async_));
  napi_handle_scope handles = nullptr;
  napi_callback_scope scope = nullptr;
  napi_value resource = nullptr;
  if (napi_open_handle_scope(env_, &handles) == napi_ok &&
      napi_get_reference_value(env_, resource_, &resource) == napi_ok && resource != nullptr) {
    if (napi_open_callback_scope(env_, resource, context_, &scope) != napi_ok) scope = nullptr;
  }
  for (LaneCall* call : settling_) {
    if (handles != nullptr) settle_one(call);
    delete call;  // after its promise settled (the result array it references is in the handle scope)
  }
  settling_.clear();
  if (scope != nullptr) napi_close_callback_scope(env_, scope);
  if (handles != nullptr) napi_close_handle_scope(env_, handles);
  return true;
}

// Nothing may escape: as in ModuleWorker::OnOK, if the promise cannot settle nobody is waiting.
void SmallCallLane::settle_one(LaneCall* call) {
  Napi::Env env(env_);
  napi_deferred deferred = call->deferred_;
  try {
    if (call->failed_) {
      napi_reject_deferred(env_, deferred, make_js_error(env, call->error_));
    } else {
      napi_resolve_deferred(env_, deferred, call->result(env));
    }
    return;
  } catch (const Napi::Error& e) {
    try {
      napi_reject_deferred(env_, deferred, e.Value());
    } catch (...) {
    }
  } catch (...) {
    try {
      napi_reject_deferred(env_, deferred, make_js_error(env, capture_current_exception()));
    } catch (...) {
    }
  }
}

void SmallCallLane::stop_thread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  stop_flag_.store(true, std::memory_order_relaxed);
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void SmallCallLane::stop_all_at_exit() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  for (SmallCallLane* lane : registry()) lane->stop_thread();
}

// The env goes away (process end, worker_thread end or terminate()), maybe with calls in flight:
// stop the thread, drop the calls unsettled (destroying a call releases its sequencer ticket), and
// close the handles; the env waits for their close callbacks before it closes the loop.
void SmallCallLane::on_cleanup(napi_async_cleanup_hook_handle, void* arg) {
  auto* self = static_cast<SmallCallLane*>(arg);
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto& lanes = registry();
    lanes.erase(std::remove(lanes.begin(), lanes.end(), self), lanes.end());
    self->stop_thread();
  }
  uv_idle_stop(&self->idle_);
  for (LaneCall* call : self->queue_) delete call;
  for (LaneCall* call : self->done_) delete call;
  self->queue_.clear();
  self->done_.clear();
  napi_async_destroy(self->env_, self->context_);
  napi_delete_reference(self->env_, self->resource_);
  AddonData* data = addon_data(Napi::Env(self->env_));
  if (data != nullptr && data->lane == self) {
    data->lane = nullptr;
    data->lane_failed = true;  // no new lane while the env goes away: any later call takes the pool
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&self->idle_), on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&self->async_), on_closed);
}

void SmallCallLane::on_closed(uv_handle_t* handle) {
  auto* self = static_cast<SmallCallLane*>(handle->data);
  if (--self->open_handles_ > 0) return;
  napi_remove_async_cleanup_hook(self->cleanup_);
  delete self;
}

bool small_call_lane_enabled() {
  static const bool enabled = [] {
    const char* flag = std::getenv("TORCHREC_SMALL_CALL_LANE");
    return flag == nullptr || std::string(flag) != "0";
  }();
  return enabled;
}

bool small_call_lane_ready(Napi::Env env) {
  return small_call_lane_enabled() && SmallCallLane::of(env) != nullptr;
}

Napi::Promise submit_to_lane(Napi::Env env, std::unique_ptr<LaneCall> call) {
  return SmallCallLane::of(env)->submit(env, std::move(call));
}

#else  // built without libuv's headers (cmake/NodeUvHeaders.cmake): every call takes the pool

bool small_call_lane_enabled() {
  return false;
}

bool small_call_lane_ready(Napi::Env) {
  return false;
}

Napi::Promise submit_to_lane(Napi::Env env, std::unique_ptr<LaneCall>) {
  throw Napi::Error::New(env, "this build has no small-call lane");
}

#endif

}  // namespace torchrec::binding
