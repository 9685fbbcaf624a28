#include "binding/module_spec.h"

#include "binding/convert.h"
#include "binding/managed_ids_binding.h"

namespace torchrec::binding {
namespace {

constexpr int64_t kMaxSafeInteger = 9007199254740991;  // 2^53 - 1

Napi::Object as_object(const Napi::Value& value, const std::string& where) {
  if (!value.IsObject()) fail(ErrorCode::InvalidArgument, where, " must be an object");
  return value.As<Napi::Object>();
}

std::string field(const std::string& where, const char* name) {
  return where + "." + name;
}

TableSpec read_table(const Napi::Object& obj, const std::string& where) {
  TableSpec spec;
  spec.name = to_string(obj.Get("name"), field(where, "name").c_str());
  spec.num_embeddings = to_int64(obj.Get("numEmbeddings"), field(where, "numEmbeddings").c_str(), 0, kMaxSafeInteger);
  spec.embedding_dim = to_int64(obj.Get("embeddingDim"), field(where, "embeddingDim").c_str(), 0, kMaxSafeInteger);
  spec.dtype = to_enum<c10::ScalarType>(obj.Get("dataType"), field(where, "dataType").c_str(),
                                        {{"fp32", at::kFloat},
                                         {"fp16", at::kHalf},
                                         {"int8", c10::ScalarType::QUInt8},
                                         {"int4", c10::ScalarType::QUInt4x2},
                                         {"int2", c10::ScalarType::QUInt2x4}});
  spec.pooling = to_enum<Pooling>(obj.Get("pooling"), field(where, "pooling").c_str(),
                                  {{"SUM", Pooling::Sum}, {"MEAN", Pooling::Mean}});
  spec.feature_names = to_string_vector(obj.Get("featureNames"), field(where, "featureNames").c_str());
  spec.init_min = to_number(obj.Get("initMin"), field(where, "initMin").c_str());
  spec.init_max = to_number(obj.Get("initMax"), field(where, "initMax").c_str());
  if (!is_nullish(obj.Get("managedCollision")))
    spec.managed = read_managed_ids(obj.Get("managedCollision"), field(where, "managedCollision"));
  return spec;
}

std::vector<int64_t> read_int_list(const Napi::Value& value, const std::string& where) {
  if (!value.IsArray()) fail(ErrorCode::InvalidArgument, where, " must be an array");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    out.push_back(
        to_int64(array.Get(i), (where + "[" + std::to_string(i) + "]").c_str(), INT64_MIN / 2, kMaxSafeInteger));
  }
  return out;
}

std::vector<double> read_number_list(const Napi::Value& value, const std::string& where) {
  if (!value.IsArray()) fail(ErrorCode::InvalidArgument, where, " must be an array");
  Napi::Array array = value.As<Napi::Array>();
  std::vector<double> out;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    out.push_back(to_number(array.Get(i), (where + "[" + std::to_string(i) + "]").c_str()));
  }
  return out;
}

// {kind, learningRate?, finalLearningRate?, numRampSteps?, finalNumSteps?, boundaries?, values?}
LearningRateSchedule read_schedule(const Napi::Object& obj, const std::string& where) {
  using Kind = LearningRateSchedule::Kind;
  LearningRateSchedule s;
  s.kind = to_enum<Kind>(obj.Get("kind"), field(where, "kind").c_str(),
                         {{"constant", Kind::Constant},
                          {"linear_ramp_to_constant", Kind::LinearRampToConstant},
                          {"linear_ramp_to_cosine", Kind::LinearRampToCosine},
                          {"piecewise_constant", Kind::PiecewiseConstant}});
  const auto number = [&](const char* name) {
    return is_nullish(obj.Get(name)) ? 0.0 : to_number(obj.Get(name), field(where, name).c_str());
  };
  const auto count = [&](const char* name) {
    return is_nullish(obj.Get(name)) ? 0 : to_int64(obj.Get(name), field(where, name).c_str(), 0, kMaxSafeInteger);
  };
  s.learning_rate = number("learningRate");
  s.final_learning_rate = number("finalLearningRate");
  s.num_ramp_steps = count("numRampSteps");
  s.final_num_steps = count("finalNumSteps");
  if (s.kind == Kind::PiecewiseConstant) {
    s.boundaries = read_int_list(obj.Get("boundaries"), field(where, "boundaries"));
    s.values = read_number_list(obj.Get("values"), field(where, "values"));
  }
  return s;
}

