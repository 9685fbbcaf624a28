// JS class wrapping core::EmbeddingBagCollection. Private surface: lib/native.ts declares it and
// lib/ebc.ts builds the public API on top.
#pragma once

#include <napi.h>

#include <memory>

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

  std::shared_ptr<EmbeddingBagCollection> live(const char* method) const;

  std::shared_ptr<EmbeddingBagCollection> ebc_;
};

}  // namespace torchrec::binding
