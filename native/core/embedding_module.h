// The module interface the binding and its workers are typed to: what a JS EmbeddingBagCollection
// can ask of the native side, whatever runs behind it (one process's collection today; a sharded
// one, whose every call is a collective, next). Table arguments are names; errors are torchrec::Error.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/call_sequencer.h"
#include "core/keyed_jagged_tensor.h"
#include "core/lookup_plan.h"
#include "core/optimizer_spec.h"

namespace torchrec {

// One optimizer-state tensor of a table: its FBGEMM name, shape ([N][D] or [N]) and whether its
// values must be >= 0 (sums of squares).
struct StateTensorInfo {
  std::string name;
  std::vector<int64_t> shape;
  bool non_negative = false;
};

// Where a table's stored bytes are in a file: `file` at byte `offset`, in dtype `dtype`, row-major
// [N][D] (a snapshot's tensor file, a torch.save record), for a restore that maps instead of copying.
struct MappedSource {
  std::string file;
  int64_t offset = 0;
  at::ScalarType dtype = at::kFloat;
};

// What import_state applies to one table: its weights (undefined: keep them; float32 or the stored
// dtype, [N][D] values) and any of its optimizer-state tensors by name (float32, the layout's size).
struct TableImport {
  std::string table;
  at::Tensor weight;
  std::vector<std::pair<std::string, at::Tensor>> states;
  std::optional<ManagedIdsState> managed;  // a managed-id table's id -> row map and counters
  // Set instead of `weight`: the rows are mapped read-only from there, and the module becomes
  // read-only (serving) once import_state succeeds. Modules that cannot map refuse it.
  std::optional<MappedSource> mapped;
  // Part of a mapped restore whose bytes could not be mapped (chunked, unaligned, another dtype):
  // `weight` is copied, and the module becomes read-only all the same, as every mapped restore makes it.
  bool serve = false;
};

class EmbeddingModule {
 public:
  virtual ~EmbeddingModule() = default;

  // True when every call that reads or moves rows is a collective across processes (the sharded
  // collection): the binding then runs forwards as writers too, one at a time in call order, and
  // refuses the calls that would block the JS thread.
  virtual bool collective() const { return false; }

  virtual const LookupPlan& plan() const = 0;
  virtual std::string device() const = 0;

  // Pools `kjt` into `out`, kjt.stride() * plan().output_width() floats (row-major [B][width]).
  virtual void forward(const KeyedJaggedTensor& kjt, float* out) const = 0;
  // One fused optimizer step over the gradient of forward(kjt), row-major [B][width]; returns the
  // step it became. All-or-nothing: anything invalid fails before a row moves.
  virtual int64_t backward(const KeyedJaggedTensor& kjt, const float* grad, int64_t grad_numel) = 0;
  virtual int64_t step() const = 0;
  virtual void set_step(int64_t step) = 0;

  virtual at::Tensor get_weights(const std::string& table) const = 0;   // float32 [N][D] copy
  virtual at::Tensor read_weights(const std::string& table) const = 0;  // [N][D] copy in the stored dtype
  // Replaces a table from [N][D] values: float32 (rounded for fp16 tables) or the stored dtype.
  virtual void set_weights(const std::string& table, const at::Tensor& values) = 0;

  virtual std::vector<StateTensorInfo> state_layout(const std::string& table) const = 0;
  virtual at::Tensor optimizer_state(const std::string& table, const std::string& name) const = 0;
  virtual void set_optimizer_state(const std::string& table, const std::string& name, const float* data,
                                   int64_t numel) = 0;
  // Replaces weights, optimizer state and (when given) the step of several tables at once: everything
  // is checked (names, dtypes, sizes, finite and non-negative state) and allocated before the first
  // value changes, so a failure leaves the module as it was. Restores and state-dict loads use it.
  virtual void import_state(const std::vector<TableImport>& tables, std::optional<int64_t> step) = 0;

  // Per table, in plan order: "mmap" when its rows are read in place from a mapped file, else "memory".
  virtual std::vector<std::string> table_storage() const {
    return std::vector<std::string>(plan().tables().size(), "memory");
  }
  // True once a mapped import made the module read-only: writes and backward are ERR_INVALID_MODE.
  virtual bool read_only() const { return false; }

  virtual std::vector<double> table_norms(const std::vector<std::string>& tables, int64_t max_rows,
                                          uint64_t seed) const = 0;

  virtual void set_vocab(const std::string& table, const int64_t* ids, const int64_t* rows, int64_t n,
                         int64_t oov_row) = 0;
  virtual std::vector<LookupPlan::VocabStats> vocab_stats() const = 0;

  // --- managed ids (core/managed_ids.h) ---
  // True when some table takes managed ids: a TRAIN forward then admits and counts ids.
  virtual bool has_managed_ids() const { return false; }
  // A TRAIN-mode forward, which may change state for the backward that follows. The binding runs
  // TRAIN forwards through it, as writers (alone, in call order), on modules with managed ids and
  // on collective ones (binding/managed_ids_binding.h trains_forward).
  virtual void forward_train(const KeyedJaggedTensor& kjt, float* out) { forward(kjt, out); }
  // Per managed table, in table order.
  virtual std::vector<std::pair<std::string, ManagedIdStats>> managed_id_stats() const { return {}; }
  // Table `table`'s map and counters; nullopt when it takes plain row ids.
  virtual std::optional<ManagedIdsState> managed_state(const std::string& table) const { return std::nullopt; }

  // Orders the calls a caller makes (call_sequencer.h); the binding takes a ticket for each call.
  CallSequencer& sequencer() { return sequencer_; }

 private:
  CallSequencer sequencer_;
};

}  // namespace torchrec
