// The addon's free functions (lib/native.ts NativeAddon): init, threads, build info, and the core's
// learning-rate schedule for the golden test that pins it to lib/config/learning_rate.ts.
#pragma once

#include <napi.h>

namespace torchrec::binding {

// Adds init, setNumThreads, getNumThreads, buildInfo and learningRates to `exports`.
void define_runtime_functions(Napi::Env env, Napi::Object exports);

}  // namespace torchrec::binding
