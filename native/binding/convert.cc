#include "binding/convert.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/table_memory.h"

namespace torchrec::binding {
namespace {

const char* typed_array_name(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "a typed array";
  }
}

std::string describe(const Napi::Value& value) {
  if (value.IsTypedArray()) return typed_array_name(value.As<Napi::TypedArray>().TypedArrayType());
  if (value.IsArray()) return "an Array";
  if (value.IsNull()) return "null";
  if (value.IsUndefined()) return "undefined";
  if (value.IsString()) return "a string";
  if (value.IsNumber()) return "a number";
  if (value.IsBigInt()) return "a bigint";
  if (value.IsBoolean()) return "a boolean";
  if (value.IsFunction()) return "a function";
  return "an object";
}

at::Tensor copy_typed(const Napi::TypedArray& array, at::ScalarType dtype) {
  const int64_t n = static_cast<int64_t>(array.ElementLength());
  at::Tensor out = at::empty({n}, dtype);
  if (n > 0) {
    const uint8_t* base = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    std::memcpy(out.data_ptr(), base, array.ByteLength());
  }
  return out;
}

// Node frees external ArrayBuffer memory (a tensor handed over without a copy) only on a later turn
// of the event loop: its free callback is queued with SetImmediateThreadsafe when the GC drops the
// array. A synchronous loop of forwardSync calls would therefore hold on to every output it ever
// made (20,000 outputs of 64 KiB: 1.3 GB) until it yields. Results up to this size are copied into
// memory V8 frees by itself instead, which costs a memcpy next to computing them; larger ones (big
// getWeights copies) keep the tensor's memory, where a second copy would double the peak.
constexpr size_t kCopyOutputBytes = size_t{64} << 20;

}  // namespace

bool is_nullish(const Napi::Value& value) {
  return value.IsNull() || value.IsUndefined();
}

std::string to_string(const Napi::Value& value, const char* name) {
  if (!value.IsString()) fail(ErrorCode::InvalidArgument, name, " must be a string, got ", describe(value));
  return value.As<Napi::String>().Utf8Value();
}

double to_number(const Napi::Value& value, const char* name) {
  if (!value.IsNumber()) fail(ErrorCode::InvalidArgument, name, " must be a number, got ", describe(value));
  return value.As<Napi::Number>().DoubleValue();
}

int64_t to_int64(const Napi::Value& value, const char* name, int64_t min, int64_t max) {
  const double v = to_number(value, name);
  if (!(v >= static_cast<double>(min)) || !(v <= static_cast<double>(max)) || std::floor(v) != v) {
    fail(ErrorCode::InvalidArgument, name, " must be an integer in [", min, ", ", max, "], got ", v);
  }
  return static_cast<int64_t>(v);
}

std::vector<std::string> to_string_vector(const Napi::Value& value, const char* name) {
  if (!value.IsArray()) fail(ErrorCode::InvalidArgument, name, " must be an array of strings, got ", describe(value));
  Napi::Array array = value.As<Napi::Array>();
  std::vector<std::string> out;
  out.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsString()) fail(ErrorCode::InvalidArgument, name, "[", i, "] must be a string, got ", describe(item));
    out.push_back(item.As<Napi::String>().Utf8Value());
  }
  return out;
}

at::Tensor copy_index_array(const Napi::Value& value, const char* name) {
  if (value.IsTypedArray()) {
    Napi::TypedArray array = value.As<Napi::TypedArray>();
    if (array.TypedArrayType() == napi_int32_array) return copy_typed(array, at::kInt);
    if (array.TypedArrayType() == napi_bigint64_array) return copy_typed(array, at::kLong);
  }
  fail(ErrorCode::Dtype, name, " must be an Int32Array or a BigInt64Array, got ", describe(value));
}

at::Tensor copy_float_array(const Napi::Value& value, const char* name) {
  if (value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
    return copy_typed(value.As<Napi::TypedArray>(), at::kFloat);
  }
  fail(ErrorCode::Dtype, name, " must be a Float32Array, got ", describe(value));
}

