// The default path of a small async forward (issue 19): run on the env's small-call lane
// (small_call_lane.h) instead of libuv's pool, when it is small (is_small_forward) and nothing it
// must follow is pending (its sequencer ticket is entered at once, on the JS thread). Still off the
// JS thread, with the same result, errors and call order as the pool path; only the hop is cheaper.
#pragma once

#include <napi.h>

#include <memory>
#include <optional>

#include "binding/kjt_inputs.h"
#include "core/embedding_module.h"

namespace torchrec::binding {

// The promise of forward(inputs) into `out` (its memory: `data`, batch x the plan's width) if the lane
// took it; nullopt: queue it on the pool as usual. kind: the call's sequencer kind (only readers).
// data null: `out` is the caller's; the lane pools into memory of its own, copied into `out` on
// the JS thread (copy_into_out).
std::optional<Napi::Promise> try_forward_on_lane(Napi::Env env, const std::shared_ptr<EmbeddingModule>& module,
                                                 CallSequencer::Kind kind, const std::shared_ptr<KjtInputs>& inputs,
                                                 Napi::Float32Array out, float* data);

}  // namespace torchrec::binding
