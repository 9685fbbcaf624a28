// Reads the constructor's options object (lib/native.ts NativeModuleOptions) into core specs: the
// binding's one place that turns JS config into TableSpec / OptimizerSpec. Conversion only; core
// validates (validate_table_specs, validate_optimizer_spec).
#pragma once

#include <napi.h>

#include <optional>
#include <string>
#include <vector>

#include "core/optimizer_spec.h"
#include "core/table_spec.h"

namespace torchrec::binding {

struct ModuleSpec {
  std::vector<TableSpec> tables;
  std::vector<std::optional<OptimizerSpec>> optimizers;
  bool is_weighted = false;
  uint64_t seed = 0;
  std::string device = "cpu";
  bool stochastic_rounding = true;
};

ModuleSpec read_module_spec(const Napi::Value& options);

// An optimizer algorithm name ("sgd", "rowwise_adagrad", ...) as its kind.
OptimizerKind read_optimizer_kind(const Napi::Value& value, const std::string& where);

// One table's `optimizer` ({algorithm, lr, schedule, eps, beta1, beta2, weightDecay, weightDecayMode}).
OptimizerSpec read_optimizer_spec(const Napi::Value& value, const std::string& where);

}  // namespace torchrec::binding
