// LookupPlan's rewrite for collections whose only id-changing stage is managed ids (no vocabulary):
// no id is ever dropped, so each output block is its feature's ids in place, laid out before any
// lookup. Lookups and admissions are software-pipelined (ManagedIds::find_batch / admit_batch); the
// tables' maps are independent, so big batches spread whole tables over the intra-op threads (a
// table's admissions stay in batch order on one thread, so rows are handed out as on one thread).
// EVALUATE forwards on the CPU stores skip this rewrite (plan_fused_managed: the kernel remaps).
#include <algorithm>
#include <atomic>
#include <exception>

#include "core/lookup_plan.h"
#include "core/managed_ids.h"
#include "kernels/cpu_parallel.h"
#include "kernels/table_memory.h"

namespace torchrec {
namespace {
// From this many ids a rewrite fans its tables out over the intra-op threads.
constexpr int64_t kParallelIds = 1 << 15;
}  // namespace

KeyedJaggedTensor LookupPlan::apply_managed(const KeyedJaggedTensor& kjt, const std::vector<int64_t>& feature_keys,
                                            int64_t admit_step) const {
  const int64_t batch_size = kjt.stride();
  const int64_t* in_offsets = kjt.offsets().data();
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
  at::Tensor values;
  if (admit_step >= 0 && train_ids_.defined() && train_ids_.storage().use_count() == 1 && train_ids_.numel() >= total) {
    // A TRAIN forward (the write lock is held) reuses the last one's buffer: its pages are mapped.
    values = train_ids_.narrow(0, 0, total);
  } else {
    values = at::empty({total}, at::kLong);
    // A fresh multi-MiB buffer written once end to end: on 4 KiB pages that is a fault per page, which
    // cost more than the lookups themselves at M (page faults are slow under a hypervisor).
    kernels::advise_huge_pages(values.data_ptr(), static_cast<size_t>(total) * sizeof(int64_t));
    if (admit_step >= 0) train_ids_ = values;
  }
  at::Tensor offsets = at::empty({static_cast<int64_t>(blocks) * batch_size + 1}, at::kLong);
  at::Tensor weights = weighted ? at::empty({total}, at::kFloat) : at::Tensor();
  int64_t* out_ids = values.data_ptr<int64_t>();
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

  const auto rewrite = [&](size_t i) {
    ManagedIds* managed = managed_[outputs_[i].table].get();
    const char* src = ids + begin[i] * id_bytes;
    int64_t* dst = out_ids + start[i];
    const int64_t n = length[i];
    if (managed == nullptr) {
      for (int64_t p = 0; p < n; ++p) {
        dst[p] = ids64 ? reinterpret_cast<const int64_t*>(src)[p] : reinterpret_cast<const int32_t*>(src)[p];
      }
    } else if (admit_step >= 0) {
      managed->admit_batch(src, ids64, n, admit_step, dst);
    } else {
      managed->find_batch(src, ids64, n, dst);
    }
  };
  // Units of work: each managed table's blocks in block order, each plain block alone.
  std::vector<std::vector<size_t>> units;
  std::vector<int64_t> unit_of_table(tables_.size(), -1);
  for (size_t i = 0; i < blocks; ++i) {
    const int64_t t = outputs_[i].table;
    if (managed_[t] == nullptr || unit_of_table[t] < 0) {
      if (managed_[t] != nullptr) unit_of_table[t] = static_cast<int64_t>(units.size());
      units.emplace_back();
      units.back().push_back(i);
    } else {
      units[unit_of_table[t]].push_back(i);
    }
  }
  const int threads = total >= kParallelIds && units.size() > 1 ? kernels::intra_op_threads() : 1;
  if (threads <= 1) {
    for (size_t i = 0; i < blocks; ++i) rewrite(i);
  } else {
    std::vector<std::exception_ptr> errors(units.size());  // fork_join's fn must not throw
    std::atomic<size_t> next{0};
    kernels::fork_join(threads, [&](int, int) {
      for (size_t u = next.fetch_add(1); u < units.size(); u = next.fetch_add(1)) {
        try {
          for (const size_t i : units[u]) rewrite(i);
        } catch (...) {
          errors[u] = std::current_exception();
        }
      }
    });
    for (const auto& e : errors) {
      if (e) std::rethrow_exception(e);
    }
  }
  return KeyedJaggedTensor::from_offsets(std::move(keys), values, offsets, weights, batch_size);
}

PlannedBatch LookupPlan::plan_fused_managed(const KeyedJaggedTensor& input, c10::ArrayRef<int64_t> keys) const {
  std::vector<const ManagedIds*> remapped(outputs_.size());
  for (size_t i = 0; i < outputs_.size(); ++i) remapped[i] = managed_[outputs_[i].table].get();
  check_ids(input, keys, false, &remapped);  // the plain blocks; any raw managed id has a row
  return PlannedBatch(input, std::nullopt, keys, is_weighted_, std::move(remapped));
}

}  // namespace torchrec
