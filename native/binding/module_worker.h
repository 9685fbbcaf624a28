// Any async call on one module (forward, backward, tableNorms, exportState): the inputs are copied
// and the call's sequencer ticket taken on the JS thread when the worker is made, so calls apply in
// the order they were made; a libuv pool thread waits for the ticket, runs the job and releases the
// ticket at once (later calls never wait for the JS thread); the JS thread then only wraps the
// result. Typed by the job's result (zeromq.js's UvQueue habit), so no result is squeezed through a
// tensor.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>
#include <utility>

#include "binding/errors.h"
#include "core/embedding_module.h"

namespace torchrec::binding {

template <typename Result>
class ModuleWorker : public Napi::AsyncWorker {
 public:
  // Runs off the JS thread, after every call it must follow; may throw.
  using Job = std::function<Result(EmbeddingModule&)>;
  // Turns the job's result into the promise's value, on the JS thread (and is destroyed there, so it
  // may hold JS references, such as the array a job writes into).
  using Wrap = std::function<Napi::Value(Napi::Env, Result&)>;

  // Makes the worker, takes its ticket and queues it; returns its promise.
  static Napi::Promise start(Napi::Env env, const char* name, std::shared_ptr<EmbeddingModule> module,
                             CallSequencer::Kind kind, Job job, Wrap wrap) {
    auto* worker = new ModuleWorker(env, name, std::move(module), std::move(job), std::move(wrap));
    // Taken right before queueing: the pool's FIFO order then matches the ticket order, which is what
    // keeps waiting workers from deadlocking (see call_sequencer.h).
    worker->ticket_ = worker->module_->sequencer().take(kind);
    Napi::Promise promise = worker->deferred_.Promise();
    try {
      worker->Queue();
    } catch (...) {
      delete worker;  // releases the ticket
      throw;
    }
    return promise;
  }

  void Execute() override {
    try {
      ticket_.wait();
      result_ = job_(*module_);
    } catch (...) {
      failed_ = true;
      error_ = capture_current_exception();
    }
    ticket_.release();
  }

  // Nothing may escape from here: node-addon-api would rethrow it into JS, and while the environment
  // shuts down (a worker_thread terminated, or the process exiting, with calls in flight) JS cannot
  // run, the rethrow throws again from a libuv callback and the process aborts. Settling the promise
  // is the only thing that needs JS; if it cannot happen nobody is waiting.
  void OnOK() override {
    Napi::Env env = Env();
    try {
      if (failed_) {
        deferred_.Reject(make_js_error(env, error_));
      } else {
        deferred_.Resolve(wrap_(env, result_));
      }
      return;
    } catch (const Napi::Error& e) {
      try {
        deferred_.Reject(e.Value());
      } catch (...) {
      }
    } catch (...) {
      try {
        deferred_.Reject(make_js_error(env, capture_current_exception()));
      } catch (...) {
      }
    }
  }

 private:
  ModuleWorker(Napi::Env env, const char* name, std::shared_ptr<EmbeddingModule> module, Job job, Wrap wrap)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        module_(std::move(module)),
        job_(std::move(job)),
        wrap_(std::move(wrap)) {}

  Napi::Promise::Deferred deferred_;
  // Holding the module keeps its tables (and its sequencer) alive even if dispose() runs while this
  // is queued; declared before ticket_ so the ticket is released first.
  std::shared_ptr<EmbeddingModule> module_;
  CallSequencer::Ticket ticket_;
  Job job_;
  Wrap wrap_;
  Result result_{};
  bool failed_ = false;
  CapturedError error_;
};

}  // namespace torchrec::binding
