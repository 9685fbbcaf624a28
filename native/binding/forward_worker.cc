#include "binding/forward_worker.h"

#include "binding/convert.h"

namespace torchrec::binding {

ForwardWorker::ForwardWorker(Napi::Env env, std::shared_ptr<const EmbeddingBagCollection> ebc, KjtInputs inputs)
    : Napi::AsyncWorker(env, "torchrec.forward"),
      deferred_(Napi::Promise::Deferred::New(env)),
      ebc_(std::move(ebc)),
      inputs_(std::move(inputs)) {}

void ForwardWorker::Execute() {
  try {
    output_ = ebc_->forward(build_kjt(inputs_));
  } catch (...) {
    failed_ = true;
    error_ = capture_current_exception();
  }
}

// Nothing may escape from here: node-addon-api would try to rethrow it into JS, and when the
// environment is shutting down (a worker_thread terminated, or the process exiting, with forwards
// still in flight) JS cannot run, that rethrow throws again from a libuv callback, and the process
// aborts. Settling the promise is the only thing that needs JS; if it cannot happen nobody is
// waiting, and the output tensor is freed with this worker (or by its ArrayBuffer's finalizer).
void ForwardWorker::OnOK() {
  Napi::Env env = Env();
  try {
    if (failed_) {
      deferred_.Reject(make_js_error(env, error_));
    } else {
      deferred_.Resolve(to_float32_array(env, std::move(output_)));
    }
    return;
  } catch (const Napi::Error& e) {
    // Wrapping the output or settling failed. Report it if JS can still run.
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

Napi::Float32Array forward_into_float32_array(Napi::Env env, const EmbeddingBagCollection& ebc,
                                              const KeyedJaggedTensor& kjt) {
  const size_t length = static_cast<size_t>(kjt.stride()) * static_cast<size_t>(ebc.output_width());
  if (length == 0) {
    float none = 0.0f;
    ebc.forward(kjt, &none);  // still validates the batch (missing features, ids out of range)
    return Napi::Float32Array::New(env, 0);
  }
  float* data = nullptr;
  Napi::Float32Array out = new_float32_array(env, length, &data);
  ebc.forward(kjt, data);
  return out;
}

}  // namespace torchrec::binding
