// Fused sparse optimizers with FBGEMM's "exact" rules (test/fixtures/golden/OPTIMIZERS.md). One
// TableOptimizer per table owns that table's state (fp32 even for fp16 tables) and updates one
// row at a time from the row's aggregated gradient; the sparse backward kernel groups duplicate
// ids and calls update_row once per touched row, from several threads on distinct rows.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace torchrec {

enum class OptimizerKind { Sgd, Adagrad, RowwiseAdagrad, Adam, PartialRowwiseAdam, Lamb };
enum class WeightDecayMode { None, L2, Decoupled };

// Hyper-parameters other than the learning rate, which is passed per step (it follows a schedule).
// Doubles, as the user wrote them (FBGEMM's host API takes doubles too); the rules compute in float.
struct OptimizerSpec {
  OptimizerKind kind = OptimizerKind::Sgd;
  double eps = 1e-8;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double weight_decay = 0.0;
  WeightDecayMode weight_decay_mode = WeightDecayMode::None;
};

// FBGEMM's EmbOptimType name, e.g. "EXACT_ROWWISE_ADAGRAD".
const char* optimizer_kind_name(OptimizerKind kind);

// One state tensor: `per_element` ones are [N][D], the others (row-wise) [N].
struct StateSpec {
  std::string name;
  bool per_element = true;
};

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

class TableOptimizer {
 public:
  TableOptimizer(OptimizerSpec spec, std::vector<StateSpec> states, int64_t num_rows, int64_t dim);
  virtual ~TableOptimizer() = default;

  const OptimizerSpec& spec() const { return spec_; }
  const std::vector<StateSpec>& state_specs() const { return state_specs_; }
  int64_t num_rows() const { return num_rows_; }
  int64_t dim() const { return dim_; }

  // State is allocated (zero, as FBGEMM's) on first use, so inference-only users who keep an
  // optimizer in their config pay no memory for it.
  void ensure_state();
  bool has_state() const { return !state_.empty(); }
  // A float32 copy of one state tensor, flattened ([N*D] or [N]); zeros if never allocated.
  at::Tensor state_copy(size_t index) const;
  void set_state(size_t index, const float* data, int64_t numel);
  int64_t state_numel(size_t index) const;

  OptimizerStep make_step(float lr, int64_t t) const;

  // Starts loading row `row`'s state into the cache (a hint; no-op before the state exists).
  void prefetch_state(int64_t row) const;

  // Updates row `row` in place. `w` is the row widened to fp32 (the pre-update value on entry),
  // `g` the row's aggregated gradient, `scratch` dim() floats the rule may use. Rows handed to
  // concurrent calls are distinct, so the row's state slots are private to the caller.
  virtual void update_row(int64_t row, float* w, const float* g, float* scratch, const OptimizerStep& step) = 0;

 protected:
  float* state_row(size_t index, int64_t row) {
    return state_ptr_[index] + (state_specs_[index].per_element ? row * dim_ : row);
  }

  OptimizerSpec spec_;
  int64_t num_rows_;
  int64_t dim_;

 private:
  std::vector<StateSpec> state_specs_;
  std::vector<at::Tensor> state_;
  std::vector<float*> state_ptr_;
};

std::unique_ptr<TableOptimizer> make_optimizer(const OptimizerSpec& spec, int64_t num_rows, int64_t dim);

// Rule families, one file each (optimizer_sgd.cc, optimizer_adagrad.cc, optimizer_adam.cc,
// optimizer_lamb.cc); make_optimizer dispatches to them.
std::unique_ptr<TableOptimizer> make_sgd_optimizer(const OptimizerSpec& spec, int64_t num_rows, int64_t dim);
std::unique_ptr<TableOptimizer> make_adagrad_optimizer(const OptimizerSpec& spec, int64_t num_rows, int64_t dim);
std::unique_ptr<TableOptimizer> make_adam_optimizer(const OptimizerSpec& spec, int64_t num_rows, int64_t dim);
std::unique_ptr<TableOptimizer> make_lamb_optimizer(const OptimizerSpec& spec, int64_t num_rows, int64_t dim);

}  // namespace torchrec
