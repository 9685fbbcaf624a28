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

void ForwardWorker::OnOK() {
  Napi::Env env = Env();
  if (failed_) {
    deferred_.Reject(make_js_error(env, error_));
    return;
  }
  try {
    deferred_.Resolve(to_float32_array(env, std::move(output_)));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
}

}  // namespace torchrec::binding
