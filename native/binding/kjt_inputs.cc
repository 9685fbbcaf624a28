#include "binding/kjt_inputs.h"

#include <c10/core/Storage.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "binding/addon_data.h"
#include "binding/convert.h"
#include "core/error.h"

namespace torchrec::binding {
namespace {

// --- keys: the same key list arrives on almost every call, so the last one is kept (per JS thread)
// and a call whose keys match it byte for byte reuses it instead of building new strings.

KeyedJaggedTensor::KeyList& cached_keys() {
  thread_local KeyedJaggedTensor::KeyList keys;
  return keys;
}

bool matches_cached_keys(napi_env env, napi_value array, const std::vector<std::string>& cached) {
  uint32_t length = 0;
  if (napi_get_array_length(env, array, &length) != napi_ok || length != cached.size()) return false;
  char buffer[128];
  for (uint32_t i = 0; i < length; ++i) {
    napi_value item;
    size_t bytes = 0;
    if (napi_get_element(env, array, i, &item) != napi_ok) return false;
    // Not a string, or too long to compare here: the full reader decides (and reports errors).
    if (napi_get_value_string_utf8(env, item, buffer, sizeof(buffer), &bytes) != napi_ok) return false;
    if (bytes >= sizeof(buffer) - 1 || bytes != cached[i].size()) return false;
    if (std::memcmp(buffer, cached[i].data(), bytes) != 0) return false;
  }
  return true;
}

bool is_frozen(Napi::Env env, AddonData* data, const Napi::Value& value) {
  if (data->is_frozen.IsEmpty()) {
    data->is_frozen =
        Napi::Persistent(env.Global().Get("Object").As<Napi::Object>().Get("isFrozen").As<Napi::Function>());
  }
  return data->is_frozen.Call({value}).ToBoolean().Value();
}

// The cached list itself is shared with the KJT (no copy of its strings per call). A frozen array
// cannot change, so the last one seen is then known by identity alone: two N-API calls instead of
// two per key.
KeyedJaggedTensor::KeyList read_keys(const Napi::Value& value) {
  Napi::Env env = value.Env();
  AddonData* data = addon_data(env);
  if (data != nullptr && data->last_key_list && !data->last_keys.IsEmpty()) {
    napi_value last = nullptr;
    bool same = false;
    if (napi_get_reference_value(env, data->last_keys, &last) == napi_ok && last != nullptr &&
        napi_strict_equals(env, value, last, &same) == napi_ok && same) {
      return data->last_key_list;
    }
  }
  KeyedJaggedTensor::KeyList& cached = cached_keys();
  bool is_array = false;
  if (!(napi_is_array(env, value, &is_array) == napi_ok && is_array && cached &&
        matches_cached_keys(env, value, *cached))) {
    cached = std::make_shared<const std::vector<std::string>>(to_string_vector(value, "keys"));
  }
  if (data != nullptr && is_array && is_frozen(env, data, value)) {
    data->last_keys = Napi::Persistent(value.As<Napi::Array>());
    data->last_key_list = cached;
  }
  return cached;
}

// --- arrays: all of a call's arrays are copied into one heap block; the tensors over it share it
// through a reference count, and the last one to go frees it.

struct Block {
  std::atomic<int32_t> refs{0};
};
constexpr size_t kAlign = 64;  // the header takes one cache line; every array starts on its own

void release_block(void* ctx) {
  Block* block = static_cast<Block*>(ctx);
  if (block->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    block->~Block();
    std::free(block);
  }
}

struct Part {
  const void* source = nullptr;
  size_t bytes = 0;
  int64_t numel = 0;
  at::ScalarType dtype = at::kFloat;
  size_t offset = 0;
  bool shared = true;  // not known to be a plain ArrayBuffer: a SharedArrayBuffer another thread may write
};

bool plain_array_buffer(napi_env env, napi_value buffer) {
  bool is_array_buffer = false;  // false for a SharedArrayBuffer
  return buffer != nullptr && napi_is_arraybuffer(env, buffer, &is_array_buffer) == napi_ok && is_array_buffer;
}

// Index arrays: Int32Array -> int32, BigInt64Array -> int64; anything else gets convert.cc's error.
Part index_part(const Napi::Value& value, const char* name) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer = nullptr;
  if (napi_get_typedarray_info(value.Env(), value, &type, &length, &data, &buffer, nullptr) == napi_ok &&
      (type == napi_int32_array || type == napi_bigint64_array)) {
    Part part;
    part.source = data;
    part.shared = !plain_array_buffer(value.Env(), buffer);
    part.numel = static_cast<int64_t>(length);
    part.dtype = type == napi_int32_array ? at::kInt : at::kLong;
    part.bytes = length * (type == napi_int32_array ? 4 : 8);
    return part;
  }
  copy_index_array(value, name);  // throws ERR_DTYPE naming what it got
  fail(ErrorCode::Dtype, name, " must be an Int32Array or a BigInt64Array");
}

Part float_part(const Napi::Value& value, const char* name) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer = nullptr;
  if (napi_get_typedarray_info(value.Env(), value, &type, &length, &data, &buffer, nullptr) == napi_ok &&
      type == napi_float32_array) {
    Part part;
    part.source = data;
    part.shared = !plain_array_buffer(value.Env(), buffer);
    part.numel = static_cast<int64_t>(length);
    part.dtype = at::kFloat;
    part.bytes = length * 4;
    return part;
  }
  copy_float_array(value, name);  // throws ERR_DTYPE naming what it got
  fail(ErrorCode::Dtype, name, " must be a Float32Array");
}

