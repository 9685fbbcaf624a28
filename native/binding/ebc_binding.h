// JS class over a core EmbeddingModule (today core::EmbeddingBagCollection). Private surface:
// lib/native.ts declares it and lib/ebc.ts builds the public API on top. Converts and dispatches
// only: every rule lives in core or in lib/.
#pragma once

#include <napi.h>

#include <memory>

#include "core/embedding_module.h"

namespace torchrec::binding {

// importState's `mapped: {file, offset, dtype}` of one table (ebc_binding_serving.cc).
MappedSource read_mapped_source(const Napi::Value& value, const std::string& where);

class EbcBinding : public Napi::ObjectWrap<EbcBinding> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit EbcBinding(const Napi::CallbackInfo& info);

 private:
  Napi::Value output_keys(const Napi::CallbackInfo& info);
  Napi::Value output_dims(const Napi::CallbackInfo& info);
  Napi::Value device(const Napi::CallbackInfo& info);
  Napi::Value forward_sync(const Napi::CallbackInfo& info);
  Napi::Value forward(const Napi::CallbackInfo& info);
  Napi::Value get_weights(const Napi::CallbackInfo& info);
  Napi::Value get_weights_async(const Napi::CallbackInfo& info);
  Napi::Value set_weights(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);

  // Training and state (ebc_binding_train.cc).
  Napi::Value backward(const Napi::CallbackInfo& info);
  Napi::Value step(const Napi::CallbackInfo& info);
  Napi::Value set_step(const Napi::CallbackInfo& info);
  Napi::Value state_layout(const Napi::CallbackInfo& info);
  Napi::Value optimizer_state(const Napi::CallbackInfo& info);
  Napi::Value optimizer_state_async(const Napi::CallbackInfo& info);
  Napi::Value set_optimizer_state(const Napi::CallbackInfo& info);
  Napi::Value table_norms(const Napi::CallbackInfo& info);
  Napi::Value export_state(const Napi::CallbackInfo& info);
  Napi::Value import_state(const Napi::CallbackInfo& info);
  // A sharded collection's own shards, for sharded snapshots (ebc_binding_shards.cc).
  Napi::Value export_shards(const Napi::CallbackInfo& info);
  Napi::Value import_shards(const Napi::CallbackInfo& info);

  // Serving (ebc_binding_serving.cc).
  Napi::Value table_storage(const Napi::CallbackInfo& info);
  Napi::Value read_only(const Napi::CallbackInfo& info);

  // Vocabularies.
  Napi::Value set_vocab(const Napi::CallbackInfo& info);
  Napi::Value vocab_stats(const Napi::CallbackInfo& info);

  // Managed ids (managed_ids_binding.cc).
  Napi::Value managed_id_stats(const Napi::CallbackInfo& info);
  Napi::Value managed_id_stats_async(const Napi::CallbackInfo& info);

  // The module, or ERR_DISPOSED naming `method`.
  std::shared_ptr<EmbeddingModule> module(const char* method) const;
  // The same, refusing a collective module (a call that would wait for other ranks on the JS thread).
  std::shared_ptr<EmbeddingModule> local_module(const char* method) const;
  // The sequencer kind of a reading call: a reader, or a writer on a collective module.
  static CallSequencer::Kind reader_kind(const EmbeddingModule& m);

  std::shared_ptr<EmbeddingModule> module_;
};

}  // namespace torchrec::binding
