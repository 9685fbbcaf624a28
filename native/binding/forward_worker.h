// forward() off the JS thread: a libuv pool thread builds and validates the KJT and runs the
// fused lookup; the JS thread only copies inputs in and wraps the output tensor.
#pragma once

#include <napi.h>

#include <memory>

#include "binding/errors.h"
#include "binding/kjt_inputs.h"
#include "core/embedding_bag_collection.h"

namespace torchrec::binding {

class ForwardWorker : public Napi::AsyncWorker {
 public:
  ForwardWorker(Napi::Env env, std::shared_ptr<const EmbeddingBagCollection> ebc, KjtInputs inputs);
  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute() override;
  void OnOK() override;

 private:
  Napi::Promise::Deferred deferred_;
  // Holding the collection keeps its tables alive even if dispose() runs while this is queued.
  std::shared_ptr<const EmbeddingBagCollection> ebc_;
  KjtInputs inputs_;
  at::Tensor output_;
  bool failed_ = false;
  CapturedError error_;
};

// forwardSync's result: the collection pools `kjt` straight into the memory of a new Float32Array
// (memory V8 owns and frees when the array is collected), with no intermediate tensor and no copy.
Napi::Float32Array forward_into_float32_array(Napi::Env env, const EmbeddingBagCollection& ebc,
                                              const KeyedJaggedTensor& kjt);

}  // namespace torchrec::binding
