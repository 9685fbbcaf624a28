#include "binding/forward_inline.h"

#include <algorithm>

#include "binding/errors.h"
#include "binding/kjt_inputs.h"

namespace torchrec::binding {
namespace {

// A batch runs inline up to about this many multiply-adds (ids x the mean output block width, plus
// the output it writes): S is 10k. Well under the kernels' own threshold for fanning out to threads
// (pooled_lookup_cpu.cc's kParallelWork, 64k), so an inline call never wakes a team either, and even
// with every row a cache miss it holds the JS thread for a few microseconds at most.
constexpr int64_t kInlineWork = int64_t{1} << 15;

}  // namespace

bool is_small_forward(const EmbeddingModule& module, const KjtInputs& inputs) {
  const LookupPlan& plan = module.plan();
  const int64_t blocks = static_cast<int64_t>(plan.outputs().size());
  if (blocks == 0) return false;
  const int64_t batch = batch_size_hint(inputs);
  const int64_t ids = inputs.values.numel();
  const int64_t width = plan.output_width();
  return batch > 0 && ids <= kInlineWork && ids * std::max<int64_t>(1, width / blocks) + batch * width <= kInlineWork;
}

std::optional<Napi::Value> try_forward_inline(const Napi::CallbackInfo& info, EmbeddingModule& module,
                                              CallSequencer::Kind kind, const std::optional<Napi::Float32Array>& out) {
  if (kind != CallSequencer::Kind::Read) return std::nullopt;
  // Views of the caller's arrays: the work ends before this returns to JS, so nothing is copied.
  KjtInputs inputs = view_kjt_inputs(info, 0);
  if (!is_small_forward(module, inputs)) return std::nullopt;
  std::optional<CallSequencer::Ticket> turn = module.sequencer().try_enter(kind);
  if (!turn) return std::nullopt;
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  CapturedError error;
  try {
    const KeyedJaggedTensor kjt = build_kjt(inputs);
    Napi::Float32Array result = forward_into_float32_array(env, module, kjt, /*train=*/false, out);
    turn->release();
    deferred.Resolve(result);
    return deferred.Promise();
  } catch (const Napi::Error&) {
    throw;  // a JS exception is pending: it propagates as a synchronous throw, as before
  } catch (...) {
    error = capture_current_exception();
  }
  turn->release();
  deferred.Reject(make_js_error(env, error));  // bad batches reject, as they do off the JS thread
  return deferred.Promise();
}

}  // namespace torchrec::binding
