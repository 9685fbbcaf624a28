#include "binding/typed_arrays.h"

#include <cstring>

#include "binding/convert.h"
#include "core/error.h"

namespace torchrec::binding {

at::ScalarType dtype_of(napi_typedarray_type type, const char* name) {
  switch (type) {
    case napi_float32_array: return at::kFloat;
    case napi_float64_array: return at::kDouble;
    case napi_int32_array: return at::kInt;
    case napi_bigint64_array: return at::kLong;
    case napi_int8_array: return at::kChar;
    case napi_uint8_array: return at::kByte;
    case napi_uint16_array: return at::kHalf;  // float16 bits (Node has no Float16Array yet)
    default:
      fail(ErrorCode::InvalidArgument, name,
           " must be a Float32Array, Float64Array, Int32Array, BigInt64Array, Int8Array, Uint8Array or "
           "Uint16Array (float16 bits)");
  }
}

at::Tensor copy_typed_array(const Napi::Value& value, const char* name, int64_t row_elems, napi_typedarray_type* type) {
  if (!value.IsTypedArray()) fail(ErrorCode::InvalidArgument, name, " must be a typed array");
  auto array = value.As<Napi::TypedArray>();
  *type = array.TypedArrayType();
  const at::ScalarType dtype = dtype_of(*type, name);
  const auto length = static_cast<int64_t>(array.ElementLength());
  if (row_elems < 1 || length % row_elems != 0) {
    fail(ErrorCode::InvalidArgument, name, " has ", length, " elements, not a multiple of the row size ", row_elems);
  }
  at::Tensor out = at::empty({length / row_elems, row_elems}, dtype);
  if (length > 0) {
    const auto* bytes = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    std::memcpy(out.data_ptr(), bytes, array.ByteLength());
  }
  return out;
}

Napi::Value to_typed_array(Napi::Env env, const at::Tensor& tensor, napi_typedarray_type type) {
  at::Tensor c = tensor.contiguous();
  const size_t bytes = static_cast<size_t>(c.numel()) * c.element_size();
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, bytes);
  if (bytes > 0) std::memcpy(buffer.Data(), c.data_ptr(), bytes);
  napi_value out;
  NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, type, static_cast<size_t>(c.numel()), buffer, 0, &out),
                       Napi::Value());
  return Napi::Value(env, out);
}

int64_t to_count(const Napi::Value& value, const std::string& name) {
  return to_int64(value, name.c_str(), 0, int64_t{9007199254740991});  // 2^53 - 1
}

std::vector<int64_t> to_splits(const Napi::Value& value, const char* name) {
  if (!value.IsArray()) fail(ErrorCode::InvalidArgument, name, " must be an array of row counts");
  auto array = value.As<Napi::Array>();
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    out.push_back(to_count(array.Get(i), std::string(name) + "[" + std::to_string(i) + "]"));
  }
  return out;
}

Napi::Value number_array(Napi::Env env, const std::vector<int64_t>& v) {
  Napi::Array out = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, v[i]));
  return out;
}

}  // namespace torchrec::binding
