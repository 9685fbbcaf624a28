#include "core/table_store.h"

#include <regex>

#include "core/cpu_table_store.h"
#include "core/cuda_table_store.h"
#include "core/error.h"
#include "core/quantized_table_store.h"

namespace torchrec {

bool cuda_store_compiled() {
#if TORCHREC_WITH_CUDA  // undefined (the node-gyp build) counts as 0
  return true;
#else
  return false;
#endif
}

std::unique_ptr<TableStore> make_table_store(const std::string& device, const std::vector<TableSpec>& tables,
                                             const std::vector<std::optional<OptimizerSpec>>& optimizers, uint64_t seed,
                                             bool stochastic_rounding) {
  bool any_quantized = false;
  for (size_t t = 0; t < tables.size(); ++t) {
    if (quantized_bits(tables[t].dtype) == 0) continue;
    any_quantized = true;
    if (t < optimizers.size() && optimizers[t]) {
      fail(ErrorCode::InvalidConfig, "tables[", t, "].optimizer: table \"", tables[t].name,
           "\" is quantized (int8/int4/int2) and cannot be trained; drop its optimizer");
    }
  }
  if (any_quantized) {
    if (device != "cpu") {
      fail(ErrorCode::Device, "device \"", device, "\": quantized (int8/int4/int2) tables run on the CPU only");
    }
    return std::make_unique<QuantizedTableStore>(tables, seed);
  }
  if (device == "cpu")
    return std::make_unique<CpuTableStore>(tables, optimizers, seed, std::vector<TableOrigin>{}, stochastic_rounding);
  std::smatch match;
  static const std::regex cuda("^cuda(?::([0-9]{1,3}))?$");
  if (!std::regex_match(device, match, cuda)) {
    fail(ErrorCode::Device, "device \"", device, "\" is not known; use \"cpu\", \"cuda\" or \"cuda:N\"");
  }
#if TORCHREC_WITH_CUDA
  const int index = match[1].matched ? std::stoi(match[1].str()) : -1;
  return std::make_unique<CudaTableStore>(tables, optimizers, seed, index);
#else
  fail(ErrorCode::Device, "device \"", device, "\": this build of torchrec-node has no CUDA support (it was built ",
       "against a CPU-only libtorch). Rebuild against a CUDA libtorch (LIBTORCH or a CUDA PyTorch for python3) ",
       "to use a GPU.");
#endif
}

}  // namespace torchrec