// {algorithm, lr, schedule: {...} | null, eps, beta1, beta2, weightDecay, weightDecayMode} or null.
std::optional<OptimizerSpec> read_optimizer(const Napi::Value& value, const std::string& where) {
  if (is_nullish(value)) return std::nullopt;
  const Napi::Object obj = as_object(value, where);
  OptimizerSpec spec;
  spec.kind = read_optimizer_kind(obj.Get("algorithm"), field(where, "algorithm"));
  spec.lr = to_number(obj.Get("lr"), field(where, "lr").c_str());
  if (!is_nullish(obj.Get("schedule"))) {
    spec.schedule = read_schedule(as_object(obj.Get("schedule"), field(where, "schedule")), field(where, "schedule"));
  }
  spec.eps = to_number(obj.Get("eps"), field(where, "eps").c_str());
  spec.beta1 = to_number(obj.Get("beta1"), field(where, "beta1").c_str());
  spec.beta2 = to_number(obj.Get("beta2"), field(where, "beta2").c_str());
  spec.weight_decay = to_number(obj.Get("weightDecay"), field(where, "weightDecay").c_str());
  spec.weight_decay_mode = to_enum<WeightDecayMode>(
      obj.Get("weightDecayMode"), field(where, "weightDecayMode").c_str(),
      {{"none", WeightDecayMode::None}, {"l2", WeightDecayMode::L2}, {"decoupled", WeightDecayMode::Decoupled}});
  return spec;
}

}  // namespace

OptimizerKind read_optimizer_kind(const Napi::Value& value, const std::string& where) {
  return to_enum<OptimizerKind>(value, where.c_str(),
                                {{"sgd", OptimizerKind::Sgd},
                                 {"adagrad", OptimizerKind::Adagrad},
                                 {"rowwise_adagrad", OptimizerKind::RowwiseAdagrad},
                                 {"adam", OptimizerKind::Adam},
                                 {"partial_rowwise_adam", OptimizerKind::PartialRowwiseAdam},
                                 {"lamb", OptimizerKind::Lamb}});
}

OptimizerSpec read_optimizer_spec(const Napi::Value& value, const std::string& where) {
  if (is_nullish(value)) fail(ErrorCode::InvalidArgument, where, " must be an object");
  return *read_optimizer(value, where);
}

ModuleSpec read_module_spec(const Napi::Value& value) {
  const Napi::Object options = as_object(value, "options");
  ModuleSpec spec;
  if (!options.Get("tables").IsArray()) fail(ErrorCode::InvalidArgument, "options.tables must be an array");
  Napi::Array tables = options.Get("tables").As<Napi::Array>();
  for (uint32_t i = 0; i < tables.Length(); ++i) {
    const std::string where = "tables[" + std::to_string(i) + "]";
    const Napi::Object table = as_object(tables.Get(i), where);
    spec.tables.push_back(read_table(table, where));
    spec.optimizers.push_back(read_optimizer(table.Get("optimizer"), field(where, "optimizer")));
  }
  spec.is_weighted = options.Get("isWeighted").ToBoolean().Value();
  spec.seed = static_cast<uint64_t>(to_int64(options.Get("seed"), "options.seed", 0, kMaxSafeInteger));
  spec.device = to_string(options.Get("device"), "options.device");
  if (!is_nullish(options.Get("stochasticRounding"))) {
    spec.stochastic_rounding = options.Get("stochasticRounding").ToBoolean().Value();
  }
  return spec;
}

}  // namespace torchrec::binding
