// The single point where C++ failures become JS TorchrecErrors (code + message, no backtrace).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace torchrec::binding {

struct CapturedError {
  std::string code;
  std::string message;
  std::vector<std::pair<std::string, int64_t>> details;  // torchrec::Error::details(), as error.details
};

// Call only inside a catch block: classifies the exception in flight.
CapturedError capture_current_exception();

Napi::Value make_js_error(Napi::Env env, const CapturedError& error);

// Runs `body`; any C++ exception becomes a thrown TorchrecError.
template <typename Body>
Napi::Value guard(Napi::Env env, Body&& body) {
  CapturedError error;
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    error = capture_current_exception();
  }
  throw Napi::Error(env, make_js_error(env, error));
}

}  // namespace torchrec::binding
