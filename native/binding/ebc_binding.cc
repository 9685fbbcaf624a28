#include "binding/ebc_binding.h"

#include <algorithm>
#include <vector>

#include "binding/convert.h"
#include "binding/errors.h"
#include "binding/forward_inline.h"
#include "binding/forward_lane.h"
#include "binding/kjt_inputs.h"
#include "binding/managed_ids_binding.h"
#include "binding/module_spec.h"
#include "binding/module_worker.h"
#include "binding/sharded_spec.h"
#include "core/embedding_bag_collection.h"

namespace torchrec::binding {

Napi::Function EbcBinding::define(Napi::Env env) {
  return DefineClass(env, "NativeEmbeddingBagCollection",
                     {
                         InstanceMethod<&EbcBinding::output_keys>("outputKeys"),
                         InstanceMethod<&EbcBinding::output_dims>("outputDims"),
                         InstanceMethod<&EbcBinding::device>("device"),
                         InstanceMethod<&EbcBinding::forward_sync>("forwardSync"),
                         InstanceMethod<&EbcBinding::forward>("forward"),
                         InstanceMethod<&EbcBinding::get_weights>("getWeights"),
                         InstanceMethod<&EbcBinding::get_weights_async>("getWeightsAsync"),
                         InstanceMethod<&EbcBinding::set_weights>("setWeights"),
                         InstanceMethod<&EbcBinding::dispose>("dispose"),
                         InstanceMethod<&EbcBinding::backward>("backward"),
                         InstanceMethod<&EbcBinding::step>("step"),
                         InstanceMethod<&EbcBinding::set_step>("setStep"),
                         InstanceMethod<&EbcBinding::state_layout>("stateLayout"),
                         InstanceMethod<&EbcBinding::optimizer_state>("optimizerState"),
                         InstanceMethod<&EbcBinding::optimizer_state_async>("optimizerStateAsync"),
                         InstanceMethod<&EbcBinding::set_optimizer_state>("setOptimizerState"),
                         InstanceMethod<&EbcBinding::table_norms>("tableNorms"),
                         InstanceMethod<&EbcBinding::export_state>("exportState"),
                         InstanceMethod<&EbcBinding::import_state>("importState"),
                         InstanceMethod<&EbcBinding::export_shards>("exportShards"),
                         InstanceMethod<&EbcBinding::import_shards>("importShards"),
                         InstanceMethod<&EbcBinding::set_vocab>("setVocab"),
                         InstanceMethod<&EbcBinding::vocab_stats>("vocabStats"),
                         InstanceMethod<&EbcBinding::managed_id_stats>("managedIdStats"),
                         InstanceMethod<&EbcBinding::managed_id_stats_async>("managedIdStatsAsync"),
                         InstanceMethod<&EbcBinding::table_storage>("tableStorage"),
                         InstanceMethod<&EbcBinding::read_only>("readOnly"),
                     });
}

// new NativeEmbeddingBagCollection({tables, isWeighted, seed, device}); each table may carry an `optimizer`.
// With a processGroup (and placement, gradientDivision): the sharded collection (sharded_spec.h).
EbcBinding::EbcBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EbcBinding>(info) {
  guard(info.Env(), [&]() -> Napi::Value {
    ModuleSpec spec = read_module_spec(info[0]);
    if (wants_sharding(info[0].As<Napi::Object>())) {
      module_ = make_sharded_module(info[0].As<Napi::Object>(), std::move(spec));
      return info.Env().Undefined();
    }
    module_ =
        std::make_shared<EmbeddingBagCollection>(std::move(spec.tables), spec.is_weighted, spec.seed,
                                                 std::move(spec.optimizers), spec.device, spec.stochastic_rounding);
    return info.Env().Undefined();
  });
}

std::shared_ptr<EmbeddingModule> EbcBinding::module(const char* method) const {
  if (!module_) fail(ErrorCode::Disposed, method, "() called on a disposed EmbeddingBagCollection");
  return module_;
}

std::shared_ptr<EmbeddingModule> EbcBinding::local_module(const char* method) const {
  auto m = module(method);
  if (m->collective()) {
    fail(ErrorCode::InvalidArgument, method, "() would block the JS thread on the other ranks: on a sharded ",
         "EmbeddingBagCollection use its async form (every rank calls it, in the same order)");
  }
  return m;
}

CallSequencer::Kind EbcBinding::reader_kind(const EmbeddingModule& m) {
  // A collective reader runs alone, in call order, so that every rank issues the same collectives
  // in the same order.
  return m.collective() ? CallSequencer::Kind::Write : CallSequencer::Kind::Read;
}

Napi::Value EbcBinding::output_keys(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const auto& outputs = module("outputKeys")->plan().outputs();
    Napi::Array keys = Napi::Array::New(info.Env(), outputs.size());
    for (size_t i = 0; i < outputs.size(); ++i) keys.Set(i, outputs[i].key);
    return keys;
  });
}

