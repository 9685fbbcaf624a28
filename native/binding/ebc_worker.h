// Any async call on one EmbeddingBagCollection (forward, backward, tableNorms): the inputs are
// copied and the call's sequencer ticket taken on the JS thread when the worker is made, so calls
// apply in the order they were made; a libuv pool thread waits for the ticket, runs the job and
// releases the ticket at once (later calls never wait for the JS thread); the JS thread then only
// wraps the result.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>

#include "binding/errors.h"
#include "core/call_sequencer.h"
#include "core/embedding_bag_collection.h"

namespace torchrec::binding {

class EbcWorker : public Napi::AsyncWorker {
 public:
  // Runs off the JS thread, after every call it must follow; may throw.
  using Job = std::function<at::Tensor(EmbeddingBagCollection&)>;
  // Turns the job's result into the promise's value, on the JS thread (and is destroyed there, so it
  // may hold JS references, such as the array a job writes into).
  using Wrap = std::function<Napi::Value(Napi::Env, at::Tensor)>;

  // Makes the worker, takes its ticket and queues it; returns its promise.
  static Napi::Promise start(Napi::Env env, const char* name, std::shared_ptr<EmbeddingBagCollection> ebc,
                             CallSequencer::Kind kind, Job job, Wrap wrap);

  void Execute() override;
  void OnOK() override;

 private:
  EbcWorker(Napi::Env env, const char* name, std::shared_ptr<EmbeddingBagCollection> ebc, Job job, Wrap wrap);

  Napi::Promise::Deferred deferred_;
  // Holding the collection keeps its tables (and its sequencer) alive even if dispose() runs while
  // this is queued; declared before ticket_ so the ticket is released first.
  std::shared_ptr<EmbeddingBagCollection> ebc_;
  CallSequencer::Ticket ticket_;
  Job job_;
  Wrap wrap_;
  at::Tensor result_;
  bool failed_ = false;
  CapturedError error_;
};

// Wraps for the common results.
Napi::Value wrap_float32_array(Napi::Env env, at::Tensor tensor);
Napi::Value wrap_number(Napi::Env env, at::Tensor tensor);        // a float64 scalar -> number
Napi::Value wrap_number_array(Napi::Env env, at::Tensor tensor);  // a float64 tensor -> number[]

}  // namespace torchrec::binding
