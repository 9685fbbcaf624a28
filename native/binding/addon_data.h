// Per-environment state (the addon is loaded once per main thread and per worker thread).
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <vector>

namespace torchrec::binding {

class SmallCallLane;

struct AddonData {
  Napi::FunctionReference torchrec_error;  // lib/errors.ts's TorchrecError, handed over by init()
  // The last frozen key array a KJT call came with and its strings (kjt_inputs.cc): lib/kjt.ts
  // shares one frozen array among KJTs with the same keys, so a call recognises it by identity.
  Napi::Reference<Napi::Array> last_keys;
  std::shared_ptr<const std::vector<std::string>> last_key_list;
  Napi::FunctionReference is_frozen;  // Object.isFrozen, fetched the first time it is needed
  // The env's small-call lane (small_call_lane.h), made on first use and freed by its own cleanup hook.
  SmallCallLane* lane = nullptr;
  bool lane_failed = false;  // it could not be made, or the env is going away: calls take the pool
};

inline AddonData* addon_data(Napi::Env env) {
  return env.GetInstanceData<AddonData>();
}

}  // namespace torchrec::binding
