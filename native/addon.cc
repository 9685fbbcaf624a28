// Registration only: the native surface that lib/native.ts declares.
#include <ATen/Parallel.h>
#include <napi.h>
#include <torch/version.h>

#include <thread>

#include "binding/addon_data.h"
#include "binding/ebc_binding.h"
#include "binding/errors.h"
#include "binding/process_group_binding.h"
#include "core/error.h"
#include "kernels/cpu_parallel.h"

namespace tb = torchrec::binding;

namespace {

// init(TorchrecError): native errors are then thrown as instances of the public class.
Napi::Value init(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) {
    Napi::TypeError::New(info.Env(), "init expects the TorchrecError class").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  tb::addon_data(info.Env())->torchrec_error = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value set_num_threads(const Napi::CallbackInfo& info) {
  return tb::guard(info.Env(), [&]() -> Napi::Value {
    if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int32Value() < 1 ||
        info[0].As<Napi::Number>().DoubleValue() != info[0].As<Napi::Number>().Int32Value()) {
      torchrec::fail(torchrec::ErrorCode::InvalidArgument, "setNumThreads: threads must be a positive integer");
    }
    torchrec::kernels::set_intra_op_threads(info[0].As<Napi::Number>().Int32Value());
    return info.Env().Undefined();
  });
}

Napi::Value get_num_threads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), torchrec::kernels::intra_op_threads());
}

Napi::Object build_info(Napi::Env env) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("torchVersion", TORCH_VERSION);
  out.Set("cuda", Napi::Boolean::New(env, false));
  out.Set("parallel", at::get_parallel_info());
  return out;
}

Napi::Object register_addon(Napi::Env env, Napi::Object exports) {
  auto* data = new tb::AddonData();
  env.SetInstanceData<tb::AddonData>(data);
  static std::once_flag threads_once;
  std::call_once(threads_once, [] {
    const unsigned cores = std::thread::hardware_concurrency();
    if (cores > 0) torchrec::kernels::set_intra_op_threads(static_cast<int>(cores));
  });
  Napi::Function ebc = tb::EbcBinding::define(env);
  data->embedding_bag_collection = Napi::Persistent(ebc);
  exports.Set("init", Napi::Function::New(env, init));
  exports.Set("setNumThreads", Napi::Function::New(env, set_num_threads));
  exports.Set("getNumThreads", Napi::Function::New(env, get_num_threads));
  exports.Set("buildInfo", build_info(env));
  exports.Set("NativeEmbeddingBagCollection", ebc);
  tb::ProcessGroupBinding::define(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(torchrec_node, register_addon)
