// The training methods of NativeEmbeddingBagCollection: backward, the step counter, optimizer
// state and table norms. Conversion and dispatch only; the logic is in core/.
#include <cmath>

#include "binding/convert.h"
#include "binding/ebc_binding.h"
#include "binding/ebc_worker.h"
#include "binding/errors.h"
#include "binding/kjt_inputs.h"
#include "core/error.h"

namespace torchrec::binding {
namespace {

double read_hyper(const Napi::Object& obj, const char* key, const std::string& where, double low,
                  double high_exclusive) {
  const double v = to_number(obj.Get(key), (where + "." + key).c_str());
  if (!std::isfinite(v) || v < low || v >= high_exclusive) {
    fail(ErrorCode::InvalidConfig, where, ".", key, ": must be a number in [", low, ", ", high_exclusive, "), got ", v);
  }
  return v;
}

std::vector<double> read_float64_array(const Napi::Value& value, const char* name) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    fail(ErrorCode::Dtype, name, " must be a Float64Array");
  }
  Napi::Float64Array array = value.As<Napi::Float64Array>();
  return std::vector<double>(array.Data(), array.Data() + array.ElementLength());
}

int64_t read_count(const Napi::Value& value, const char* name) {
  const double v = to_number(value, name);
  if (!(v >= 0) || std::floor(v) != v || v > 9.0e15) {
    fail(ErrorCode::InvalidArgument, name, " must be a non-negative integer, got ", v);
  }
  return static_cast<int64_t>(v);
}

}  // namespace

std::optional<OptimizerSpec> read_optimizer_spec(const Napi::Value& value, const std::string& where) {
  if (is_nullish(value)) return std::nullopt;
  if (!value.IsObject()) fail(ErrorCode::InvalidConfig, where, ": must be an object or null");
  Napi::Object obj = value.As<Napi::Object>();
  const std::string algorithm = to_string(obj.Get("algorithm"), (where + ".algorithm").c_str());
  OptimizerSpec spec;
  if (algorithm == "sgd") {
    spec.kind = OptimizerKind::Sgd;
  } else if (algorithm == "adagrad") {
    spec.kind = OptimizerKind::Adagrad;
  } else if (algorithm == "rowwise_adagrad") {
    spec.kind = OptimizerKind::RowwiseAdagrad;
  } else if (algorithm == "adam") {
    spec.kind = OptimizerKind::Adam;
  } else if (algorithm == "partial_rowwise_adam") {
    spec.kind = OptimizerKind::PartialRowwiseAdam;
  } else if (algorithm == "lamb") {
    spec.kind = OptimizerKind::Lamb;
  } else {
    fail(ErrorCode::InvalidConfig, where, ".algorithm: unknown optimizer \"", algorithm, "\"");
  }
  spec.eps = read_hyper(obj, "eps", where, 0.0, INFINITY);
  spec.beta1 = read_hyper(obj, "beta1", where, 0.0, 1.0);
  spec.beta2 = read_hyper(obj, "beta2", where, 0.0, 1.0);
  spec.weight_decay = read_hyper(obj, "weightDecay", where, 0.0, INFINITY);
  const std::string mode = to_string(obj.Get("weightDecayMode"), (where + ".weightDecayMode").c_str());
  if (mode == "none") {
    spec.weight_decay_mode = WeightDecayMode::None;
  } else if (mode == "l2") {
    spec.weight_decay_mode = WeightDecayMode::L2;
  } else if (mode == "decoupled") {
    spec.weight_decay_mode = WeightDecayMode::Decoupled;
  } else {
    fail(ErrorCode::InvalidConfig, where, ".weightDecayMode: must be none, l2 or decoupled, got \"", mode, "\"");
  }
  return spec;
}

// backward(keys, values, lengths, offsets, weights, stride, gradOutput, lrBaseStep, lrs): Promise<number>,
// the step this update became (the JS side keeps it for `step` after dispose()).
Napi::Value EbcBinding::backward(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto ebc = live("backward");
    auto inputs = std::make_shared<KjtInputs>(read_kjt_inputs(info, 0));
    at::Tensor grad = copy_float_array(info[6], "gradOutput");
    LearningRateWindow lrs;
    lrs.base_step = read_count(info[7], "lrBaseStep");
    lrs.values = read_float64_array(info[8], "lrs");
    auto window = std::make_shared<const LearningRateWindow>(std::move(lrs));
    return EbcWorker::start(
        info.Env(), "torchrec.backward", ebc, CallSequencer::Kind::Write,
        [inputs, grad, window](EmbeddingBagCollection& e) {
          e.backward(build_kjt(*inputs), grad.data_ptr<float>(), grad.numel(), *window);
          // Read under the ticket: no other writer runs until it is released.
          return at::scalar_tensor(static_cast<double>(e.step()), at::kDouble);
        },
        wrap_number);
  });
}

Napi::Value EbcBinding::step(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<double>(live("step")->step()));
  });
}

Napi::Value EbcBinding::set_step(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto ebc = live("setStep");
    const int64_t step = read_count(info[0], "step");
    auto turn = ebc->sequencer().enter(CallSequencer::Kind::Write);
    ebc->set_step(step);
    return info.Env().Undefined();
  });
}

Napi::Value EbcBinding::optimizer_state(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto ebc = live("optimizerState");
    const std::string table = to_string(info[0], "table");
    auto turn = ebc->sequencer().enter(CallSequencer::Kind::Read);
    auto state = ebc->optimizer_state(table);
    turn.release();
    Napi::Object out = Napi::Object::New(info.Env());
    for (auto& [name, tensor] : state) out.Set(name, to_float32_array(info.Env(), std::move(tensor)));
    return out;
  });
}

Napi::Value EbcBinding::set_optimizer_state(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto ebc = live("setOptimizerState");
    const std::string table = to_string(info[0], "table");
    const std::string name = to_string(info[1], "name");
    int64_t length = 0;
    const float* data = float_array_data(info[2], "data", &length);
    auto turn = ebc->sequencer().enter(CallSequencer::Kind::Write);
    ebc->set_optimizer_state(table, name, data, length);
    return info.Env().Undefined();
  });
}

// tableNorms(tables, maxRows, seed): Promise<number[]>, in the order of `tables`.
Napi::Value EbcBinding::table_norms(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto ebc = live("tableNorms");
    std::vector<std::string> tables = to_string_vector(info[0], "tables");
    for (const auto& name : tables) ebc->table_index(name);  // unknown names fail now, not in the pool
    const int64_t max_rows = read_count(info[1], "maxRows");
    const uint64_t seed = static_cast<uint64_t>(read_count(info[2], "seed"));
    return EbcWorker::start(
        info.Env(), "torchrec.tableNorms", ebc, CallSequencer::Kind::Read,
        [tables, max_rows, seed](EmbeddingBagCollection& e) {
          std::vector<double> norms = e.table_norms(tables, max_rows, seed);
          at::Tensor out = at::empty({static_cast<int64_t>(norms.size())}, at::kDouble);
          std::copy(norms.begin(), norms.end(), out.data_ptr<double>());
          return out;
        },
        wrap_number_array);
  });
}

}  // namespace torchrec::binding
