// JS class wrapping core::EmbeddingBagCollection. Private surface: lib/native.ts declares it and
// lib/ebc.ts builds the public API on top.
#pragma once

#include <napi.h>

#include <memory>
#include <optional>
#include <string>

#include "core/embedding_bag_collection.h"

namespace torchrec::binding {

class EbcBinding : public Napi::ObjectWrap<EbcBinding> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit EbcBinding(const Napi::CallbackInfo& info);

 private:
  Napi::Value output_keys(const Napi::CallbackInfo& info);
  Napi::Value output_dims(const Napi::CallbackInfo& info);
  Napi::Value forward_sync(const Napi::CallbackInfo& info);
  Napi::Value forward(const Napi::CallbackInfo& info);
  Napi::Value get_weights(const Napi::CallbackInfo& info);
  Napi::Value set_weights(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);

  // Training (ebc_binding_train.cc).
  Napi::Value backward(const Napi::CallbackInfo& info);
  Napi::Value step(const Napi::CallbackInfo& info);
  Napi::Value set_step(const Napi::CallbackInfo& info);
  Napi::Value optimizer_state(const Napi::CallbackInfo& info);
  Napi::Value set_optimizer_state(const Napi::CallbackInfo& info);
  Napi::Value table_norms(const Napi::CallbackInfo& info);

  // Vocabularies.
  Napi::Value set_vocab(const Napi::CallbackInfo& info);
  Napi::Value vocab_stats(const Napi::CallbackInfo& info);

  std::shared_ptr<EmbeddingBagCollection> live(const char* method) const;

  std::shared_ptr<EmbeddingBagCollection> ebc_;
};

// Reads table i's `optimizer` field ({algorithm, eps, beta1, beta2, weightDecay, weightDecayMode} or
// null); defined in ebc_binding_train.cc.
std::optional<OptimizerSpec> read_optimizer_spec(const Napi::Value& value, const std::string& where);

}  // namespace torchrec::binding
