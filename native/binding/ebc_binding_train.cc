// The training and state methods of NativeEmbeddingBagCollection: backward, the step counter,
// optimizer state and its layout, table norms, and the one-ticket state export checkpoints use.
// Conversion and dispatch only; the logic is in core/.
#include "binding/convert.h"
#include "binding/ebc_binding.h"
#include "binding/errors.h"
#include "binding/imported_arrays.h"
#include "binding/kjt_inputs.h"
#include "binding/managed_ids_binding.h"
#include "binding/module_worker.h"

namespace torchrec::binding {
namespace {

constexpr int64_t kMaxSafeInteger = 9007199254740991;  // 2^53 - 1

// What exportState reads under one ticket.
struct ExportedTable {
  std::string name;
  at::Tensor weight;  // stored dtype
  std::vector<std::pair<std::string, at::Tensor>> states;
  std::optional<ManagedIdsState> managed;
};
struct ExportedState {
  int64_t step = 0;
  std::vector<ExportedTable> tables;
};

Napi::Object state_record(Napi::Env env, std::vector<std::pair<std::string, at::Tensor>>& states) {
  Napi::Object out = Napi::Object::New(env);
  for (auto& [name, tensor] : states) out.Set(name, to_float32_array(env, std::move(tensor)));
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> read_states(const EmbeddingModule& m, const std::string& table) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& info : m.state_layout(table)) out.emplace_back(info.name, m.optimizer_state(table, info.name));
  return out;
}

// A checkpoint holds only state a restore accepts: training that has diverged (Adam's momentum2
// overflowing to +Inf after a huge gradient, say) fails the save with the core's own message.
void check_exportable(const EmbeddingModule& m, const std::string& table,
                      const std::vector<std::pair<std::string, at::Tensor>>& states) {
  const auto layout = m.state_layout(table);
  for (size_t i = 0; i < states.size(); ++i) {
    StateSpec spec{layout[i].name, layout[i].shape.size() == 2, layout[i].non_negative};
    check_state_values(spec, table, states[i].second.data_ptr<float>(), states[i].second.numel());
  }
}

}  // namespace

// backward(keys, values, lengths, offsets, weights, stride, gradOutput): Promise<number>, the step this
// update became (the JS side keeps it for `step` after dispose()).
Napi::Value EbcBinding::backward(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = module("backward");
    auto inputs = std::make_shared<KjtInputs>(read_kjt_inputs(info, 0));
    at::Tensor grad = copy_float_array(info[6], "gradOutput");
    return ModuleWorker<int64_t>::start(
        info.Env(), "torchrec.backward", m, CallSequencer::Kind::Write,
        [inputs, grad](EmbeddingModule& e) {
          return e.backward(build_kjt(*inputs), grad.data_ptr<float>(), grad.numel());
        },
        [](Napi::Env env, int64_t& step) -> Napi::Value { return Napi::Number::New(env, static_cast<double>(step)); });
  });
}

Napi::Value EbcBinding::step(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<double>(module("step")->step()));
  });
}

Napi::Value EbcBinding::set_step(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = module("setStep");
    const int64_t step = to_int64(info[0], "step", 0, kMaxSafeInteger);
    auto turn = m->sequencer().enter(CallSequencer::Kind::Write);
    m->set_step(step);
    return info.Env().Undefined();
  });
}

// stateLayout(table): [{name, shape}] of the table's optimizer state, in order (core's layout).
Napi::Value EbcBinding::state_layout(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const auto layout = module("stateLayout")->state_layout(to_string(info[0], "table"));
    Napi::Array out = Napi::Array::New(info.Env(), layout.size());
    for (size_t i = 0; i < layout.size(); ++i) {
      Napi::Object entry = Napi::Object::New(info.Env());
      entry.Set("name", layout[i].name);
      Napi::Array shape = Napi::Array::New(info.Env(), layout[i].shape.size());
      for (size_t d = 0; d < layout[i].shape.size(); ++d) {
        shape.Set(d, Napi::Number::New(info.Env(), static_cast<double>(layout[i].shape[d])));
      }
      entry.Set("shape", shape);
      entry.Set("nonNegative", Napi::Boolean::New(info.Env(), layout[i].non_negative));
      out.Set(i, entry);
    }
    return out;
  });
}

Napi::Value EbcBinding::optimizer_state(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = local_module("optimizerState");
    const std::string table = to_string(info[0], "table");
    auto turn = m->sequencer().enter(CallSequencer::Kind::Read);
    auto states = read_states(*m, table);
    turn.release();
    return state_record(info.Env(), states);
  });
}

// optimizerStateAsync(table): Promise<{[name]: Float32Array}>; a collective on a sharded collection.
Napi::Value EbcBinding::optimizer_state_async(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = module("optimizerState");
    const std::string table = to_string(info[0], "table");
    m->plan().table_index(table);
    using States = std::vector<std::pair<std::string, at::Tensor>>;
    return ModuleWorker<States>::start(
        info.Env(), "torchrec.optimizerState", m, reader_kind(*m),
        [table](EmbeddingModule& e) { return read_states(e, table); },
        [](Napi::Env env, States& states) -> Napi::Value { return state_record(env, states); });
  });
}

