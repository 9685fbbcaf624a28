#include "binding/ebc_binding.h"

#include <cmath>

#include "binding/convert.h"
#include "binding/ebc_worker.h"
#include "binding/errors.h"
#include "binding/kjt_inputs.h"
#include "core/error.h"

namespace torchrec::binding {
namespace {

int64_t positive_int(const Napi::Object& obj, const char* key, const std::string& where) {
  const double v = to_number(obj.Get(key), (where + "." + key).c_str());
  if (!(v > 0) || std::floor(v) != v || v > 9.0e15) {
    fail(ErrorCode::InvalidConfig, where, ".", key, ": must be a positive integer, got ", v);
  }
  return static_cast<int64_t>(v);
}

// Tables arrive already validated by lib/config; this re-reads the fields memory safety rests on.
TableSpec read_table(const Napi::Value& value, uint32_t index) {
  const std::string where = "tables[" + std::to_string(index) + "]";
  Napi::Object obj = value.As<Napi::Object>();
  TableSpec spec;
  spec.name = to_string(obj.Get("name"), (where + ".name").c_str());
  spec.num_embeddings = positive_int(obj, "numEmbeddings", where);
  spec.embedding_dim = positive_int(obj, "embeddingDim", where);
  const std::string dtype = to_string(obj.Get("dataType"), (where + ".dataType").c_str());
  if (dtype == "fp32") {
    spec.dtype = at::kFloat;
  } else if (dtype == "fp16") {
    spec.dtype = at::kHalf;
  } else {
    fail(ErrorCode::InvalidConfig, where, ".data_type: must be fp32 or fp16, got \"", dtype, "\"");
  }
  const std::string pooling = to_string(obj.Get("pooling"), (where + ".pooling").c_str());
  if (pooling == "SUM") {
    spec.pooling = Pooling::Sum;
  } else if (pooling == "MEAN") {
    spec.pooling = Pooling::Mean;
  } else {
    fail(ErrorCode::InvalidConfig, where, ".pooling: must be SUM or MEAN, got \"", pooling, "\"");
  }
  spec.feature_names = to_string_vector(obj.Get("featureNames"), (where + ".feature_names").c_str());
  spec.init_min = to_number(obj.Get("initMin"), (where + ".weight_init_min").c_str());
  spec.init_max = to_number(obj.Get("initMax"), (where + ".weight_init_max").c_str());
  return spec;
}

}  // namespace

Napi::Function EbcBinding::define(Napi::Env env) {
  return DefineClass(env, "NativeEmbeddingBagCollection",
                     {
                         InstanceMethod<&EbcBinding::output_keys>("outputKeys"),
                         InstanceMethod<&EbcBinding::output_dims>("outputDims"),
                         InstanceMethod<&EbcBinding::forward_sync>("forwardSync"),
                         InstanceMethod<&EbcBinding::forward>("forward"),
                         InstanceMethod<&EbcBinding::get_weights>("getWeights"),
                         InstanceMethod<&EbcBinding::set_weights>("setWeights"),
                         InstanceMethod<&EbcBinding::dispose>("dispose"),
                         InstanceMethod<&EbcBinding::backward>("backward"),
                         InstanceMethod<&EbcBinding::step>("step"),
                         InstanceMethod<&EbcBinding::set_step>("setStep"),
                         InstanceMethod<&EbcBinding::optimizer_state>("optimizerState"),
                         InstanceMethod<&EbcBinding::set_optimizer_state>("setOptimizerState"),
                         InstanceMethod<&EbcBinding::table_norms>("tableNorms"),
                         InstanceMethod<&EbcBinding::set_vocab>("setVocab"),
                         InstanceMethod<&EbcBinding::vocab_stats>("vocabStats"),
                     });
}

// new NativeEmbeddingBagCollection(tables, isWeighted, seed); each table may carry an `optimizer`.
EbcBinding::EbcBinding(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EbcBinding>(info) {
  guard(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsArray()) fail(ErrorCode::InvalidConfig, "tables: must be an array");
    Napi::Array tables = info[0].As<Napi::Array>();
    std::vector<TableSpec> specs;
    std::vector<std::optional<OptimizerSpec>> optimizers;
    for (uint32_t i = 0; i < tables.Length(); ++i) {
      const std::string where = "tables[" + std::to_string(i) + "]";
      Napi::Value table = tables.Get(i);
      if (!table.IsObject()) fail(ErrorCode::InvalidConfig, where, ": must be an object");
      specs.push_back(read_table(table, i));
      optimizers.push_back(read_optimizer_spec(table.As<Napi::Object>().Get("optimizer"), where + ".optimizer"));
    }
    const bool is_weighted = info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
    const double seed = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 0.0;
    ebc_ = std::make_shared<EmbeddingBagCollection>(std::move(specs), is_weighted,
                                                    static_cast<uint64_t>(std::fabs(seed)), std::move(optimizers));
    return info.Env().Undefined();
  });
}

std::shared_ptr<EmbeddingBagCollection> EbcBinding::live(const char* method) const {
  if (!ebc_) fail(ErrorCode::Disposed, method, "() called on a disposed EmbeddingBagCollection");
  return ebc_;
}

Napi::Value EbcBinding::output_keys(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto ebc = live("outputKeys");
    Napi::Array keys = Napi::Array::New(info.Env(), ebc->outputs().size());
    for (size_t i = 0; i < ebc->outputs().size(); ++i) keys.Set(i, ebc->outputs()[i].key);
    return keys;
  });
}

