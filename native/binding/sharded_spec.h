// The sharded collection's constructor options: the process group (a NativeProcessGroup), each
// table's placement as data (lib/ebc.ts resolves the user's ShardingPlan into it), and
// gradientDivision. Conversion only; the core checks the placement.
#pragma once

#include <napi.h>

#include <memory>

#include "binding/module_spec.h"
#include "core/embedding_module.h"

namespace torchrec::binding {

// Whether `options` asks for a sharded collection (it has a processGroup).
bool wants_sharding(const Napi::Object& options);

// new ShardedEmbeddingBagCollection from `spec` and options {processGroup, placement: [{kind, ranks}]
// in table order, gradientDivision}.
std::shared_ptr<EmbeddingModule> make_sharded_module(const Napi::Object& options, ModuleSpec spec);

}  // namespace torchrec::binding
