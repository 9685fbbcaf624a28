// The serving methods of NativeEmbeddingBagCollection: which tables are memory-mapped, whether the
// collection is read-only, and the conversion of a mapped table's source for importState.
#include "binding/convert.h"
#include "binding/ebc_binding.h"
#include "binding/errors.h"

namespace torchrec::binding {

MappedSource read_mapped_source(const Napi::Value& value, const std::string& where) {
  if (!value.IsObject()) fail(ErrorCode::InvalidArgument, where, " must be an object {file, offset, dtype}");
  const Napi::Object o = value.As<Napi::Object>();
  MappedSource source;
  source.file = to_string(o.Get("file"), (where + ".file").c_str());
  source.offset = to_int64(o.Get("offset"), (where + ".offset").c_str(), 0, 9007199254740991);
  const std::string dtype = to_string(o.Get("dtype"), (where + ".dtype").c_str());
  if (dtype == "float32") {
    source.dtype = at::kFloat;
  } else if (dtype == "float16") {
    source.dtype = at::kHalf;
  } else {
    fail(ErrorCode::Checkpoint, where, ".dtype: ", dtype, " cannot be mapped (float32 or float16 only)");
  }
  return source;
}

// tableStorage(): {[table]: 'memory' | 'mmap'}, in table order.
Napi::Value EbcBinding::table_storage(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto m = module("tableStorage");
    const auto storage = m->table_storage();
    Napi::Object out = Napi::Object::New(info.Env());
    for (size_t t = 0; t < storage.size(); ++t) out.Set(m->plan().tables()[t].name, storage[t]);
    return out;
  });
}

Napi::Value EbcBinding::read_only(const Napi::CallbackInfo& info) {
  return guard(info.Env(),
               [&]() -> Napi::Value { return Napi::Boolean::New(info.Env(), module("readOnly")->read_only()); });
}

}  // namespace torchrec::binding
