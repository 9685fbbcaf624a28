#include "core/table_state_rules.h"

#include "core/error.h"
#include "kernels/rowwise_quant.h"
#include "kernels/sparse_backward_cpu.h"

namespace torchrec {

void check_table_weights(const TableSpec& spec, const at::Tensor& values, const char* method) {
  if (const int bits = quantized_bits(spec.dtype)) {
    check_quantized_weights(spec, bits, values, method);
    return;
  }
  if (values.scalar_type() != at::kFloat && values.scalar_type() != spec.dtype) {
    fail(ErrorCode::Dtype, method, "(\"", spec.name, "\"): values must be float32",
         spec.dtype == at::kHalf ? " or fp16" : "", ", got ", values.scalar_type());
  }
  const int64_t expected = spec.num_embeddings * spec.embedding_dim;
  if (values.numel() != expected) {
    fail(ErrorCode::Shape, method, "(\"", spec.name, "\"): got ", values.numel(), " values, expected ",
         spec.num_embeddings, " x ", spec.embedding_dim, " = ", expected);
  }
}

void check_quantized_weights(const TableSpec& spec, int bits, const at::Tensor& values, const char* method) {
  const int64_t row_bytes = kernels::quantized_row_bytes(spec.embedding_dim, bits);
  const bool stored = values.scalar_type() == at::kByte;
  if (!stored && values.scalar_type() != at::kFloat) {
    fail(ErrorCode::Dtype, method, "(\"", spec.name, "\"): values of an int", bits,
         " table must be float32 (quantized on write) or uint8 stored rows, got ", values.scalar_type());
  }
  const int64_t per_row = stored ? row_bytes : spec.embedding_dim;
  if (values.numel() != spec.num_embeddings * per_row) {
    fail(ErrorCode::Shape, method, "(\"", spec.name, "\"): got ", values.numel(), " ", stored ? "bytes" : "values",
         ", expected ", spec.num_embeddings, " x ", per_row, " = ", spec.num_embeddings * per_row,
         stored ? " (each row: fp16 scale, fp16 bias, packed codes)" : "");
  }
  if (!stored) {
    const at::Tensor floats = values.contiguous();
    if (auto bad = kernels::find_non_finite(floats.data_ptr<float>(), floats.numel())) {
      fail(ErrorCode::NonFinite, method, "(\"", spec.name, "\"): value ", *bad, " (row ", *bad / spec.embedding_dim,
           ", column ", *bad % spec.embedding_dim, ") is not finite and cannot be quantized");
    }
  }
}

std::vector<StateTensorInfo> table_state_layout(const TableSpec& spec, const std::optional<OptimizerSpec>& optimizer) {
  std::vector<StateTensorInfo> out;
  if (!optimizer) return out;
  for (const auto& state : optimizer_state_layout(optimizer->kind)) {
    out.push_back({state.name,
                   state.per_element ? std::vector<int64_t>{spec.num_embeddings, spec.embedding_dim}
                                     : std::vector<int64_t>{spec.num_embeddings},
                   state.non_negative});
  }
  return out;
}

size_t table_state_index(const TableSpec& spec, const std::optional<OptimizerSpec>& optimizer, const std::string& name,
                         const char* method) {
  std::string known;
  if (optimizer) {
    const auto& layout = optimizer_state_layout(optimizer->kind);
    for (size_t i = 0; i < layout.size(); ++i) {
      if (layout[i].name == name) return i;
      known += (known.empty() ? "" : ", ") + layout[i].name;
    }
  }
  fail(ErrorCode::InvalidArgument, method, "(\"", spec.name, "\", \"", name, "\"): table \"", spec.name,
       "\" has no optimizer state named \"", name, "\" (it has: ", known.empty() ? "none" : known, ")");
}

void check_table_state(const TableSpec& spec, const OptimizerSpec& optimizer, size_t index, const float* data,
                       int64_t numel) {
  const StateSpec& state = optimizer_state_layout(optimizer.kind)[index];
  const int64_t expected = state.per_element ? spec.num_embeddings * spec.embedding_dim : spec.num_embeddings;
  if (numel != expected) {
    fail(ErrorCode::Shape, "optimizer state \"", state.name, "\" of table \"", spec.name, "\" has ", expected,
         " values (", state.per_element ? "[num_embeddings][embedding_dim]" : "[num_embeddings]", "), got ", numel);
  }
  check_state_values(state, spec.name, data, numel);
}

}  // namespace torchrec