at::Tensor block_tensor(Block* block, const Part& part) {
  block->refs.fetch_add(1, std::memory_order_relaxed);
  void* data = reinterpret_cast<uint8_t*>(block) + part.offset;
  c10::Storage storage(c10::Storage::use_byte_size_t(), part.bytes,
                       c10::DataPtr(data, block, &release_block, c10::Device(c10::DeviceType::CPU)),
                       /*allocator=*/nullptr, /*resizable=*/false);
  at::Tensor tensor = at::detail::make_tensor<c10::TensorImpl>(
      std::move(storage), c10::DispatchKeySet(c10::DispatchKey::CPU), c10::scalarTypeToTypeMeta(part.dtype));
  tensor.unsafeGetTensorImpl()->set_sizes_contiguous({part.numel});
  return tensor;
}

// Copies the present parts into one block and returns a tensor per part (undefined where absent).
void copy_parts(Part* parts[], at::Tensor* outs[], int count) {
  size_t size = kAlign;
  for (int i = 0; i < count; ++i) {
    if (parts[i] == nullptr) continue;
    parts[i]->offset = size;
    size += (parts[i]->bytes + kAlign - 1) / kAlign * kAlign;
  }
  void* memory = std::aligned_alloc(kAlign, size);
  if (memory == nullptr) throw std::bad_alloc();
  Block* block = new (memory) Block();
  block->refs.store(1, std::memory_order_relaxed);  // held while the tensors are made
  for (int i = 0; i < count; ++i) {
    if (parts[i] == nullptr) continue;
    if (parts[i]->bytes > 0) {
      std::memcpy(reinterpret_cast<uint8_t*>(block) + parts[i]->offset, parts[i]->source, parts[i]->bytes);
    }
    *outs[i] = block_tensor(block, *parts[i]);
  }
  release_block(block);
}

}  // namespace

namespace {

// Reads the six KJT arguments into `in` (keys, stride) and `parts` (the arrays, not yet copied).
struct KjtParts {
  Part values, jagged, weights;
  bool has_lengths = false, has_weights = false;
};

KjtParts read_parts(const Napi::CallbackInfo& info, size_t first, KjtInputs* in) {
  KjtParts p;
  in->keys = read_keys(info[first]);
  p.values = index_part(info[first + 1], "values");
  p.has_lengths = !is_nullish(info[first + 2]);
  const bool has_offsets = !is_nullish(info[first + 3]);
  if (p.has_lengths == has_offsets) fail(ErrorCode::InvalidKjt, "a KJT needs exactly one of lengths or offsets");
  p.jagged = p.has_lengths ? index_part(info[first + 2], "lengths") : index_part(info[first + 3], "offsets");
  p.has_weights = !is_nullish(info[first + 4]);
  if (p.has_weights) p.weights = float_part(info[first + 4], "weights");
  if (!is_nullish(info[first + 5])) {
    in->stride = to_int64(info[first + 5], "stride", 0, int64_t{1000000000000});
  }
  return p;
}

// A tensor over the caller's memory, owning nothing. Made directly, as block_tensor makes its
// tensors: at::from_blob's TensorMaker asks the context for the pointer's device and builds a deleter
// context, about twice the cost, and forwardSync makes two of these per call.
at::Tensor view_tensor(const Part& part) {
  c10::Storage storage(c10::Storage::use_byte_size_t(), part.bytes,
                       c10::DataPtr(const_cast<void*>(part.source), c10::Device(c10::DeviceType::CPU)),
                       /*allocator=*/nullptr, /*resizable=*/false);
  at::Tensor tensor = at::detail::make_tensor<c10::TensorImpl>(
      std::move(storage), c10::DispatchKeySet(c10::DispatchKey::CPU), c10::scalarTypeToTypeMeta(part.dtype));
  tensor.unsafeGetTensorImpl()->set_sizes_contiguous({part.numel});
  return tensor;
}

}  // namespace

