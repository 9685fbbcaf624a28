// JS value <-> libtorch conversion for the binding. Inputs are copied into tensors the native side
// owns (a caller may mutate its arrays the moment a call returns); outputs become Float32Arrays that
// own their memory. Failures throw torchrec::Error naming the argument.
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

// A Float32Array with the tensor's contents. Up to 64 MiB they are copied into memory V8 owns and
// frees as soon as the array is collected; larger tensors hand their memory over without a copy
// (freed by Node on a later event-loop turn). See kCopyOutputBytes in convert.cc.
Napi::Float32Array to_float32_array(Napi::Env env, at::Tensor tensor);

// A new Float32Array of `length` floats in memory V8 owns; *data points at it. NOT zero-filled: the
// caller must write every element (e.g. pass *data as a kernel's output and skip the copy of
// to_float32_array). The memory stays valid while the array is referenced, from any thread.
Napi::Float32Array new_float32_array(Napi::Env env, size_t length, float** data);

}  // namespace torchrec::binding
