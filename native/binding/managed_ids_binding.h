// Conversion for managed ids (core/managed_ids.h): the table option, the TRAIN flag of forward, the
// stats and the map's state as JS values. Conversion only; core validates.
#pragma once

#include <napi.h>

#include <string>

#include "binding/module_spec.h"
#include "core/embedding_module.h"
#include "core/managed_ids.h"

namespace torchrec::binding {

// {policy: 'lfu' | 'lru' | 'distance_lfu', interval, decayExponent, maxWaiting} (lib/native.ts).
ManagedIdsSpec read_managed_ids(const Napi::Value& value, const std::string& where);

// Whether a forward runs as forward_train: the caller passed train = true (TRAIN mode) and the module
// does something with it (managed tables admit ids; a sharded collection keeps what it received for
// the backward of the same batch).
bool trains_forward(const EmbeddingModule& module, const Napi::Value& train);

// {ids, rows, counts, lastSeen, waitingIds, waitingCounts, waitingLastSeen: BigInt64Array,
//  admitted, evicted, defaultRowHits, waitingDropped: number}
Napi::Object managed_state_to_js(Napi::Env env, const ManagedIdsState& state);
ManagedIdsState managed_state_from_js(const Napi::Value& value, const std::string& where);

}  // namespace torchrec::binding
