// exportShards / importShards of a sharded collection: this rank's own shards, what a sharded
// snapshot saves and restores (lib/checkpoint/sharded_snapshot.ts). Conversion and dispatch only;
// the rules are in distributed/sharded_shards.cc.
#include "binding/convert.h"
#include "binding/ebc_binding.h"
#include "binding/errors.h"
#include "binding/imported_arrays.h"
#include "binding/managed_ids_binding.h"
#include "binding/module_worker.h"
#include "distributed/sharded_collection.h"

namespace torchrec::binding {
namespace {

namespace dist = torchrec::distributed;

constexpr int64_t kMaxSafeInteger = 9007199254740991;  // 2^53 - 1

dist::ShardedEmbeddingBagCollection& sharded(EmbeddingModule& m, const char* method) {
  auto* s = dynamic_cast<dist::ShardedEmbeddingBagCollection*>(&m);
  if (!s) fail(ErrorCode::InvalidArgument, method, ": the collection is not sharded (it has no processGroup)");
  return *s;
}

struct ExportedShards {
  int64_t step = 0;
  std::vector<dist::ShardState> shards;
};

}  // namespace

// exportShards(withWeights, withState): Promise<{step, shards: [{table, firstRow, rows, firstCol, cols,
// replicated, weight, state, managed?}]}> (weight null without withWeights; managed: a managed shard's
// map with global rows, withState only),
// this rank's shards read under one ticket (weights in the stored dtype: a Uint16Array of fp16 bits
// for fp16 tables). Optimizer state is checked as exportState checks it: a snapshot holds only state
// a restore accepts.
Napi::Value EbcBinding::export_shards(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = module("exportShards");
    sharded(*m, "exportShards");
    const bool with_weights = info[0].ToBoolean().Value();
    const bool with_state = info[1].ToBoolean().Value();
    return ModuleWorker<ExportedShards>::start(
        info.Env(), "torchrec.exportShards", m, reader_kind(*m),
        [with_weights, with_state](EmbeddingModule& e) {
          ExportedShards out;
          out.step = e.step();
          out.shards = sharded(e, "exportShards").export_shards(with_weights, with_state);
          for (const auto& s : out.shards) {
            const auto layout = e.state_layout(s.table);
            for (size_t k = 0; k < s.states.size(); ++k) {
              StateSpec spec{layout[k].name, layout[k].shape.size() == 2, layout[k].non_negative};
              check_state_values(spec, s.table, s.states[k].second.data_ptr<float>(), s.states[k].second.numel());
            }
          }
          return out;
        },
        [](Napi::Env env, ExportedShards& exported) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("step", Napi::Number::New(env, static_cast<double>(exported.step)));
          Napi::Array shards = Napi::Array::New(env, exported.shards.size());
          for (size_t i = 0; i < exported.shards.size(); ++i) {
            dist::ShardState& s = exported.shards[i];
            Napi::Object entry = Napi::Object::New(env);
            entry.Set("table", s.table);
            entry.Set("firstRow", Napi::Number::New(env, static_cast<double>(s.first_row)));
            entry.Set("rows", Napi::Number::New(env, static_cast<double>(s.rows)));
            entry.Set("firstCol", Napi::Number::New(env, static_cast<double>(s.first_col)));
            entry.Set("cols", Napi::Number::New(env, static_cast<double>(s.cols)));
            entry.Set("replicated", Napi::Boolean::New(env, s.replicated));
            entry.Set("weight",
                      s.weight.defined() ? Napi::Value(to_float_or_half_array(env, std::move(s.weight))) : env.Null());
            Napi::Object state = Napi::Object::New(env);
            for (auto& [name, tensor] : s.states) state.Set(name, to_float32_array(env, std::move(tensor)));
            entry.Set("state", state);
            if (s.managed) entry.Set("managed", managed_state_to_js(env, *s.managed));
            shards.Set(static_cast<uint32_t>(i), entry);
          }
          out.Set("shards", shards);
          return out;
        });
  });
}

// importShards(shards: [{table, firstRow, rows, firstCol, cols, weight?, state?, managed?}], step: number | null,
// apply: boolean): Promise<void>. Under one write ticket, all-or-nothing; apply false only checks.
// The arrays are kept referenced until the work ends, not copied.
Napi::Value EbcBinding::import_shards(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = module("importShards");
    sharded(*m, "importShards");
    if (!info[0].IsArray()) fail(ErrorCode::InvalidArgument, "importShards: shards must be an array");
    const Napi::Array list = info[0].As<Napi::Array>();
    auto held = std::make_shared<std::vector<Napi::Reference<Napi::Value>>>();
    std::vector<dist::ShardState> shards;
    for (uint32_t i = 0; i < list.Length(); ++i) {
      const std::string where = "importShards: shards[" + std::to_string(i) + "]";
      if (!list.Get(i).IsObject()) fail(ErrorCode::InvalidArgument, where, " must be an object");
      const Napi::Object entry = list.Get(i).As<Napi::Object>();
      dist::ShardState s;
      s.table = to_string(entry.Get("table"), (where + ".table").c_str());
      s.first_row = to_int64(entry.Get("firstRow"), (where + ".firstRow").c_str(), 0, kMaxSafeInteger);
      s.rows = to_int64(entry.Get("rows"), (where + ".rows").c_str(), 0, kMaxSafeInteger);
      s.first_col = to_int64(entry.Get("firstCol"), (where + ".firstCol").c_str(), 0, kMaxSafeInteger);
      s.cols = to_int64(entry.Get("cols"), (where + ".cols").c_str(), 0, kMaxSafeInteger);
      read_weight_and_states(entry, where, *held, s.weight, s.states);
      if (!is_nullish(entry.Get("managed")))
        s.managed = managed_state_from_js(entry.Get("managed"), where + ".managed");
      shards.push_back(std::move(s));
    }
    std::optional<int64_t> step;
    if (!is_nullish(info[1])) step = to_int64(info[1], "step", 0, kMaxSafeInteger);
    const bool apply = info[2].ToBoolean().Value();
    auto work = std::make_shared<std::vector<dist::ShardState>>(std::move(shards));
    return ModuleWorker<bool>::start(
        info.Env(), "torchrec.importShards", m, CallSequencer::Kind::Write,
        [work, step, apply](EmbeddingModule& e) {
          sharded(e, "importShards").import_shards(*work, step, apply);
          return true;
        },
        [held](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  });
}

}  // namespace torchrec::binding
