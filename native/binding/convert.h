// JS value <-> libtorch conversion for the binding. Inputs are copied into tensors the native side
// owns (a caller may mutate its arrays the moment a call returns); outputs become Float32Arrays that
// own their memory. Failures throw torchrec::Error naming the argument.
#pragma once

#include <ATen/ATen.h>
#include <napi.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace torchrec::binding {

std::vector<std::string> to_string_vector(const Napi::Value& value, const char* name);
std::string to_string(const Napi::Value& value, const char* name);
double to_number(const Napi::Value& value, const char* name);
// A whole number in [min, max] (the one integer reader of the binding); ERR_INVALID_ARGUMENT otherwise.
int64_t to_int64(const Napi::Value& value, const char* name, int64_t min, int64_t max);
// One of `choices`' names, as its value (the one enum reader); ERR_INVALID_ARGUMENT listing them otherwise.
template <typename E>
E to_enum(const Napi::Value& value, const char* name, std::initializer_list<std::pair<const char*, E>> choices) {
  const std::string got = to_string(value, name);
  std::string known;
  for (const auto& [key, e] : choices) {
    if (got == key) return e;
    known += (known.empty() ? "" : ", ") + std::string(key);
  }
  fail(ErrorCode::InvalidArgument, name, " must be one of ", known, ", got \"", got, "\"");
}
bool is_nullish(const Napi::Value& value);

// Int32Array -> int32 tensor, BigInt64Array -> int64 tensor.
at::Tensor copy_index_array(const Napi::Value& value, const char* name);
// Float32Array -> float tensor.
at::Tensor copy_float_array(const Napi::Value& value, const char* name);
// A view of a Float32Array (float32), a Uint16Array of fp16 bits (half) or a Uint8Array (uint8: quantized
// rows as stored), valid during the current
// call only.
at::Tensor view_float_or_half_array(const Napi::Value& value, const char* name);
// A view of a Float32Array valid during the current call only.
const float* float_array_data(const Napi::Value& value, const char* name, int64_t* length);

// A Float32Array with the tensor's contents. Up to 64 MiB they are copied into memory V8 owns and
// frees as soon as the array is collected; larger tensors hand their memory over without a copy
// (freed by Node on a later event-loop turn). See kCopyOutputBytes in convert.cc.
Napi::Float32Array to_float32_array(Napi::Env env, at::Tensor tensor);
// The same for a float32 tensor (a Float32Array), a half tensor (a Uint16Array of its fp16 bits) or a
// uint8 tensor (a Uint8Array).
Napi::TypedArray to_float_or_half_array(Napi::Env env, at::Tensor tensor);

// A caller's array to write into (forward's `out`): nullopt for undefined or null, ERR_INVALID_ARGUMENT
// naming `what` for anything but a Float32Array.
std::optional<Napi::Float32Array> optional_float32_array(const Napi::Value& value, const char* what);

// A new Float32Array of `length` floats in memory V8 owns; *data points at it. NOT zero-filled: the
// caller must write every element (e.g. pass *data as a kernel's output and skip the copy of
// to_float32_array). The memory stays valid while the array is referenced, from any thread.
Napi::Float32Array new_float32_array(Napi::Env env, size_t length, float** data);

}  // namespace torchrec::binding