KjtInputs read_kjt_inputs(const Napi::CallbackInfo& info, size_t first) {
  KjtInputs in;
  KjtParts p = read_parts(info, first, &in);
  Part* parts[] = {&p.values, &p.jagged, p.has_weights ? &p.weights : nullptr};
  at::Tensor* outs[] = {&in.values, p.has_lengths ? &in.lengths : &in.offsets, &in.weights};
  copy_parts(parts, outs, 3);
  return in;
}

KjtInputs view_kjt_inputs(const Napi::CallbackInfo& info, size_t first) {
  KjtInputs in;
  KjtParts p = read_parts(info, first, &in);
  if (!p.values.shared && !p.jagged.shared && !(p.has_weights && p.weights.shared)) {
    in.values = view_tensor(p.values);
    (p.has_lengths ? in.lengths : in.offsets) = view_tensor(p.jagged);
    if (p.has_weights) in.weights = view_tensor(p.weights);
    return in;
  }
  // Memory another thread can write while this call runs: copy it, as read_kjt_inputs does.
  Part* parts[] = {&p.values, &p.jagged, p.has_weights ? &p.weights : nullptr};
  at::Tensor* outs[] = {&in.values, p.has_lengths ? &in.lengths : &in.offsets, &in.weights};
  copy_parts(parts, outs, 3);
  return in;
}

KeyedJaggedTensor build_kjt(const KjtInputs& in) {
  if (in.lengths.defined()) {
    return KeyedJaggedTensor::from_lengths(in.keys, in.values, in.lengths, in.weights, in.stride);
  }
  return KeyedJaggedTensor::from_offsets(in.keys, in.values, in.offsets, in.weights, in.stride);
}

int64_t batch_size_hint(const KjtInputs& in) {
  if (in.stride > 0) return in.stride;
  const int64_t keys = static_cast<int64_t>(in.keys->size());
  if (keys == 0) return 0;
  const int64_t entries = in.lengths.defined() ? in.lengths.numel() : in.offsets.defined() ? in.offsets.numel() - 1 : 0;
  return entries > 0 && entries % keys == 0 ? entries / keys : 0;
}

void check_out_length(const Napi::Float32Array& out, size_t length) {
  if (out.ElementLength() != length) {
    fail(ErrorCode::Shape, "forward: out has ", out.ElementLength(), " float32 values but the result has ", length);
  }
}

Napi::Float32Array copy_into_out(Napi::Float32Array out, const float* data, size_t length) {
  if (out.ArrayBuffer().IsDetached() || out.ElementLength() != length) {
    fail(ErrorCode::InvalidArgument, "forward: out was detached or resized while the call was in flight (it has ",
         out.ElementLength(), " float32 values, the result ", length, "); the result is dropped");
  }
  if (length > 0) std::memcpy(out.Data(), data, length * sizeof(float));
  return out;
}

Napi::Float32Array forward_into_float32_array(Napi::Env env, EmbeddingModule& module, const KeyedJaggedTensor& kjt,
                                              bool train, const std::optional<Napi::Float32Array>& out) {
  const size_t length = static_cast<size_t>(kjt.stride()) * static_cast<size_t>(module.plan().output_width());
  if (out) {
    Napi::Float32Array into = *out;
    check_out_length(into, length);
    float none = 0.0f;
    float* data = length == 0 ? &none : into.Data();
    train ? module.forward_train(kjt, data) : module.forward(kjt, data);
    return into;
  }
  if (length == 0) {
    float none = 0.0f;
    train ? module.forward_train(kjt, &none)
          : module.forward(kjt, &none);  // still validates the batch (missing features, ids out of range)
    return Napi::Float32Array::New(env, 0);
  }
  float* data = nullptr;
  Napi::Float32Array result = new_float32_array(env, length, &data);
  train ? module.forward_train(kjt, data) : module.forward(kjt, data);
  return result;
}

}  // namespace torchrec::binding
