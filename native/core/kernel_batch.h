// The fields every CPU pooling kernel's batch (kernels::PooledBatch, kernels::QuantizedBatch) reads
// from a planned batch: one place that knows how a PlannedBatch lays out for the kernels.
#pragma once

#include "core/lookup_plan.h"

namespace torchrec {

template <typename KernelBatch>
KernelBatch kernel_batch(const LookupPlan& plan, const PlannedBatch& planned, float* out) {
  const KeyedJaggedTensor& kjt = planned.kjt();
  KernelBatch batch;
  batch.offsets = kjt.offsets().data();
  batch.ids = kjt.values().data_ptr();
  batch.ids_int64 = kjt.values().scalar_type() == at::kLong;
  batch.per_value_weights = planned.per_value_weights();
  batch.batch = kjt.stride();
  batch.out = out;
  batch.out_width = plan.output_width();
  return batch;
}

}  // namespace torchrec
