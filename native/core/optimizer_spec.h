// A table's fused optimizer as data: the rule, its hyper-parameters, its learning rate or schedule,
// and the layout of its state. The one owner of these facts for every store (CPU and CUDA) and for
// the checkpoint code, which reads state names and shapes from here through the binding.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/learning_rate.h"

namespace torchrec {

enum class OptimizerKind { Sgd, Adagrad, RowwiseAdagrad, Adam, PartialRowwiseAdam, Lamb };
enum class WeightDecayMode { None, L2, Decoupled };

// Doubles, as the user wrote them (FBGEMM's host API takes doubles too); the rules compute in float.
struct OptimizerSpec {
  OptimizerKind kind = OptimizerKind::Sgd;
  double lr = 0.0;                               // the rate when there is no schedule
  std::optional<LearningRateSchedule> schedule;  // the-algorithm-ml's learning_rate
  double eps = 1e-8;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double weight_decay = 0.0;
  WeightDecayMode weight_decay_mode = WeightDecayMode::None;
};

// Throws ERR_INVALID_CONFIG naming `where` and the field for anything the rules cannot run with:
// a rate or eps that is negative or not finite, a beta outside [0, 1) (Adam divides by 1 - beta^t),
// weight decay on a rule that has none, a bad schedule.
void validate_optimizer_spec(const OptimizerSpec& spec, const std::string& where);

// The rate of update t (1-based): compute_lr(schedule, t - 1), or the spec's lr without a schedule.
double learning_rate_at(const OptimizerSpec& spec, int64_t t);

// One state tensor: `per_element` ones are [N][D], the others (row-wise) [N]. Names are FBGEMM's.
// `non_negative`: a sum of squares the rule takes the square root of; a negative value (only a
// hand-made checkpoint can hold one) would turn the weights to NaN or -Inf at the next step.
struct StateSpec {
  std::string name;
  bool per_element = true;
  bool non_negative = false;
};

// The state of each rule, in order: sgd none; adagrad momentum1 [N][D]; rowwise_adagrad momentum1 [N];
// adam and lamb momentum1, momentum2 [N][D]; partial_rowwise_adam momentum1 [N][D], momentum2 [N].
const std::vector<StateSpec>& optimizer_state_layout(OptimizerKind kind);

// Throws (ERR_NON_FINITE, ERR_INVALID_ARGUMENT) naming the index of the first value of a state tensor
// the rule cannot continue from; every store checks state it is given with this.
// `table` names the table in the message.
void check_state_values(const StateSpec& spec, const std::string& table, const float* data, int64_t numel);

// Per-step constants, computed once before the rows are updated. 1 - beta and the bias corrections
// 1 - beta^t are evaluated in double and rounded once to float, as torch's float32 arithmetic does
// with Python-float hyper-parameters (how optimizers.json was computed: m.mul_(b1).add_(g, alpha=1-b1)).
// FBGEMM's GPU kernels derive them from a float beta instead; 1 - beta2 then differs by 1.3e-5
// relative, which the golden's momentum2 would show (~6e-7 after 3 steps) and this avoids.
struct OptimizerStep {
  float lr = 0.0f;
  int64_t t = 0;  // global step, 1-based
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float one_minus_beta1 = 0.1f;
  float one_minus_beta2 = 0.001f;
  float bias1 = 1.0f;  // 1 - beta1^t
  float bias2 = 1.0f;  // 1 - beta2^t
};

// The constants of update t for `spec`, its learning rate included.
OptimizerStep make_optimizer_step(const OptimizerSpec& spec, int64_t t);

}  // namespace torchrec
