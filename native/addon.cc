// Registration only: the native surface that lib/native.ts declares.
#include <napi.h>

#include "binding/addon_data.h"
#include "binding/ebc_binding.h"
#include "binding/process_group_binding.h"
#include "binding/runtime_functions.h"

namespace tb = torchrec::binding;

namespace {

Napi::Object register_addon(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<tb::AddonData>(new tb::AddonData());
  tb::define_runtime_functions(env, exports);
  exports.Set("NativeEmbeddingBagCollection", tb::EbcBinding::define(env));
  tb::ProcessGroupBinding::define(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(torchrec_node, register_addon)
