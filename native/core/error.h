// Typed errors of the core. The binding maps each code to a JS TorchrecError with the same code
// string; nothing here knows about Node.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace torchrec {

enum class ErrorCode {
  InvalidConfig,
  InvalidKjt,
  IndexOutOfRange,
  MissingFeature,
  InvalidMode,
  Shape,
  Dtype,
  Device,
  Checkpoint,
  Disposed,
  Distributed,  // communication between ranks failed (native/distributed)
  InvalidArgument,
  Internal,
};

// The stable string the public API promises, e.g. "ERR_INVALID_KJT".
const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// fail(ErrorCode::Shape, "gradOutput has ", n, " elements, expected ", m);
template <typename... Parts>
[[noreturn]] void fail(ErrorCode code, Parts&&... parts) {
  std::ostringstream message;
  (message << ... << std::forward<Parts>(parts));
  throw Error(code, message.str());
}

}  // namespace torchrec
