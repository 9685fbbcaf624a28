// the-algorithm-ml's learning-rate schedules (optimizers/config.py) and `compute_lr`
// (optimizers/optimizer.py), in double precision operation for operation as lib/config/learning_rate.ts
// computes them, so the rate of a step is the same in core as in the public computeLearningRate.
// They live here, next to the optimizer and the step counter (FBGEMM's set_learning_rate /
// set_optimizer_step), so a backward needs nothing from the caller but the batch and its gradient.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace torchrec {

struct LearningRateSchedule {
  enum class Kind { Constant, LinearRampToConstant, LinearRampToCosine, PiecewiseConstant };
  Kind kind = Kind::Constant;
  double learning_rate = 0.0;        // constant value, or the ramp's target
  double final_learning_rate = 0.0;  // linear_ramp_to_cosine
  int64_t num_ramp_steps = 0;        // both ramps
  int64_t final_num_steps = 0;       // linear_ramp_to_cosine
  std::vector<int64_t> boundaries;   // piecewise_constant: non-decreasing
  std::vector<double> values;        // piecewise_constant: boundaries.size() + 1 entries
};

// Throws ERR_INVALID_CONFIG naming `where` and the field for a schedule compute_lr cannot evaluate.
void validate_schedule(const LearningRateSchedule& schedule, const std::string& where);

// compute_lr(schedule, step) for a validated schedule; step is 0-based (update t uses step t - 1).
double compute_learning_rate(const LearningRateSchedule& schedule, int64_t step);

}  // namespace torchrec
