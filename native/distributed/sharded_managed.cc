// Managed ids on a sharded collection: which shard a raw id goes to, the owners' eviction passes,
// and the maps' stats and state across ranks. Each shard's owner runs core/managed_ids.h's rules
// over the shard's rows; a table_wise table is therefore exactly the unsharded table, a row_wise one
// S independent maps (TorchRec's sharded managed collisions do the same), each id always in one.
#include <algorithm>
#include <unordered_set>

#include "core/error.h"
#include "core/managed_ids.h"
#include "core/managed_rows.h"
#include "distributed/sharded_collection.h"
#include "kernels/mix64.h"

namespace torchrec::distributed {
namespace {

// One shard's map as int64s for allgather_variable: its shard index, the resident and waiting counts,
// then the vectors, then the four counters.
void pack(int64_t index, const ManagedIdsState& s, std::vector<int64_t>& out) {
  out.push_back(index);
  out.push_back(static_cast<int64_t>(s.ids.size()));
  out.push_back(static_cast<int64_t>(s.waiting_ids.size()));
  for (const auto* v :
       {&s.ids, &s.rows, &s.counts, &s.last_seen, &s.waiting_ids, &s.waiting_counts, &s.waiting_last_seen}) {
    out.insert(out.end(), v->begin(), v->end());
  }
  const ManagedIdStats& c = s.counters;
  out.insert(out.end(), {c.admitted, c.evicted, c.default_row_hits, c.waiting_dropped});
}

// Reads one packed map at `p`, advancing it.
std::pair<int64_t, ManagedIdsState> unpack(const int64_t*& p) {
  std::pair<int64_t, ManagedIdsState> out{p[0], {}};
  ManagedIdsState& s = out.second;
  const int64_t n = p[1], w = p[2];
  p += 3;
  for (auto* v : {&s.ids, &s.rows, &s.counts, &s.last_seen}) {
    v->assign(p, p + n);
    p += n;
  }
  for (auto* v : {&s.waiting_ids, &s.waiting_counts, &s.waiting_last_seen}) {
    v->assign(p, p + w);
    p += w;
  }
  s.counters = ManagedIdStats{0, 0, p[0], p[1], p[2], p[3]};
  p += 4;
  return out;
}

// Appends `part` to `whole`; counters add up.
void append(ManagedIdsState& whole, const ManagedIdsState& part) {
  const auto cat = [](std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
  };
  cat(whole.ids, part.ids);
  cat(whole.rows, part.rows);
  cat(whole.counts, part.counts);
  cat(whole.last_seen, part.last_seen);
  cat(whole.waiting_ids, part.waiting_ids);
  cat(whole.waiting_counts, part.waiting_counts);
  cat(whole.waiting_last_seen, part.waiting_last_seen);
  ManagedIdStats& c = whole.counters;
  c.admitted += part.counters.admitted;
  c.evicted += part.counters.evicted;
  c.default_row_hits += part.counters.default_row_hits;
  c.waiting_dropped += part.counters.waiting_dropped;
}

}  // namespace

int64_t ShardedEmbeddingBagCollection::managed_shard(int64_t table, int64_t id) const {
  const int64_t shards = table_shard_count_[table];
  if (shards <= 1) return 0;
  return static_cast<int64_t>(kernels::mix64(static_cast<uint64_t>(id)) % static_cast<uint64_t>(shards));
}

void ShardedEmbeddingBagCollection::run_eviction_passes(int64_t step) {
  if (!local_plan_) return;
  for (size_t j = 0; j < local_.size(); ++j) {
    ManagedIds* managed = local_plan_->managed(static_cast<int64_t>(j));
    if (managed == nullptr || !managed->pass_due(step)) continue;
    const Shard& s = shards_[local_[j]];
    const std::vector<int64_t> rows = managed->evict(step);
    const TableOrigin origin{s.table, s.first_row, s.first_col};
    reset_managed_rows(*store_, local_plan_->tables()[j], optimizers_[s.table], static_cast<int64_t>(j), origin, seed_,
                       rows);
  }
}

std::vector<std::pair<std::string, ManagedIdStats>> ShardedEmbeddingBagCollection::managed_id_stats() const {
  std::vector<int64_t> tables;
  for (size_t t = 0; t < plan_.tables().size(); ++t) {
    if (plan_.tables()[t].managed) tables.push_back(static_cast<int64_t>(t));
  }
  if (tables.empty()) return {};
  constexpr int64_t kFields = 6;
  at::Tensor sums = at::zeros({static_cast<int64_t>(tables.size()) * kFields}, at::kLong);
  int64_t* v = sums.data_ptr<int64_t>();
  for (size_t j = 0; j < local_.size(); ++j) {
    const ManagedIds* managed = local_plan_->managed(static_cast<int64_t>(j));
    if (managed == nullptr) continue;
    const auto k = std::find(tables.begin(), tables.end(), shards_[local_[j]].table) - tables.begin();
    const ManagedIdStats s = managed->stats();
    int64_t* o = v + k * kFields;
    o[0] += s.residents;
    o[1] += s.waiting;
    o[2] += s.admitted;
    o[3] += s.evicted;
    o[4] += s.default_row_hits;
    o[5] += s.waiting_dropped;
  }
  group_->allreduce_sum(sums);
  std::vector<std::pair<std::string, ManagedIdStats>> out;
  for (size_t k = 0; k < tables.size(); ++k) {
    const int64_t* o = v + k * kFields;
    out.emplace_back(plan_.tables()[tables[k]].name, ManagedIdStats{o[0], o[1], o[2], o[3], o[4], o[5]});
  }
  return out;
}

std::optional<ManagedIdsState> ShardedEmbeddingBagCollection::managed_state(const std::string& table) const {
  const int64_t t = plan_.table_index(table);
  if (!plan_.tables()[t].managed) return std::nullopt;
  std::vector<int64_t> mine;
  const int64_t j = local_shard(t);
  if (j >= 0) {
    const Shard& s = shards_[local_[j]];
    ManagedIdsState part = local_plan_->managed(j)->export_state();
    for (int64_t& row : part.rows) row += s.first_row;
    pack(s.index, part, mine);
  }
  at::Tensor in = at::from_blob(mine.data(), {static_cast<int64_t>(mine.size())}, at::kLong);
  std::vector<int64_t> counts;
  const at::Tensor all = group_->allgather_variable(in, &counts).contiguous();
  // Every shard's part, put in shard order (ranks need not hold them in that order).
  std::vector<std::pair<int64_t, ManagedIdsState>> parts;
  const int64_t* p = all.data_ptr<int64_t>();
  for (int r = 0; r < world_; ++r) {
    const int64_t* end = p + counts[r];
    while (p < end) parts.push_back(unpack(p));
  }
  std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  ManagedIdsState whole;
  for (const auto& part : parts) append(whole, part.second);
  return whole;
}

void ShardedEmbeddingBagCollection::check_managed_layout(int64_t t, const ManagedIdsState& whole,
                                                         const std::string& where) const {
  const auto bad = [&](auto&&... parts) { fail(ErrorCode::Checkpoint, where, ": managed ids: ", parts...); };
  const size_t n = whole.ids.size(), w = whole.waiting_ids.size();
  if (whole.rows.size() != n || whole.counts.size() != n || whole.last_seen.size() != n ||
      whole.waiting_counts.size() != w || whole.waiting_last_seen.size() != w) {
    bad("the residents' or the waiting ids' vectors have different lengths");
  }
  std::vector<const Shard*> shard_of(static_cast<size_t>(table_shard_count_[t]));
  for (const Shard& s : shards_) {
    if (s.table == t) shard_of[s.index] = &s;
  }
  const int64_t N = plan_.tables()[t].num_embeddings;
  std::unordered_set<int64_t> ids, rows;
  for (size_t i = 0; i < n; ++i) {
    const int64_t id = whole.ids[i], row = whole.rows[i];
    if (row < 0 || row >= N) bad("entry ", i, " (id ", id, ") maps to row ", row, ", outside [0, ", N, ")");
    const Shard& s = *shard_of[managed_shard(t, id)];
    if (shard_of.size() == 1 && row == N - 1) {
      bad("entry ", i, " (id ", id, ") maps to row ", row, ", the default row (ids take rows [0, ", N - 1, "))");
    }
    if (row < s.first_row || row >= s.first_row + s.rows - 1) {
      bad("entry ", i, " (id ", id, ") maps to row ", row, ", but the id belongs to shard ", s.index, " (rows ",
          s.first_row, " to ", s.first_row + s.rows - 2, "; row ", s.first_row + s.rows - 1,
          " is its default row): a row_wise managed table restores only into as many shards as it was saved from");
    }
    if (whole.counts[i] < 0 || whole.last_seen[i] < 0) bad("entry ", i, " (id ", id, ") has a negative count or step");
    if (!ids.insert(id).second) bad("id ", id, " appears twice");
    if (!rows.insert(row).second) bad("row ", row, " is given to two ids");
  }
  std::vector<int64_t> waiting(shard_of.size(), 0);
  for (size_t i = 0; i < w; ++i) {
    if (ids.count(whole.waiting_ids[i]) > 0) bad("waiting id ", whole.waiting_ids[i], " is also resident");
    if (whole.waiting_counts[i] < 0 || whole.waiting_last_seen[i] < 0) {
      bad("waiting id ", whole.waiting_ids[i], " has a negative count or step");
    }
    ++waiting[managed_shard(t, whole.waiting_ids[i])];
  }
  const int64_t max_waiting = plan_.tables()[t].managed->max_waiting;
  for (const Shard* s : shard_of) {
    const int64_t bound = max_waiting < 0 ? s->rows : max_waiting;
    if (waiting[s->index] > bound) {
      bad(waiting[s->index], " waiting ids belong to shard ", s->index, ", more than it keeps (", bound, ")");
    }
  }
}

ManagedIdsState ShardedEmbeddingBagCollection::managed_part(size_t j, const ManagedIdsState& whole) const {
  const Shard& s = shards_[local_[j]];
  ManagedIdsState part;
  for (size_t i = 0; i < whole.ids.size(); ++i) {
    if (managed_shard(s.table, whole.ids[i]) != s.index) continue;
    part.ids.push_back(whole.ids[i]);
    part.rows.push_back(whole.rows[i] - s.first_row);
    part.counts.push_back(whole.counts[i]);
    part.last_seen.push_back(whole.last_seen[i]);
  }
  for (size_t i = 0; i < whole.waiting_ids.size(); ++i) {
    if (managed_shard(s.table, whole.waiting_ids[i]) != s.index) continue;
    part.waiting_ids.push_back(whole.waiting_ids[i]);
    part.waiting_counts.push_back(whole.waiting_counts[i]);
    part.waiting_last_seen.push_back(whole.waiting_last_seen[i]);
  }
  // The counters are the table's: shard 0 keeps them, so the stats' sums come back unchanged.
  if (s.index == 0) part.counters = whole.counters;
  return part;
}

}  // namespace torchrec::distributed
