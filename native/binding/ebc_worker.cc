#include "binding/ebc_worker.h"

#include "binding/convert.h"

namespace torchrec::binding {

EbcWorker::EbcWorker(Napi::Env env, const char* name, std::shared_ptr<EmbeddingBagCollection> ebc, Job job, Wrap wrap)
    : Napi::AsyncWorker(env, name),
      deferred_(Napi::Promise::Deferred::New(env)),
      ebc_(std::move(ebc)),
      job_(std::move(job)),
      wrap_(std::move(wrap)) {}

Napi::Promise EbcWorker::start(Napi::Env env, const char* name, std::shared_ptr<EmbeddingBagCollection> ebc,
                               CallSequencer::Kind kind, Job job, Wrap wrap) {
  auto* worker = new EbcWorker(env, name, std::move(ebc), std::move(job), std::move(wrap));
  // Taken right before queueing: the pool's FIFO order then matches the ticket order, which is what
  // keeps waiting workers from deadlocking (see call_sequencer.h).
  worker->ticket_ = worker->ebc_->sequencer().take(kind);
  Napi::Promise promise = worker->deferred_.Promise();
  try {
    worker->Queue();
  } catch (...) {
    delete worker;  // releases the ticket
    throw;
  }
  return promise;
}

void EbcWorker::Execute() {
  try {
    ticket_.wait();
    result_ = job_(*ebc_);
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
void EbcWorker::OnOK() {
  Napi::Env env = Env();
  try {
    if (failed_) {
      deferred_.Reject(make_js_error(env, error_));
    } else {
      deferred_.Resolve(wrap_(env, std::move(result_)));
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

Napi::Value wrap_float32_array(Napi::Env env, at::Tensor tensor) {
  return to_float32_array(env, std::move(tensor));
}

Napi::Value wrap_number(Napi::Env env, at::Tensor tensor) {
  return Napi::Number::New(env, tensor.item<double>());
}

Napi::Value wrap_number_array(Napi::Env env, at::Tensor tensor) {
  const double* data = tensor.data_ptr<double>();
  Napi::Array out = Napi::Array::New(env, static_cast<size_t>(tensor.numel()));
  for (int64_t i = 0; i < tensor.numel(); ++i) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, data[i]));
  return out;
}

}  // namespace torchrec::binding
