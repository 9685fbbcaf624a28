#include "binding/runtime_functions.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#include <mutex>
#include <string>
#include <thread>

#include "binding/addon_data.h"
#include "binding/convert.h"
#include "binding/errors.h"
#include "binding/module_spec.h"
#include "binding/small_call_lane.h"
#include "core/malloc_tuning.h"
#include "core/table_store.h"
#include "kernels/cpu_parallel.h"
#include "kernels/pooled_lookup_cpu.h"
#include "kernels/quantized_pool_cpu.h"

namespace torchrec::binding {
namespace {

// init(TorchrecError): native errors are then thrown as instances of the public class.
Napi::Value init(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) {
    Napi::TypeError::New(info.Env(), "init expects the TorchrecError class").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  addon_data(info.Env())->torchrec_error = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value set_num_threads(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    kernels::set_intra_op_threads(static_cast<int>(to_int64(info[0], "setNumThreads: threads", 1, 1 << 16)));
    return info.Env().Undefined();
  });
}

Napi::Value get_num_threads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), kernels::intra_op_threads());
}

// learningRates(optimizer, firstStep, count): Float64Array of the rate of updates firstStep ..
// firstStep + count - 1 (1-based), as backward computes them.
Napi::Value learning_rates(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const OptimizerSpec spec = read_optimizer_spec(info[0], "optimizer");
    validate_optimizer_spec(spec, "optimizer");
    const int64_t first = to_int64(info[1], "firstStep", 1, int64_t{1} << 40);
    const int64_t count = to_int64(info[2], "count", 0, int64_t{1} << 24);
    Napi::Float64Array out = Napi::Float64Array::New(info.Env(), static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) out[static_cast<size_t>(i)] = learning_rate_at(spec, first + i);
    return out;
  });
}

// optimizerStateLayout(algorithm): [{name, perElement, nonNegative}], the core's layout of the rule's state.
Napi::Value optimizer_state_layout_of(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const auto& layout = optimizer_state_layout(read_optimizer_kind(info[0], "algorithm"));
    Napi::Array out = Napi::Array::New(info.Env(), layout.size());
    for (size_t i = 0; i < layout.size(); ++i) {
      Napi::Object entry = Napi::Object::New(info.Env());
      entry.Set("name", layout[i].name);
      entry.Set("perElement", Napi::Boolean::New(info.Env(), layout[i].per_element));
      entry.Set("nonNegative", Napi::Boolean::New(info.Env(), layout[i].non_negative));
      out.Set(static_cast<uint32_t>(i), entry);
    }
    return out;
  });
}

Napi::Object build_info(Napi::Env env, const std::string& malloc_tuning) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("torchVersion", TORCH_VERSION);
  out.Set("cuda", Napi::Boolean::New(env, cuda_store_compiled()));
  out.Set("parallel", at::get_parallel_info());
  Napi::Object kernels = Napi::Object::New(env);
  kernels.Set("pooledLookup", kernels::pooled_lookup_isa());
  kernels.Set("quantizedPool", kernels::quantized_pool_isa());
  out.Set("cpuKernels", kernels);
  out.Set("mallocTuning", malloc_tuning);
  out.Set("smallCallLane", Napi::Boolean::New(env, small_call_lane_enabled()));
  return out;
}

}  // namespace

void define_runtime_functions(Napi::Env env, Napi::Object exports) {
  static std::once_flag process_once;
  static std::string malloc_tuning;
  std::call_once(process_once, [] {
    const unsigned cores = std::thread::hardware_concurrency();
    if (cores > 0) kernels::set_intra_op_threads(static_cast<int>(cores));
    malloc_tuning = tune_malloc_for_results();
  });
  exports.Set("init", Napi::Function::New(env, init));
  exports.Set("setNumThreads", Napi::Function::New(env, set_num_threads));
  exports.Set("getNumThreads", Napi::Function::New(env, get_num_threads));
  exports.Set("learningRates", Napi::Function::New(env, learning_rates));
  exports.Set("optimizerStateLayout", Napi::Function::New(env, optimizer_state_layout_of));
  exports.Set("buildInfo", build_info(env, malloc_tuning));
}

}  // namespace torchrec::binding
