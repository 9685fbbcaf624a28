// A per-environment "small-call lane": one dedicated thread that runs short calls off the JS thread
// with less latency than libuv's pool (issue 19). A pool hop pays two cross-thread wake-ups per call
// (a futex wake of a pool thread, then an eventfd write that wakes the event loop from epoll), each
// ~10 us under the bench machine's hypervisor, plus an AsyncWorker with its async_hooks per call.
// Here:
// - the lane thread spins (with pause) for a bounded time after each call before it sleeps on a
//   condition variable, so a call made right after another one starts without a wake-up;
// - while calls are in flight the JS thread keeps a uv_idle handle started, so the loop polls with a
//   zero timeout and settles finished calls from that callback; once nothing has finished for a
//   bounded time it stops polling and the lane wakes it with a uv_async send instead, so a slow call
//   never keeps the JS thread spinning.
// The calls' promises settle inside a callback scope, so await continuations run right after.
// The lane is made on first use and stopped by an async env cleanup hook (each worker_thread has its
// own env and loop); calls still queued or unsettled then are dropped (nobody can observe them).
#pragma once

#include <napi.h>

#include <memory>

#include "binding/errors.h"

namespace torchrec::binding {

// One call on the lane. Made and destroyed on the JS thread (so it may hold JS references), run on
// the lane thread.
class LaneCall {
 public:
  virtual ~LaneCall() = default;

  // On the lane thread: run() then finish(), with any exception captured for the rejection.
  void execute() noexcept;

  // On the JS thread, after a successful run: the promise's value.
  virtual Napi::Value result(Napi::Env env) = 0;

  bool failed() const { return failed_; }
  const CapturedError& error() const { return error_; }

 protected:
  // Must not wait for anything the JS thread does: the lane runs one call at a time.
  virtual void run() = 0;
  // Right after run (success or not), still on the lane thread: release what later calls wait for.
  virtual void finish() noexcept {}

 private:
  friend class SmallCallLane;  // sets deferred_, settles the promise
  bool failed_ = false;
  CapturedError error_;
  napi_deferred deferred_ = nullptr;
};

// Whether small calls take the lane: the build has it (it needs libuv's headers,
// cmake/NodeUvHeaders.cmake) and TORCHREC_SMALL_CALL_LANE=0 (read once) did not turn it off, for a
// process that would rather not spend a second core on small forwards. buildInfo().smallCallLane.
bool small_call_lane_enabled();

// Whether `env` has a lane, making it (and its thread) on first use; false if it cannot be made, and
// then the caller runs its call as it would without one.
bool small_call_lane_ready(Napi::Env env);

// Queues `call` on the lane of `env` (small_call_lane_ready must have said yes) and returns its
// promise. Never waits for the lane.
Napi::Promise submit_to_lane(Napi::Env env, std::unique_ptr<LaneCall> call);

}  // namespace torchrec::binding
