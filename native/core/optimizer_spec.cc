#include "core/optimizer_spec.h"

#include <cmath>

#include "core/error.h"

namespace torchrec {
namespace {

void check_range(double v, double low, double high_exclusive, const std::string& where, const char* field) {
  if (!std::isfinite(v) || v < low || v >= high_exclusive) {
    fail(ErrorCode::InvalidConfig, where, ".", field, ": must be a number in [", low, ", ", high_exclusive, "), got ",
         v);
  }
}

}  // namespace

void validate_optimizer_spec(const OptimizerSpec& spec, const std::string& where) {
  check_range(spec.lr, 0.0, INFINITY, where, "lr");
  check_range(spec.eps, 0.0, INFINITY, where, "eps");
  check_range(spec.beta1, 0.0, 1.0, where, "beta1");
  check_range(spec.beta2, 0.0, 1.0, where, "beta2");
  check_range(spec.weight_decay, 0.0, INFINITY, where, "weight_decay");
  const bool has_decay = spec.kind == OptimizerKind::RowwiseAdagrad || spec.kind == OptimizerKind::Adam ||
                         spec.kind == OptimizerKind::PartialRowwiseAdam || spec.kind == OptimizerKind::Lamb;
  if (!has_decay && spec.weight_decay != 0.0) {
    fail(ErrorCode::InvalidConfig, where, ".weight_decay: this optimizer has no weight decay, got ", spec.weight_decay);
  }
  if (spec.kind != OptimizerKind::RowwiseAdagrad && spec.weight_decay_mode != WeightDecayMode::None) {
    fail(ErrorCode::InvalidConfig, where, ".weight_decay_mode: only rowwise_adagrad has one");
  }
  if (spec.schedule) validate_schedule(*spec.schedule, where + ".learning_rate");
}

double learning_rate_at(const OptimizerSpec& spec, int64_t t) {
  return spec.schedule ? compute_learning_rate(*spec.schedule, t - 1) : spec.lr;
}

const std::vector<StateSpec>& optimizer_state_layout(OptimizerKind kind) {
  static const std::vector<StateSpec> none;
  static const std::vector<StateSpec> adagrad{{"momentum1", true, true}};
  static const std::vector<StateSpec> rowwise_adagrad{{"momentum1", false, true}};
  static const std::vector<StateSpec> adam{{"momentum1", true, false}, {"momentum2", true, true}};
  static const std::vector<StateSpec> partial_rowwise_adam{{"momentum1", true, false}, {"momentum2", false, true}};
  switch (kind) {
    case OptimizerKind::Sgd: return none;
    case OptimizerKind::Adagrad: return adagrad;
    case OptimizerKind::RowwiseAdagrad: return rowwise_adagrad;
    case OptimizerKind::Adam:
    case OptimizerKind::Lamb: return adam;
    case OptimizerKind::PartialRowwiseAdam: return partial_rowwise_adam;
  }
  return none;
}

void check_state_values(const StateSpec& spec, const std::string& table, const float* data, int64_t numel) {
  for (int64_t i = 0; i < numel; ++i) {
    if (!std::isfinite(data[i])) {
      fail(ErrorCode::NonFinite, "optimizer state ", spec.name, " of table ", table, ": element ", i,
           " is not finite (", data[i], ")");
    }
    if (spec.non_negative && data[i] < 0) {
      fail(ErrorCode::InvalidArgument, "optimizer state ", spec.name, " of table ", table, ": element ", i, " is ",
           data[i], ", but it accumulates squared gradients and must be >= 0");
    }
  }
}

OptimizerStep make_optimizer_step(const OptimizerSpec& spec, int64_t t) {
  OptimizerStep step;
  step.lr = static_cast<float>(learning_rate_at(spec, t));
  step.t = t;
  step.beta1 = static_cast<float>(spec.beta1);
  step.beta2 = static_cast<float>(spec.beta2);
  step.one_minus_beta1 = static_cast<float>(1.0 - spec.beta1);
  step.one_minus_beta2 = static_cast<float>(1.0 - spec.beta2);
  step.bias1 = static_cast<float>(1.0 - std::pow(spec.beta1, static_cast<double>(t)));
  step.bias2 = static_cast<float>(1.0 - std::pow(spec.beta2, static_cast<double>(t)));
  return step;
}

}  // namespace torchrec
