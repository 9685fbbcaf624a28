// Per-environment state (the addon is loaded once per main thread and per worker thread).
#pragma once

#include <napi.h>

namespace torchrec::binding {

struct AddonData {
  Napi::FunctionReference torchrec_error;  // lib/errors.ts's TorchrecError, handed over by init()
};

inline AddonData* addon_data(Napi::Env env) {
  return env.GetInstanceData<AddonData>();
}

}  // namespace torchrec::binding
