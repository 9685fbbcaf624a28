// Typed errors of the core. The binding maps each code to a JS TorchrecError with the same code
// string; nothing here knows about Node.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

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
  NonFinite,    // a NaN or infinity where the math needs finite values (gradients, optimizer state)
  OutOfMemory,  // a table, state or buffer that cannot be allocated, on any device
  Internal,
};

// The stable string the public API promises, e.g. "ERR_INVALID_KJT".
const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

  // Structured facts about the failure (positions, ids) that callers read instead of parsing the
  // message; the binding puts them on the JS error as `details`.
  using Details = std::vector<std::pair<std::string, int64_t>>;
  const Details& details() const noexcept { return details_; }
  Error&& with(std::string key, int64_t value) && {
    details_.emplace_back(std::move(key), value);
    return std::move(*this);
  }

 private:
  ErrorCode code_;
  Details details_;
};

// fail(ErrorCode::Shape, "gradOutput has ", n, " elements, expected ", m);
template <typename... Parts>
std::string message_of(Parts&&... parts) {
  std::ostringstream message;
  (message << ... << std::forward<Parts>(parts));
  return message.str();
}

template <typename... Parts>
[[noreturn]] void fail(ErrorCode code, Parts&&... parts) {
  std::ostringstream message;
  (message << ... << std::forward<Parts>(parts));
  throw Error(code, message.str());
}

}  // namespace torchrec
