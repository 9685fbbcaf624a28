// The KJT arguments of forward/backward, copied off the JS heap on the calling thread so the work
// can run on a pool thread while JS goes on (and may mutate its arrays). All arrays of a call are
// copied into one heap block that their tensors share, and the last key list is cached per thread,
// so a call costs one allocation and no string conversions in the common case.
#pragma once

#include <napi.h>

#include <optional>

#include "core/embedding_module.h"
#include "core/keyed_jagged_tensor.h"

namespace torchrec::binding {

struct KjtInputs {
  KeyedJaggedTensor::KeyList keys;  // shared with the per-thread cache of the last key list
  at::Tensor values;
  at::Tensor lengths;  // exactly one of lengths / offsets is defined
  at::Tensor offsets;
  at::Tensor weights;  // undefined when absent
  int64_t stride = 0;
};

// Reads (keys, values, lengths|null, offsets|null, weights|null, stride) starting at info[first].
KjtInputs read_kjt_inputs(const Napi::CallbackInfo& info, size_t first);

// The same without copying, for a call that finishes before it returns to JS (forwardSync): the
// tensors view the caller's arrays and are valid only until then. Arrays over a SharedArrayBuffer,
// which another thread could write meanwhile, are still copied.
KjtInputs view_kjt_inputs(const Napi::CallbackInfo& info, size_t first);

KeyedJaggedTensor build_kjt(const KjtInputs& inputs);

// forwardSync's result: the collection pools `kjt` straight into the memory of a new Float32Array
// (memory V8 owns and frees when the array is collected), with no intermediate tensor and no copy;
// or into the caller's `out` (ERR_SHAPE unless it has exactly the result's length), returned.
// train: a TRAIN-mode forward of a module with managed ids (forward_train).
Napi::Float32Array forward_into_float32_array(Napi::Env env, EmbeddingModule& module, const KeyedJaggedTensor& kjt,
                                              bool train, const std::optional<Napi::Float32Array>& out = std::nullopt);

// ERR_SHAPE unless the caller's `out` holds exactly `length` values (the result of a forward).
void check_out_length(const Napi::Float32Array& out, size_t length);

// An async forward's result copied into the caller's `out`, on the JS thread, once it is pooled. JS
// may detach `out`'s buffer (transfer it to a worker) or shrink it while the call is in flight, so
// the pooling never writes there itself: it pools into memory of its own, and the copy checks that
// `out` still holds `length` values (else ERR_INVALID_ARGUMENT, the result dropped). Returns `out`.
Napi::Float32Array copy_into_out(Napi::Float32Array out, const float* data, size_t length);

// The batch size the inputs will have once built, when it can be told without building them (the
// stride given, or the lengths/offsets divided by the keys); 0 when it cannot. Only a hint for sizing
// an output ahead of the work: build_kjt stays the judge of what is valid.
int64_t batch_size_hint(const KjtInputs& inputs);

}  // namespace torchrec::binding
