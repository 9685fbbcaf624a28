#include "binding/managed_ids_binding.h"

#include "binding/convert.h"
#include "binding/ebc_binding.h"
#include "binding/errors.h"
#include "binding/module_worker.h"

namespace torchrec::binding {
namespace {

constexpr int64_t kMaxSafeInteger = 9007199254740991;  // 2^53 - 1

Napi::Value to_bigint64_array(Napi::Env env, const std::vector<int64_t>& values) {
  auto out = Napi::TypedArrayOf<int64_t>::New(env, values.size(), napi_bigint64_array);
  std::copy(values.begin(), values.end(), out.Data());
  return out;
}

std::vector<int64_t> from_bigint64_array(const Napi::Object& obj, const char* name, const std::string& where) {
  const Napi::Value value = obj.Get(name);
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_bigint64_array) {
    fail(ErrorCode::Checkpoint, where, ".", name, " must be a BigInt64Array");
  }
  auto array = value.As<Napi::TypedArrayOf<int64_t>>();
  return std::vector<int64_t>(array.Data(), array.Data() + array.ElementLength());
}

}  // namespace

ManagedIdsSpec read_managed_ids(const Napi::Value& value, const std::string& where) {
  if (!value.IsObject()) fail(ErrorCode::InvalidArgument, where, " must be an object");
  const Napi::Object obj = value.As<Napi::Object>();
  ManagedIdsSpec spec;
  spec.policy = to_enum<EvictionPolicy>(
      obj.Get("policy"), (where + ".policy").c_str(),
      {{"lfu", EvictionPolicy::Lfu}, {"lru", EvictionPolicy::Lru}, {"distance_lfu", EvictionPolicy::DistanceLfu}});
  spec.eviction_interval = to_int64(obj.Get("interval"), (where + ".interval").c_str(), 1, kMaxSafeInteger);
  spec.decay_exponent = to_number(obj.Get("decayExponent"), (where + ".decayExponent").c_str());
  spec.max_waiting = to_int64(obj.Get("maxWaiting"), (where + ".maxWaiting").c_str(), -1, kMaxSafeInteger);
  return spec;
}

bool trains_forward(const EmbeddingModule& module, const Napi::Value& train) {
  return !train.IsUndefined() && train.ToBoolean().Value() && (module.has_managed_ids() || module.collective());
}

Napi::Object managed_state_to_js(Napi::Env env, const ManagedIdsState& s) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("ids", to_bigint64_array(env, s.ids));
  out.Set("rows", to_bigint64_array(env, s.rows));
  out.Set("counts", to_bigint64_array(env, s.counts));
  out.Set("lastSeen", to_bigint64_array(env, s.last_seen));
  out.Set("waitingIds", to_bigint64_array(env, s.waiting_ids));
  out.Set("waitingCounts", to_bigint64_array(env, s.waiting_counts));
  out.Set("waitingLastSeen", to_bigint64_array(env, s.waiting_last_seen));
  out.Set("admitted", Napi::Number::New(env, static_cast<double>(s.counters.admitted)));
  out.Set("evicted", Napi::Number::New(env, static_cast<double>(s.counters.evicted)));
  out.Set("defaultRowHits", Napi::Number::New(env, static_cast<double>(s.counters.default_row_hits)));
  out.Set("waitingDropped", Napi::Number::New(env, static_cast<double>(s.counters.waiting_dropped)));
  return out;
}

ManagedIdsState managed_state_from_js(const Napi::Value& value, const std::string& where) {
  if (!value.IsObject()) fail(ErrorCode::Checkpoint, where, " must be an object");
  const Napi::Object obj = value.As<Napi::Object>();
  ManagedIdsState s;
  s.ids = from_bigint64_array(obj, "ids", where);
  s.rows = from_bigint64_array(obj, "rows", where);
  s.counts = from_bigint64_array(obj, "counts", where);
  s.last_seen = from_bigint64_array(obj, "lastSeen", where);
  s.waiting_ids = from_bigint64_array(obj, "waitingIds", where);
  s.waiting_counts = from_bigint64_array(obj, "waitingCounts", where);
  s.waiting_last_seen = from_bigint64_array(obj, "waitingLastSeen", where);
  const auto counter = [&](const char* name) {
    return to_int64(obj.Get(name), (where + "." + name).c_str(), 0, kMaxSafeInteger);
  };
  s.counters.admitted = counter("admitted");
  s.counters.evicted = counter("evicted");
  s.counters.default_row_hits = counter("defaultRowHits");
  s.counters.waiting_dropped = counter("waitingDropped");
  return s;
}

namespace {

using StatsList = std::vector<std::pair<std::string, ManagedIdStats>>;

Napi::Value stats_to_js(Napi::Env env, const StatsList& stats) {
  Napi::Object out = Napi::Object::New(env);
  for (const auto& [table, s] : stats) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("residents", Napi::Number::New(env, static_cast<double>(s.residents)));
    entry.Set("waiting", Napi::Number::New(env, static_cast<double>(s.waiting)));
    entry.Set("admitted", Napi::Number::New(env, static_cast<double>(s.admitted)));
    entry.Set("evicted", Napi::Number::New(env, static_cast<double>(s.evicted)));
    entry.Set("defaultRowHits", Napi::Number::New(env, static_cast<double>(s.default_row_hits)));
    entry.Set("waitingDropped", Napi::Number::New(env, static_cast<double>(s.waiting_dropped)));
    out.Set(table, entry);
  }
  return out;
}

}  // namespace

// managedIdStats(): {[table]: {residents, waiting, admitted, evicted, defaultRowHits, waitingDropped}}
// for every managed table, read in call order, on the JS thread (an unsharded collection).
Napi::Value EbcBinding::managed_id_stats(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = local_module("managedIdStats");
    auto turn = m->sequencer().enter(CallSequencer::Kind::Read);
    return stats_to_js(info.Env(), m->managed_id_stats());
  });
}

// managedIdStatsAsync(): the same as a Promise, off the JS thread; a collective on a sharded collection.
Napi::Value EbcBinding::managed_id_stats_async(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = module("managedIdStats");
    return ModuleWorker<StatsList>::start(
        info.Env(), "torchrec.managedIdStats", m, reader_kind(*m),
        [](EmbeddingModule& e) { return e.managed_id_stats(); },
        [](Napi::Env env, StatsList& stats) -> Napi::Value { return stats_to_js(env, stats); });
  });
}

}  // namespace torchrec::binding
