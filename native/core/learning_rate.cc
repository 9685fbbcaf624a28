#include "core/learning_rate.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace torchrec {
namespace {

bool valid_rate(double v) {
  return std::isfinite(v) && v >= 0;
}

}  // namespace

void validate_schedule(const LearningRateSchedule& s, const std::string& where) {
  using Kind = LearningRateSchedule::Kind;
  switch (s.kind) {
    case Kind::Constant:
      if (!valid_rate(s.learning_rate))
        fail(ErrorCode::InvalidConfig, where, ".constant: must be a finite number >= 0");
      return;
    case Kind::LinearRampToConstant:
    case Kind::LinearRampToCosine: {
      const char* name = s.kind == Kind::LinearRampToConstant ? "linear_ramp_to_constant" : "linear_ramp_to_cosine";
      if (!valid_rate(s.learning_rate)) {
        fail(ErrorCode::InvalidConfig, where, ".", name, ".learning_rate: must be a finite number >= 0");
      }
      if (s.num_ramp_steps <= 0) {
        fail(ErrorCode::InvalidConfig, where, ".", name, ".num_ramp_steps: must be a positive integer");
      }
      if (s.kind == Kind::LinearRampToCosine) {
        if (!valid_rate(s.final_learning_rate)) {
          fail(ErrorCode::InvalidConfig, where, ".", name, ".final_learning_rate: must be a finite number >= 0");
        }
        if (s.final_num_steps <= s.num_ramp_steps) {
          fail(ErrorCode::InvalidConfig, where, ".", name, ".final_num_steps: must be greater than num_ramp_steps (",
               s.num_ramp_steps, "), got ", s.final_num_steps);
        }
      }
      return;
    }
    case Kind::PiecewiseConstant:
      if (s.values.size() != s.boundaries.size() + 1) {
        fail(ErrorCode::InvalidConfig, where,
             ".piecewise_constant.learning_rate_values: must have one more entry than ", "learning_rate_boundaries (",
             s.boundaries.size(), "), got ", s.values.size());
      }
      for (size_t i = 0; i < s.boundaries.size(); ++i) {
        // Equal neighbours are allowed: compute_lr is bisect_right, which then skips the empty interval.
        if (s.boundaries[i] < 0 || (i > 0 && s.boundaries[i] < s.boundaries[i - 1])) {
          fail(ErrorCode::InvalidConfig, where, ".piecewise_constant.learning_rate_boundaries[", i,
               "]: boundaries must be non-negative and non-decreasing, got ", s.boundaries[i]);
        }
      }
      for (size_t i = 0; i < s.values.size(); ++i) {
        if (!valid_rate(s.values[i])) {
          fail(ErrorCode::InvalidConfig, where, ".piecewise_constant.learning_rate_values[", i,
               "]: must be a finite number >= 0");
        }
      }
      return;
  }
  fail(ErrorCode::InvalidConfig, where, ": unknown learning-rate schedule");
}

double compute_learning_rate(const LearningRateSchedule& s, int64_t step) {
  using Kind = LearningRateSchedule::Kind;
  const double x = static_cast<double>(step);
  switch (s.kind) {
    case Kind::Constant: return s.learning_rate;
    case Kind::PiecewiseConstant: {
      // bisect_right: the index of the first boundary greater than step.
      const auto at = std::upper_bound(s.boundaries.begin(), s.boundaries.end(), step);
      return s.values[static_cast<size_t>(at - s.boundaries.begin())];
    }
    case Kind::LinearRampToConstant: {
      const double slope = s.learning_rate / static_cast<double>(s.num_ramp_steps);
      return std::min(s.learning_rate, slope * x);
    }
    case Kind::LinearRampToCosine: {
      const double ramp = static_cast<double>(s.num_ramp_steps);
      const double final_steps = static_cast<double>(s.final_num_steps);
      if (step < s.num_ramp_steps) return s.learning_rate / ramp * x;
      if (step <= s.final_num_steps) {
        return s.final_learning_rate + (s.learning_rate - s.final_learning_rate) * 0.5 *
                                           (1.0 + std::cos((M_PI * (x - ramp)) / (final_steps - ramp)));
      }
      return s.final_learning_rate;
    }
  }
  return 0.0;
}

}  // namespace torchrec