Napi::Value EbcBinding::output_dims(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const auto& outputs = module("outputDims")->plan().outputs();
    Napi::Array dims = Napi::Array::New(info.Env(), outputs.size());
    for (size_t i = 0; i < outputs.size(); ++i)
      dims.Set(i, Napi::Number::New(info.Env(), static_cast<double>(outputs[i].dim)));
    return dims;
  });
}

Napi::Value EbcBinding::device(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value { return Napi::String::New(info.Env(), module("device")->device()); });
}

// Calls made on the JS thread take a sequencer ticket too and wait for their turn there: a
// forwardSync after a pending backward sees the updated weights, a setWeights waits for pending
// forwards (see core/call_sequencer.h).
Napi::Value EbcBinding::forward_sync(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = local_module("forwardSync");
    KeyedJaggedTensor kjt = build_kjt(view_kjt_inputs(info, 0));  // no copy: done before JS runs again
    const bool train = trains_forward(*m, info[6]);
    const std::optional<Napi::Float32Array> out = optional_float32_array(info[7], "forwardSync: out");
    auto turn = m->sequencer().enter(train ? CallSequencer::Kind::Write : CallSequencer::Kind::Read);
    return forward_into_float32_array(info.Env(), *m, kjt, train, out);  // pools straight into the result's memory
  });
}

// The result's Float32Array is made here, on the JS thread, and the worker pools straight into its
// memory (V8's, kept alive by the reference the wrap holds): no tensor to allocate and fault in off
// the JS thread, and no copy into a JS array after. Inputs whose batch size cannot be told up front
// (they will fail validation) take the plain path, which reports the problem.
Napi::Value EbcBinding::forward(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = module("forward");
    const bool train = trains_forward(*m, info[6]);
    const CallSequencer::Kind kind = train ? CallSequencer::Kind::Write : reader_kind(*m);
    // The caller's array to pool into (info[8]), else a new one.
    const std::optional<Napi::Float32Array> given = optional_float32_array(info[8], "forward: out");
    // inlineSmallForwards (info[7]): small batches skip the pool hop.
    if (info[7].IsBoolean() && info[7].As<Napi::Boolean>().Value()) {
      if (auto done = try_forward_inline(info, *m, kind, given)) return *done;
    }
    auto inputs = std::make_shared<KjtInputs>(read_kjt_inputs(info, 0));
    const int64_t width = m->plan().output_width();
    const int64_t batch = batch_size_hint(*inputs);
    const int64_t length = batch * width;
    if (given) check_out_length(*given, static_cast<size_t>(std::max<int64_t>(length, 0)));
    if (batch <= 0 || length <= 0) {
      return ModuleWorker<at::Tensor>::start(
          info.Env(), "torchrec.forward", m, kind,
          [inputs, train](EmbeddingModule& e) {
            const KeyedJaggedTensor kjt = build_kjt(*inputs);
            at::Tensor out = at::empty({kjt.stride(), e.plan().output_width()}, at::kFloat);
            train ? e.forward_train(kjt, out.data_ptr<float>()) : e.forward(kjt, out.data_ptr<float>());
            return out;
          },
          [into = given ? std::make_shared<Napi::Reference<Napi::Float32Array>>(Napi::Persistent(*given)) : nullptr](
              Napi::Env env, at::Tensor& out) -> Napi::Value {
            if (!into) return to_float32_array(env, std::move(out));
            return copy_into_out(into->Value(), out.data_ptr<float>(), static_cast<size_t>(out.numel()));
          });
    }
    // data stays null for the caller's `out`, which JS may detach while the call is in flight: the
    // pooling then writes memory of its own, copied into `out` on completion (copy_into_out).
    float* data = nullptr;
    Napi::Float32Array out = given ? *given : new_float32_array(info.Env(), static_cast<size_t>(length), &data);
    if (auto lane = try_forward_on_lane(info.Env(), m, kind, inputs, out, data)) return *lane;  // small: no pool hop
    auto result = std::make_shared<Napi::Reference<Napi::Float32Array>>(Napi::Persistent(out));
    return ModuleWorker<std::vector<float>>::start(
        info.Env(), "torchrec.forward", m, kind,
        [inputs, data, length, width, train](EmbeddingModule& e) {
          const KeyedJaggedTensor kjt = build_kjt(*inputs);
          if (kjt.stride() * width != length) {
            fail(ErrorCode::Internal, "forward: the batch size was taken as ", length / width,
                 " before the KJT was built, which has ", kjt.stride());
          }
          std::vector<float> own(data == nullptr ? static_cast<size_t>(length) : 0);
          float* into = data == nullptr ? own.data() : data;
          train ? e.forward_train(kjt, into) : e.forward(kjt, into);
          return own;
        },
        [result, data, length](Napi::Env, std::vector<float>& own) -> Napi::Value {
          if (data != nullptr) return result->Value();
          return copy_into_out(result->Value(), own.data(), static_cast<size_t>(length));
        });
  });
}

