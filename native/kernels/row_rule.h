// One table's fused optimizer step as plain data, for the CPU backward kernels: which rule, its
// per-step constants and where its state lives. core/optimizer.h builds one per table and step
// (TableOptimizer::row_rule); kernels/sparse_backward_rows.h holds the rules' arithmetic, compiled once
// per instruction set, so a row update is an inlined loop, never an indirect call.
#pragma once

#include <cstdint>

namespace torchrec::kernels {

enum class RuleKind { Sgd, Adagrad, RowwiseAdagrad, Adam, PartialRowwiseAdam, Lamb };
enum class RuleDecay { None, L2, Decoupled };

struct RowRule {
  RuleKind kind = RuleKind::Sgd;
  RuleDecay decay = RuleDecay::None;
  float lr = 0.0f;
  float eps = 0.0f;
  float weight_decay = 0.0f;
  float beta1 = 0.0f, beta2 = 0.0f, one_minus_beta1 = 0.0f, one_minus_beta2 = 0.0f;
  float bias1 = 1.0f, bias2 = 1.0f;  // 1 - beta^t
  // State tensors in optimizer_state_layout order: per-element ones hold [rows][dim] floats, row-wise
  // ones [rows]. Null past the rule's count.
  float* state[2] = {nullptr, nullptr};
  bool state_per_element[2] = {false, false};
};

}  // namespace torchrec::kernels
