// The `weight` and `state` arrays of one importState / importShards entry: viewed in place (no copy)
// and kept referenced in `held` until the import that reads them ends.
#pragma once

#include <napi.h>

#include <string>
#include <utility>
#include <vector>

#include "binding/convert.h"
#include "binding/errors.h"

namespace torchrec::binding {

using HeldValues = std::vector<Napi::Reference<Napi::Value>>;

inline void read_weight_and_states(const Napi::Object& entry, const std::string& where, HeldValues& held,
                                   at::Tensor& weight, std::vector<std::pair<std::string, at::Tensor>>& states) {
  if (!is_nullish(entry.Get("weight"))) {
    weight = view_float_or_half_array(entry.Get("weight"), (where + ".weight").c_str());
    held.push_back(Napi::Persistent(entry.Get("weight")));
  }
  if (is_nullish(entry.Get("state"))) return;
  if (!entry.Get("state").IsObject()) fail(ErrorCode::InvalidArgument, where, ".state must be an object");
  const Napi::Object state = entry.Get("state").As<Napi::Object>();
  const Napi::Array keys = state.GetPropertyNames();
  for (uint32_t k = 0; k < keys.Length(); ++k) {
    const std::string name = keys.Get(k).As<Napi::String>().Utf8Value();
    states.emplace_back(name, view_float_or_half_array(state.Get(name), (where + ".state." + name).c_str()));
    held.push_back(Napi::Persistent(state.Get(name)));
  }
}

}  // namespace torchrec::binding