Napi::Value EbcBinding::get_weights(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = local_module("getWeights");
    const std::string table = to_string(info[0], "table");
    auto turn = m->sequencer().enter(CallSequencer::Kind::Read);
    return to_float32_array(info.Env(), m->get_weights(table));
  });
}

// getWeightsAsync(table): Promise<Float32Array>, off the JS thread; a collective on a sharded collection.
Napi::Value EbcBinding::get_weights_async(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = module("getWeights");
    const std::string table = to_string(info[0], "table");
    m->plan().table_index(table);  // an unknown name fails now, on every rank alike
    return ModuleWorker<at::Tensor>::start(
        info.Env(), "torchrec.getWeights", m, reader_kind(*m),
        [table](EmbeddingModule& e) { return e.get_weights(table); },
        [](Napi::Env env, at::Tensor& out) -> Napi::Value { return to_float32_array(env, std::move(out)); });
  });
}

// setWeights(table, Float32Array | Uint16Array of fp16 bits).
Napi::Value EbcBinding::set_weights(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = module("setWeights");
    const std::string table = to_string(info[0], "table");
    const at::Tensor values = view_float_or_half_array(info[1], "data");
    auto turn = m->sequencer().enter(CallSequencer::Kind::Write);
    m->set_weights(table, values);
    return info.Env().Undefined();
  });
}

// setVocab(table, ids: BigInt64Array, rows: BigInt64Array | Int32Array, oovRow: number /* -1: skip */).
// A writer: applied after every call made before it, and before every call made after it.
Napi::Value EbcBinding::set_vocab(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = module("setVocab");
    const std::string table = to_string(info[0], "table");
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_bigint64_array) {
      fail(ErrorCode::Dtype, "setVocab: ids must be a BigInt64Array");
    }
    at::Tensor ids = copy_index_array(info[1], "ids").to(at::kLong);
    at::Tensor rows = copy_index_array(info[2], "rows").to(at::kLong);
    if (ids.numel() != rows.numel()) {
      fail(ErrorCode::Shape, "setVocab: ids has ", ids.numel(), " entries but rows has ", rows.numel());
    }
    const int64_t oov = to_int64(info[3], "oovRow", -1, INT64_MAX / 2);
    auto turn = m->sequencer().enter(CallSequencer::Kind::Write);
    m->set_vocab(table, ids.data_ptr<int64_t>(), rows.data_ptr<int64_t>(), ids.numel(), oov);
    return info.Env().Undefined();
  });
}

// vocabStats(): {[table]: {lookups, missing}} for every table with a vocabulary.
Napi::Value EbcBinding::vocab_stats(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = module("vocabStats");
    auto turn = m->sequencer().enter(CallSequencer::Kind::Read);
    Napi::Object out = Napi::Object::New(info.Env());
    for (const auto& s : m->vocab_stats()) {
      Napi::Object entry = Napi::Object::New(info.Env());
      entry.Set("lookups", Napi::Number::New(info.Env(), static_cast<double>(s.lookups)));
      entry.Set("missing", Napi::Number::New(info.Env(), static_cast<double>(s.missing)));
      out.Set(s.table, entry);
    }
    return out;
  });
}

Napi::Value EbcBinding::dispose(const Napi::CallbackInfo& info) {
  module_.reset();  // pending calls hold their own reference and finish normally
  return info.Env().Undefined();
}

}  // namespace torchrec::binding