at::Tensor view_float_or_half_array(const Napi::Value& value, const char* name) {
  if (value.IsTypedArray()) {
    Napi::TypedArray array = value.As<Napi::TypedArray>();
    const auto type = array.TypedArrayType();
    if (type == napi_float32_array || type == napi_uint16_array || type == napi_uint8_array) {
      void* data = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
      const at::ScalarType dtype =
          type == napi_float32_array ? at::kFloat : (type == napi_uint16_array ? at::kHalf : at::kByte);
      return at::from_blob(data, {static_cast<int64_t>(array.ElementLength())}, dtype);
    }
  }
  fail(ErrorCode::Dtype, name,
       " must be a Float32Array, a Uint16Array of fp16 bits or a Uint8Array of quantized rows, got ", describe(value));
}

const float* float_array_data(const Napi::Value& value, const char* name, int64_t* length) {
  if (value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
    Napi::Float32Array array = value.As<Napi::Float32Array>();
    *length = static_cast<int64_t>(array.ElementLength());
    return array.Data();
  }
  fail(ErrorCode::Dtype, name, " must be a Float32Array, got ", describe(value));
}

// Up to this size a result's zero-fill costs less than a Node Buffer's own overhead.
constexpr size_t kZeroFillOutputBytes = size_t{64} << 10;

std::optional<Napi::Float32Array> optional_float32_array(const Napi::Value& value, const char* what) {
  if (value.IsUndefined() || value.IsNull()) return std::nullopt;
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    fail(ErrorCode::InvalidArgument, what, " must be a Float32Array");
  }
  return value.As<Napi::Float32Array>();
}

Napi::Float32Array new_float32_array(Napi::Env env, size_t length, float** data) {
  const size_t bytes = length * sizeof(float);
  // Either way the memory is V8's, freed when the array is collected (unlike external memory).
  // Small results: a plain ArrayBuffer. A Node Buffer is a second typed array whose prototype is
  // swapped on every call, which costs more than zero-filling a few KiB.
  if (bytes <= kZeroFillOutputBytes) {
    Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, bytes);
    *data = static_cast<float*>(buffer.Data());
    return Napi::Float32Array::New(env, length, buffer, 0);
  }
  // Big results: a Node Buffer, whose memory is not zero-filled (the caller writes every element).
  // An ArrayBuffer's is: glibc serves a freed 8 MiB block again from the heap (its mmap threshold
  // grows after such frees), so calloc memsets it, which made forwardSync at M 1.5-1.9x slower.
  Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::New(env, bytes);
  *data = reinterpret_cast<float*>(buffer.Data());
  // Fresh heap pages fault one 4 KiB page at a time (bench/results/design-measurements.md).
  kernels::advise_huge_pages(buffer.Data(), bytes);
  return Napi::Float32Array::New(env, length, buffer.ArrayBuffer(), buffer.ByteOffset());
}

Napi::TypedArray to_float_or_half_array(Napi::Env env, at::Tensor tensor) {
  if (tensor.scalar_type() == at::kByte) {  // quantized rows, as stored
    tensor = tensor.contiguous();
    Napi::Uint8Array bytes = Napi::Uint8Array::New(env, static_cast<size_t>(tensor.numel()));
    if (tensor.numel() > 0) std::memcpy(bytes.Data(), tensor.data_ptr(), static_cast<size_t>(tensor.numel()));
    return bytes;
  }
  if (tensor.scalar_type() != at::kHalf) return to_float32_array(env, std::move(tensor));
  tensor = tensor.contiguous();
  const size_t length = static_cast<size_t>(tensor.numel());
  Napi::Uint16Array out = Napi::Uint16Array::New(env, length);
  if (length > 0) std::memcpy(out.Data(), tensor.data_ptr(), length * sizeof(uint16_t));
  return out;
}

Napi::Float32Array to_float32_array(Napi::Env env, at::Tensor tensor) {
  tensor = tensor.contiguous();
  if (tensor.scalar_type() != at::kFloat) {
    fail(ErrorCode::Internal, "to_float32_array: expected a float32 tensor, got ", tensor.scalar_type());
  }
  const size_t length = static_cast<size_t>(tensor.numel());
  if (length == 0) return Napi::Float32Array::New(env, 0);
  if (length * sizeof(float) <= kCopyOutputBytes) {
    float* data = nullptr;
    Napi::Float32Array out = new_float32_array(env, length, &data);
    std::memcpy(data, tensor.data_ptr<float>(), length * sizeof(float));
    return out;
  }
  auto* owner = new at::Tensor(std::move(tensor));
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
      env, owner->data_ptr(), length * sizeof(float), [](Napi::Env, void*, at::Tensor* held) { delete held; }, owner);
  return Napi::Float32Array::New(env, length, buffer, 0);
}

}  // namespace torchrec::binding
