// JS value <-> libtorch conversion for the binding. Inputs are copied into tensors the native side
// owns (a caller may mutate its arrays the moment a call returns); outputs hand tensor memory to JS
// without a copy. Failures throw torchrec::Error naming the argument.
#pragma once

#include <ATen/ATen.h>
#include <napi.h>

#include <string>
#include <vector>

namespace torchrec::binding {

std::vector<std::string> to_string_vector(const Napi::Value& value, const char* name);
std::string to_string(const Napi::Value& value, const char* name);
double to_number(const Napi::Value& value, const char* name);
bool is_nullish(const Napi::Value& value);

// Int32Array -> int32 tensor, BigInt64Array -> int64 tensor.
at::Tensor copy_index_array(const Napi::Value& value, const char* name);
// Float32Array -> float tensor.
at::Tensor copy_float_array(const Napi::Value& value, const char* name);
// A view of a Float32Array valid during the current call only.
const float* float_array_data(const Napi::Value& value, const char* name, int64_t* length);

// A float32 tensor's memory, owned from now on by the returned Float32Array.
Napi::Float32Array to_float32_array(Napi::Env env, at::Tensor tensor);

}  // namespace torchrec::binding
