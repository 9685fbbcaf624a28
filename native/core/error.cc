#include "core/error.h"

namespace torchrec {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidConfig: return "ERR_INVALID_CONFIG";
    case ErrorCode::InvalidKjt: return "ERR_INVALID_KJT";
    case ErrorCode::IndexOutOfRange: return "ERR_INDEX_OUT_OF_RANGE";
    case ErrorCode::MissingFeature: return "ERR_MISSING_FEATURE";
    case ErrorCode::InvalidMode: return "ERR_INVALID_MODE";
    case ErrorCode::Shape: return "ERR_SHAPE";
    case ErrorCode::Dtype: return "ERR_DTYPE";
    case ErrorCode::Device: return "ERR_DEVICE";
    case ErrorCode::Checkpoint: return "ERR_CHECKPOINT";
    case ErrorCode::Disposed: return "ERR_DISPOSED";
    case ErrorCode::Distributed: return "ERR_DISTRIBUTED";
    case ErrorCode::InvalidArgument: return "ERR_INVALID_ARGUMENT";
    case ErrorCode::NonFinite: return "ERR_NON_FINITE";
    case ErrorCode::OutOfMemory: return "ERR_OUT_OF_MEMORY";
    case ErrorCode::Internal: return "ERR_INTERNAL";
  }
  return "ERR_INTERNAL";
}

}  // namespace torchrec
