#include "binding/errors.h"

#include <c10/util/Exception.h>

#include <new>

#include "binding/addon_data.h"
#include "core/error.h"

namespace torchrec::binding {

CapturedError capture_current_exception() {
  try {
    throw;
  } catch (const torchrec::Error& e) {
    return {error_code_name(e.code()), e.what(), e.details()};
  } catch (const c10::Error& e) {
    // libtorch appends a C++ backtrace to what(); users get only the message.
    return {"ERR_INTERNAL", std::string("libtorch: ") + e.msg(), {}};
  } catch (const std::bad_alloc&) {
    return {error_code_name(ErrorCode::OutOfMemory), "out of memory", {}};
  } catch (const std::exception& e) {
    return {"ERR_INTERNAL", e.what(), {}};
  } catch (...) {
    return {"ERR_INTERNAL", "unknown native error", {}};
  }
}

Napi::Value make_js_error(Napi::Env env, const CapturedError& error) {
  AddonData* data = addon_data(env);
  Napi::Object out;
  if (data != nullptr && !data->torchrec_error.IsEmpty()) {
    out = data->torchrec_error.New({Napi::String::New(env, error.code), Napi::String::New(env, error.message)});
  } else {
    Napi::Error plain = Napi::Error::New(env, error.message);
    plain.Set("code", Napi::String::New(env, error.code));
    out = plain.Value();
  }
  if (!error.details.empty()) {
    Napi::Object details = Napi::Object::New(env);
    for (const auto& [key, value] : error.details) details.Set(key, Napi::Number::New(env, static_cast<double>(value)));
    out.Set("details", details);
  }
  return out;
}

}  // namespace torchrec::binding
