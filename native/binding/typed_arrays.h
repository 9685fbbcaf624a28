// Typed arrays of any element type <-> tensors, for the process group's collectives (convert.h
// covers the EBC's Float32/Int32/BigInt64 arrays). Inputs are copied; outputs own their memory.
#pragma once

#include <ATen/ATen.h>
#include <napi.h>

#include <string>
#include <vector>

namespace torchrec::binding {

// Float32Array -> float, Float64Array -> double, Int32Array -> int32, BigInt64Array -> int64,
// Int8Array / Uint8Array -> int8 / uint8, Uint16Array -> float16 (its bits: Node has no Float16Array).
at::ScalarType dtype_of(napi_typedarray_type type, const char* name);

// A copy of a typed array as a [length / row_elems, row_elems] tensor of its dtype; *type receives
// the array's type.
at::Tensor copy_typed_array(const Napi::Value& value, const char* name, int64_t row_elems, napi_typedarray_type* type);

// A new typed array of `type` holding the tensor's elements.
Napi::Value to_typed_array(Napi::Env env, const at::Tensor& tensor, napi_typedarray_type type);

// A non-negative safe integer, checked before any cast (casting NaN or 1e300 is undefined).
int64_t to_count(const Napi::Value& value, const std::string& name);
// An array of such counts.
std::vector<int64_t> to_splits(const Napi::Value& value, const char* name);
Napi::Value number_array(Napi::Env env, const std::vector<int64_t>& v);

}  // namespace torchrec::binding