Napi::Value EbcBinding::output_dims(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto ebc = live("outputDims");
    Napi::Array dims = Napi::Array::New(info.Env(), ebc->outputs().size());
    for (size_t i = 0; i < ebc->outputs().size(); ++i) {
      dims.Set(i, Napi::Number::New(info.Env(), static_cast<double>(ebc->outputs()[i].dim)));
    }
    return dims;
  });
}

// Calls made on the JS thread take a sequencer ticket too and wait for their turn there: a
// forwardSync after a pending backward sees the updated weights, a setWeights waits for pending
// forwards (see core/call_sequencer.h).
Napi::Value EbcBinding::forward_sync(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto ebc = live("forwardSync");
    KeyedJaggedTensor kjt = build_kjt(view_kjt_inputs(info, 0));  // no copy: done before JS runs again
    auto turn = ebc->sequencer().enter(CallSequencer::Kind::Read);
    return forward_into_float32_array(info.Env(), *ebc, kjt);  // pools straight into the result's memory
  });
}

// The result's Float32Array is made here, on the JS thread, and the worker pools straight into its
// memory (V8's, kept alive by the reference the wrap holds): no tensor to allocate and fault in off
// the JS thread, and no copy into a JS array after. Inputs whose batch size cannot be told up front
// (they will fail validation) take the plain path, which reports the problem.
Napi::Value EbcBinding::forward(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto ebc = live("forward");
    auto inputs = std::make_shared<KjtInputs>(read_kjt_inputs(info, 0));
    const int64_t batch = batch_size_hint(*inputs);
    const int64_t length = batch * ebc->output_width();
    if (batch <= 0 || length <= 0) {
      return EbcWorker::start(
          info.Env(), "torchrec.forward", ebc, CallSequencer::Kind::Read,
          [inputs](EmbeddingBagCollection& e) { return e.forward(build_kjt(*inputs)); }, wrap_float32_array);
    }
    float* data = nullptr;
    Napi::Float32Array out = new_float32_array(info.Env(), static_cast<size_t>(length), &data);
    auto result = std::make_shared<Napi::Reference<Napi::Float32Array>>(Napi::Persistent(out));
    return EbcWorker::start(
        info.Env(), "torchrec.forward", ebc, CallSequencer::Kind::Read,
        [inputs, data, length](EmbeddingBagCollection& e) {
          const KeyedJaggedTensor kjt = build_kjt(*inputs);
          if (kjt.stride() * e.output_width() != length) {
            fail(ErrorCode::Internal, "forward: the batch size was taken as ", length / e.output_width(),
                 " before the KJT was built, which has ", kjt.stride());
          }
          e.forward(kjt, data);
          return at::Tensor();
        },
        [result](Napi::Env, at::Tensor) -> Napi::Value { return result->Value(); });
  });
}

Napi::Value EbcBinding::get_weights(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto ebc = live("getWeights");
    const std::string table = to_string(info[0], "table");
    auto turn = ebc->sequencer().enter(CallSequencer::Kind::Read);
    return to_float32_array(info.Env(), ebc->get_weights(table));
  });
}

Napi::Value EbcBinding::set_weights(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto ebc = live("setWeights");
    const std::string table = to_string(info[0], "table");
    int64_t length = 0;
    const float* data = float_array_data(info[1], "data", &length);
    auto turn = ebc->sequencer().enter(CallSequencer::Kind::Write);
    ebc->set_weights(table, data, length);
    return info.Env().Undefined();
  });
}

// setVocab(table, ids: BigInt64Array, rows: BigInt64Array | Int32Array, oovRow: number /* -1: skip */).
// A writer: applied after every call made before it, and before every call made after it.
Napi::Value EbcBinding::set_vocab(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto ebc = live("setVocab");
    const std::string table = to_string(info[0], "table");
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_bigint64_array) {
      fail(ErrorCode::Dtype, "setVocab: ids must be a BigInt64Array");
    }
    at::Tensor ids = copy_index_array(info[1], "ids").to(at::kLong);
    at::Tensor rows = copy_index_array(info[2], "rows").to(at::kLong);
    if (ids.numel() != rows.numel()) {
      fail(ErrorCode::Shape, "setVocab: ids has ", ids.numel(), " entries but rows has ", rows.numel());
    }
    const double oov = to_number(info[3], "oovRow");
    if (!(oov >= -1) || std::floor(oov) != oov || oov > 9.0e15) {
      fail(ErrorCode::InvalidArgument, "setVocab: oovRow must be -1 or a row index, got ", oov);
    }
    auto turn = ebc->sequencer().enter(CallSequencer::Kind::Write);
    ebc->set_vocab(table, ids.data_ptr<int64_t>(), rows.data_ptr<int64_t>(), ids.numel(), static_cast<int64_t>(oov));
    return info.Env().Undefined();
  });
}

// vocabStats(): {[table]: {lookups, missing}} for every table with a vocabulary.
Napi::Value EbcBinding::vocab_stats(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto ebc = live("vocabStats");
    auto turn = ebc->sequencer().enter(CallSequencer::Kind::Read);
    Napi::Object out = Napi::Object::New(info.Env());
    for (const auto& s : ebc->vocab_stats()) {
      Napi::Object entry = Napi::Object::New(info.Env());
      entry.Set("lookups", Napi::Number::New(info.Env(), static_cast<double>(s.lookups)));
      entry.Set("missing", Napi::Number::New(info.Env(), static_cast<double>(s.missing)));
      out.Set(s.table, entry);
    }
    return out;
  });
}

Napi::Value EbcBinding::dispose(const Napi::CallbackInfo& info) {
  ebc_.reset();  // pending calls hold their own reference and finish normally
  return info.Env().Undefined();
}

}  // namespace torchrec::binding