Napi::Value EbcBinding::set_optimizer_state(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = module("setOptimizerState");
    const std::string table = to_string(info[0], "table");
    const std::string name = to_string(info[1], "name");
    int64_t length = 0;
    const float* data = float_array_data(info[2], "data", &length);
    auto turn = m->sequencer().enter(CallSequencer::Kind::Write);
    m->set_optimizer_state(table, name, data, length);
    return info.Env().Undefined();
  });
}

// tableNorms(tables, maxRows, seed): Promise<number[]>, in the order of `tables`.
Napi::Value EbcBinding::table_norms(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = module("tableNorms");
    std::vector<std::string> tables = to_string_vector(info[0], "tables");
    for (const auto& name : tables) m->plan().table_index(name);  // unknown names fail now, not in the pool
    const int64_t max_rows = to_int64(info[1], "maxRows", 1, kMaxSafeInteger);
    const uint64_t seed = static_cast<uint64_t>(to_int64(info[2], "seed", 0, kMaxSafeInteger));
    return ModuleWorker<std::vector<double>>::start(
        info.Env(), "torchrec.tableNorms", m, reader_kind(*m),
        [tables, max_rows, seed](EmbeddingModule& e) { return e.table_norms(tables, max_rows, seed); },
        [](Napi::Env env, std::vector<double>& norms) -> Napi::Value {
          Napi::Array out = Napi::Array::New(env, norms.size());
          for (size_t i = 0; i < norms.size(); ++i) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, norms[i]));
          return out;
        });
  });
}

// exportState(tables, withState): Promise<{step, tables: {[name]: {weight, state}}}>: every listed table's weights
// in the stored dtype (Float32Array, or Uint16Array of fp16 bits) and optimizer state, and the step,
// read under ONE read ticket, so a snapshot holds exactly the state after the calls made before it.
Napi::Value EbcBinding::export_state(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = module("exportState");
    std::vector<std::string> tables = to_string_vector(info[0], "tables");
    for (const auto& name : tables) m->plan().table_index(name);
    const bool with_state = info[1].ToBoolean().Value();
    return ModuleWorker<ExportedState>::start(
        info.Env(), "torchrec.exportState", m, reader_kind(*m),
        [tables, with_state](EmbeddingModule& e) {
          ExportedState out;
          out.step = e.step();
          for (const auto& name : tables) {
            auto states = with_state ? read_states(e, name) : std::vector<std::pair<std::string, at::Tensor>>{};
            check_exportable(e, name, states);
            out.tables.push_back({name, e.read_weights(name), std::move(states), e.managed_state(name)});
          }
          return out;
        },
        [](Napi::Env env, ExportedState& state) -> Napi::Value {
          Napi::Object out = Napi::Object::New(env);
          out.Set("step", Napi::Number::New(env, static_cast<double>(state.step)));
          Napi::Object tables = Napi::Object::New(env);
          for (auto& table : state.tables) {
            Napi::Object entry = Napi::Object::New(env);
            entry.Set("weight", to_float_or_half_array(env, std::move(table.weight)));
            entry.Set("state", state_record(env, table.states));
            if (table.managed) entry.Set("managed", managed_state_to_js(env, *table.managed));
            tables.Set(table.name, entry);
          }
          out.Set("tables", tables);
          return out;
        });
  });
}

// importState(tables: {[name]: {weight?, state?: {[name]: Float32Array}}}, step: number | null): Promise<void>.
// Applied under one write ticket, in call order, all-or-nothing (core checks everything first). The
// arrays are the caller's fresh buffers (read from files), kept referenced until the work ends, not copied.
Napi::Value EbcBinding::import_state(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = module("importState");
    if (!info[0].IsObject()) fail(ErrorCode::InvalidArgument, "importState: tables must be an object");
    const Napi::Object tables = info[0].As<Napi::Object>();
    auto held = std::make_shared<std::vector<Napi::Reference<Napi::Value>>>();
    std::vector<TableImport> imports;
    const Napi::Array names = tables.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); ++i) {
      TableImport in;
      in.table = names.Get(i).As<Napi::String>().Utf8Value();
      const std::string where = "importState(\"" + in.table + "\")";
      if (!tables.Get(in.table).IsObject()) fail(ErrorCode::InvalidArgument, where, " must be an object");
      const Napi::Object entry = tables.Get(in.table).As<Napi::Object>();
      if (!is_nullish(entry.Get("mapped"))) in.mapped = read_mapped_source(entry.Get("mapped"), where + ".mapped");
      in.serve = entry.Get("serve").ToBoolean().Value();
      read_weight_and_states(entry, where, *held, in.weight, in.states);
      if (!is_nullish(entry.Get("managed")))
        in.managed = managed_state_from_js(entry.Get("managed"), where + ".managed");
      imports.push_back(std::move(in));
    }
    std::optional<int64_t> step;
    if (!is_nullish(info[1])) step = to_int64(info[1], "step", 0, kMaxSafeInteger);
    auto work = std::make_shared<std::vector<TableImport>>(std::move(imports));
    return ModuleWorker<bool>::start(
        info.Env(), "torchrec.importState", m, CallSequencer::Kind::Write,
        [work, step](EmbeddingModule& e) {
          e.import_state(*work, step);
          return true;
        },
        [held](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  });
}

}  // namespace torchrec::binding
