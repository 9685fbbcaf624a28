// Async forward of a small batch without the thread-pool hop. Handing a call to libuv's pool costs
// a futex wake, an eventfd write, an epoll return and a read per call (~20 us of latency on the bench
// machine, and several us of the JS thread's own time), while an S-sized forward (512 ids) pools in
// under a microsecond. So a batch this small, when nothing it must follow is pending (no backward or
// other writer queued before it), is pooled right here, into its result's memory, and the promise
// comes back already settled: still a promise (callbacks run later, errors reject it), the same
// result and call order, and the event loop is held for less time than the hop itself would hold it.
#pragma once

#include <napi.h>

#include <optional>

#include "binding/kjt_inputs.h"
#include "core/embedding_module.h"

namespace torchrec::binding {

// Whether a forward of `inputs` is small enough to pool in a few microseconds (kInlineWork): run
// inline with inlineSmallForwards, or on the small-call lane (forward_lane.h) by default.
bool is_small_forward(const EmbeddingModule& module, const KjtInputs& inputs);

// The promise of forward(info[0..5]) on `module` if it was run inline; nullopt: queue it as usual.
// kind: the call's sequencer kind (only readers run inline); out: the caller's array to pool into.
std::optional<Napi::Value> try_forward_inline(const Napi::CallbackInfo& info, EmbeddingModule& module,
                                              CallSequencer::Kind kind, const std::optional<Napi::Float32Array>& out);

}  // namespace torchrec::binding
