// LookupPlan's rewrite for collections whose only id-changing stage is managed ids (no vocabulary):
// no id is ever dropped, so each output block is its feature's ids in place, laid out before any
// lookup. Lookups and admissions run on the calling thread, software-pipelined (ManagedIds::
// find_batch / admit_batch): measured at M, a fork/join over the intra-op threads made lookups
// several times slower, not faster (bench/results/managed-ids.md).
#include <algorithm>

#include "core/lookup_plan.h"
#include "core/managed_ids.h"
#include "kernels/table_memory.h"

namespace torchrec {
KeyedJaggedTensor LookupPlan::apply_managed(const KeyedJaggedTensor& kjt, const std::vector<int64_t>& feature_keys,
                                            int64_t admit_step) const {
  const int64_t batch_size = kjt.stride();
  const int64_t* in_offsets = kjt.offsets().data_ptr<int64_t>();
  const bool ids64 = kjt.values().scalar_type() == at::kLong;
  const char* ids = static_cast<const char*>(kjt.values().data_ptr());
  const size_t id_bytes = ids64 ? sizeof(int64_t) : sizeof(int32_t);
  const bool weighted = is_weighted_ && kjt.has_weights();
  const size_t blocks = outputs_.size();

  std::vector<int64_t> begin(blocks), length(blocks), start(blocks);
  int64_t total = 0;
  for (size_t i = 0; i < blocks; ++i) {
    const int64_t key = feature_keys[i];
    begin[i] = in_offsets[key * batch_size];
    length[i] = in_offsets[(key + 1) * batch_size] - begin[i];
    start[i] = total;
    total += length[i];
  }
  at::Tensor values = at::empty({total}, at::kLong);
  at::Tensor offsets = at::empty({static_cast<int64_t>(blocks) * batch_size + 1}, at::kLong);
  at::Tensor weights = weighted ? at::empty({total}, at::kFloat) : at::Tensor();
  int64_t* out_ids = values.data_ptr<int64_t>();
  // A fresh multi-MiB buffer written once end to end: on 4 KiB pages that is a fault per page, which
  // cost more than the lookups themselves at M (page faults are slow under a hypervisor).
  kernels::advise_huge_pages(out_ids, static_cast<size_t>(total) * sizeof(int64_t));
  int64_t* out_offsets = offsets.data_ptr<int64_t>();
  out_offsets[0] = 0;
  std::vector<std::string> keys;
  for (size_t i = 0; i < blocks; ++i) {
    keys.push_back(outputs_[i].key);
    const int64_t key = feature_keys[i];
    for (int64_t b = 0; b < batch_size; ++b) {
      out_offsets[i * batch_size + b + 1] = start[i] + in_offsets[key * batch_size + b + 1] - begin[i];
    }
    if (weighted) {
      std::copy_n(kjt.weights().data_ptr<float>() + begin[i], length[i], weights.data_ptr<float>() + start[i]);
    }
  }

  for (size_t i = 0; i < blocks; ++i) {
    const ManagedIds* managed = managed_[outputs_[i].table].get();
    const char* src = ids + begin[i] * id_bytes;
    int64_t* dst = out_ids + start[i];
    const int64_t n = length[i];
    if (managed == nullptr) {
      for (int64_t p = 0; p < n; ++p) {
        dst[p] = ids64 ? reinterpret_cast<const int64_t*>(src)[p] : reinterpret_cast<const int32_t*>(src)[p];
      }
    } else if (admit_step >= 0) {
      managed_[outputs_[i].table]->admit_batch(src, ids64, n, admit_step, dst);
    } else {
      managed->find_batch(src, ids64, n, dst);
    }
  }
  return KeyedJaggedTensor::from_offsets(std::move(keys), values, offsets, weights, batch_size);
}

PlannedBatch LookupPlan::plan_fused_managed(const KeyedJaggedTensor& input, std::vector<int64_t> keys) const {
  std::vector<const ManagedIds*> remapped(outputs_.size());
  for (size_t i = 0; i < outputs_.size(); ++i) remapped[i] = managed_[outputs_[i].table].get();
  check_ids(input, keys, false, &remapped);  // the plain blocks; any raw managed id has a row
  return PlannedBatch(input, std::nullopt, std::move(keys), is_weighted_, std::move(remapped));
}

}  // namespace torchrec
