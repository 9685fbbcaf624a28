#include "core/cuda_table_store.h"

#if TORCHREC_WITH_CUDA

#include <ATen/CPUGeneratorImpl.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "core/cpu_table_store.h"
#include "core/error.h"
#include "kernels/cuda_kernels.h"
#include "kernels/table_norms_cpu.h"

namespace torchrec {
namespace ck = cuda_kernels;
namespace {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) fail(ErrorCode::Device, "CUDA error in ", what, ": ", cudaGetErrorString(err));
}

// As check, but first waits for the work already queued on `stream`, so that the pinned and device
// buffers it may still be reading are idle when the exception unwinds and frees them.
void check_on(cudaStream_t stream, cudaError_t err, const char* what) {
  if (err == cudaSuccess) return;
  cudaStreamSynchronize(stream);
  check(err, what);
}

// Host data packed into one pinned buffer, then sent with one copy. Sections are 256-byte aligned.
class Staging {
 public:
  size_t add(const void* data, size_t bytes) {
    const size_t at = (size_ + 255) / 256 * 256;
    parts_.push_back({data, bytes, at});
    size_ = at + bytes;
    return at;
  }
  // Copies everything to the device on `stream`; returns the device buffer (keep it alive until the
  // stream is synchronized).
  at::Tensor upload(int device, cudaStream_t stream) {
    const int64_t bytes = static_cast<int64_t>(std::max<size_t>(size_, 1));
    pinned_ = at::empty({bytes}, at::TensorOptions().dtype(at::kByte).pinned_memory(true));
    auto* host = static_cast<char*>(pinned_.data_ptr());
    for (const auto& p : parts_) {
      if (p.bytes > 0) std::memcpy(host + p.at, p.data, p.bytes);
    }
    at::Tensor dev = at::empty({bytes}, at::TensorOptions().dtype(at::kByte).device(at::kCUDA, device));
    check_on(stream, cudaMemcpyAsync(dev.data_ptr(), host, size_, cudaMemcpyHostToDevice, stream),
             "cudaMemcpyAsync (inputs)");
    return dev;
  }

 private:
  struct Part {
    const void* data;
    size_t bytes;
    size_t at;
  };
  std::vector<Part> parts_;
  size_t size_ = 0;
  at::Tensor pinned_;  // freed only after the caller synchronized the stream
};

template <typename T>
const T* at_offset(const at::Tensor& base, size_t offset) {
  return reinterpret_cast<const T*>(static_cast<const char*>(base.data_ptr()) + offset);
}

int32_t kernel_optimizer(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::Sgd: return ck::kOptExactSgd;
    case OptimizerKind::Adagrad: return ck::kOptExactAdagrad;
    case OptimizerKind::RowwiseAdagrad: return ck::kOptExactRowwiseAdagrad;
    case OptimizerKind::Adam: return ck::kOptAdam;
    case OptimizerKind::PartialRowwiseAdam: return ck::kOptPartialRowwiseAdam;
    case OptimizerKind::Lamb: return ck::kOptLamb;
  }
  return ck::kOptNone;
}

}  // namespace

CudaTableStore::CudaTableStore(const std::vector<TableSpec>& tables,
                               const std::vector<std::optional<OptimizerSpec>>& optimizers, uint64_t seed,
                               int device_index)
    : tables_(tables), optimizers_(optimizers) {
  const int count = static_cast<int>(c10::cuda::device_count());
  if (count == 0) fail(ErrorCode::Device, "device \"cuda\": no CUDA device is visible to this process");
  device_ = device_index < 0 ? static_cast<int>(c10::cuda::current_device()) : device_index;
  if (device_ >= count) {
    fail(ErrorCode::Device, "device \"cuda:", device_, "\": only ", count, " CUDA device(s) are visible");
  }
  optimizers_.resize(tables_.size());
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  for (size_t t = 0; t < tables_.size(); ++t) {
    const at::Tensor host = draw_initial_table(tables_[t], seed, TableOrigin{static_cast<int64_t>(t), 0});
    try {
      weights_.push_back(host.to(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device_))));
    } catch (const c10::Error& e) {
      fail(ErrorCode::OutOfMemory, "table \"", tables_[t].name, "\": cannot place ", tables_[t].num_embeddings, " x ",
           tables_[t].embedding_dim, " weights on cuda:", device_, " (", e.what_without_backtrace(), ")");
    }
    row_offset_.push_back(total_rows_);
    total_rows_ += tables_[t].num_embeddings;
  }
  state_.resize(tables_.size());
}

void CudaTableStore::forward(const LookupPlan& lookup, const PlannedBatch& planned, float* out) const {
  const KeyedJaggedTensor& kjt = planned.kjt();
  const bool weighted = planned.per_value_weights() != nullptr;
  const int64_t out_width = lookup.output_width();
  const int64_t batch = kjt.stride();
  if (batch == 0 || out_width == 0) return;
  std::vector<ck::ForwardFeature> descs;
  descs.reserve(lookup.outputs().size());
  for (size_t i = 0; i < lookup.outputs().size(); ++i) {
    const OutputBlock& block = lookup.outputs()[i];
    const TableSpec& spec = tables_[block.table];
    ck::ForwardFeature d;
    d.rows = weights_[block.table].data_ptr();
    d.dim = spec.embedding_dim;
    d.key = planned.block_key(i);
    d.out_column = block.column;
    d.half = spec.dtype == at::kHalf ? 1 : 0;
    d.mean = block.mean ? 1 : 0;
    descs.push_back(d);
  }
  const ck::ForwardPlan plan = ck::plan_forward(descs.data(), static_cast<int32_t>(descs.size()));

  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  // A stream of its own, so concurrent forwards overlap; made current so the allocations below
  // belong to it.
  c10::cuda::CUDAStream stream = c10::cuda::getStreamFromPool(false, static_cast<c10::DeviceIndex>(device_));
  c10::cuda::CUDAStreamGuard stream_guard(stream);

  const at::Tensor values = kjt.values().contiguous();
  const c10::ArrayRef<int64_t> offsets = kjt.offsets();
  const int64_t n = values.numel();
  Staging staging;
  const size_t at_descs = staging.add(descs.data(), descs.size() * sizeof(ck::ForwardFeature));
  const size_t at_offsets = staging.add(offsets.data(), offsets.size() * sizeof(int64_t));
  const size_t at_ids = staging.add(values.data_ptr(), n * values.element_size());
  at::Tensor weights;
  size_t at_weights = 0;
  if (weighted) {
    weights = kjt.weights().contiguous();
    at_weights = staging.add(weights.data_ptr<float>(), n * sizeof(float));
  }
  // Everything that can throw is allocated before the first copy is queued.
  const auto cuda_float = at::TensorOptions().dtype(at::kFloat).device(at::kCUDA, device_);
  at::Tensor out_dev = at::empty({batch, out_width}, cuda_float);
  at::Tensor out_pinned = at::empty({batch, out_width}, at::TensorOptions().dtype(at::kFloat).pinned_memory(true));
  const at::Tensor dev = staging.upload(device_, stream.stream());

  ck::ForwardArgs args;
  args.features = at_offset<ck::ForwardFeature>(dev, at_descs);
  args.num_features = static_cast<int32_t>(descs.size());
  args.offsets = at_offset<int64_t>(dev, at_offsets);
  args.ids = at_offset<char>(dev, at_ids);
  args.ids_int64 = values.scalar_type() == at::kLong ? 1 : 0;
  args.per_value_weights = weighted ? at_offset<float>(dev, at_weights) : nullptr;
  args.batch = batch;
  args.out = out_dev.data_ptr<float>();
  args.out_width = out_width;
  check_on(stream.stream(), ck::pooled_lookup_forward_cuda(args, plan, stream.stream()), "pooled_lookup_forward_cuda");

  const size_t out_bytes = static_cast<size_t>(batch * out_width) * sizeof(float);
  check_on(
      stream.stream(),
      cudaMemcpyAsync(out_pinned.data_ptr(), out_dev.data_ptr(), out_bytes, cudaMemcpyDeviceToHost, stream.stream()),
      "cudaMemcpyAsync (pooled output)");
  check(cudaStreamSynchronize(stream.stream()), "forward");
  std::memcpy(out, out_pinned.data_ptr(), out_bytes);
}

void CudaTableStore::backward(const LookupPlan& lookup, const PlannedBatch& planned, const float* grad_output,
                              const std::vector<OptimizerStep>& steps) {
  const KeyedJaggedTensor& kjt = planned.kjt();
  const bool weighted = planned.per_value_weights() != nullptr;
  const int64_t out_width = lookup.output_width();
  const int64_t batch = kjt.stride();
  if (batch == 0) return;
  const int64_t* offsets = kjt.offsets().data();
  std::vector<ck::UpdateFeature> feats;
  int64_t entries = 0;
  int64_t max_dim = 0;
  for (size_t i = 0; i < lookup.outputs().size(); ++i) {
    const OutputBlock& block = lookup.outputs()[i];
    if (!optimizers_[block.table]) continue;
    ck::UpdateFeature u;
    u.key = planned.block_key(i);
    u.table = block.table;
    u.out_column = block.column;
    u.value_begin = offsets[u.key * batch];
    u.entry_base = entries;
    u.mean = block.mean ? 1 : 0;
    feats.push_back(u);
    entries += offsets[(u.key + 1) * batch] - u.value_begin;
    max_dim = std::max(max_dim, tables_[block.table].embedding_dim);
  }
  if (entries == 0) return;  // no touched rows: nothing and no state changes
  if (entries >= INT_MAX) fail(ErrorCode::InvalidArgument, "backward: ", entries, " ids in one batch (limit 2^31-1)");
  if (max_dim > ck::kMaxUpdateDim) {
    fail(ErrorCode::InvalidConfig, "CUDA training supports embedding_dim up to ", ck::kMaxUpdateDim, ", got ", max_dim);
  }

  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  c10::cuda::CUDAStream stream = c10::cuda::getStreamFromPool(false, static_cast<c10::DeviceIndex>(device_));
  c10::cuda::CUDAStreamGuard stream_guard(stream);

  std::vector<ck::UpdateTable> tabs(tables_.size());
  for (size_t t = 0; t < tables_.size(); ++t) {
    ck::UpdateTable& u = tabs[t];
    u.rows = weights_[t].data_ptr();
    u.num_rows = tables_[t].num_embeddings;
    u.dim = tables_[t].embedding_dim;
    u.row_offset = row_offset_[t];
    u.half = tables_[t].dtype == at::kHalf ? 1 : 0;
    if (!optimizers_[t]) {
      u.optimizer = ck::kOptNone;
      continue;
    }
    ensure_state(static_cast<int64_t>(t));
    const OptimizerSpec& spec = *optimizers_[t];
    u.optimizer = kernel_optimizer(spec.kind);
    if (!state_[t].empty()) u.momentum1 = state_[t][0].data_ptr<float>();
    if (state_[t].size() > 1) u.momentum2 = state_[t][1].data_ptr<float>();
    u.lr = steps[t].lr;
    u.eps = spec.eps;
    u.beta1 = spec.beta1;
    u.beta2 = spec.beta2;
    u.weight_decay = spec.weight_decay;
    u.weight_decay_mode = spec.weight_decay_mode == WeightDecayMode::L2          ? ck::kWdL2
                          : spec.weight_decay_mode == WeightDecayMode::Decoupled ? ck::kWdDecoupled
                                                                                 : ck::kWdNone;
    u.bias1 = steps[t].bias1;
    u.bias2 = steps[t].bias2;
  }

  const at::Tensor values = kjt.values().contiguous();
  const int64_t n = values.numel();
  Staging staging;
  const size_t at_feats = staging.add(feats.data(), feats.size() * sizeof(ck::UpdateFeature));
  const size_t at_tabs = staging.add(tabs.data(), tabs.size() * sizeof(ck::UpdateTable));
  const size_t at_offsets = staging.add(offsets, kjt.offsets().size() * sizeof(int64_t));
  const size_t at_ids = staging.add(values.data_ptr(), n * values.element_size());
  at::Tensor weights;
  size_t at_weights = 0;
  if (weighted) {
    weights = kjt.weights().contiguous();
    at_weights = staging.add(weights.data_ptr<float>(), n * sizeof(float));
  }
  const size_t at_grad = staging.add(grad_output, static_cast<size_t>(batch * out_width) * sizeof(float));
  // Everything that can throw is allocated before the first copy is queued.
  size_t ws_bytes = 0;
  check(ck::sparse_update_workspace_bytes(entries, &ws_bytes), "sparse_update_workspace_bytes");
  at::Tensor workspace =
      at::empty({static_cast<int64_t>(ws_bytes)}, at::TensorOptions().dtype(at::kByte).device(at::kCUDA, device_));
  const at::Tensor dev = staging.upload(device_, stream.stream());

  ck::SparseUpdateArgs args;
  args.features = at_offset<ck::UpdateFeature>(dev, at_feats);
  args.num_features = static_cast<int32_t>(feats.size());
  args.tables = at_offset<ck::UpdateTable>(dev, at_tabs);
  args.num_tables = static_cast<int32_t>(tabs.size());
  args.offsets = at_offset<int64_t>(dev, at_offsets);
  args.ids = at_offset<char>(dev, at_ids);
  args.ids_int64 = values.scalar_type() == at::kLong ? 1 : 0;
  args.per_value_weights = weighted ? at_offset<float>(dev, at_weights) : nullptr;
  args.batch = batch;
  args.grad_output = at_offset<float>(dev, at_grad);
  args.out_width = out_width;
  args.num_entries = entries;
  args.total_rows = total_rows_;
  args.max_dim = max_dim;
  args.workspace = workspace.data_ptr();
  args.workspace_bytes = ws_bytes;
  check_on(stream.stream(), ck::sparse_update_cuda(args, stream.stream()), "sparse_update_cuda");
  // The weights are updated before the caller releases its write lock; staging buffers go idle.
  check(cudaStreamSynchronize(stream.stream()), "backward");
}

at::Tensor CudaTableStore::read_rows(int64_t table, int64_t begin, int64_t count) const {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  return weights_.at(table).narrow(0, begin, count).to(at::kCPU);
}

void CudaTableStore::write_rows(int64_t table, int64_t begin, const at::Tensor& rows) {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  const at::Tensor src = rows.to(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device_)));
  weights_.at(table).narrow(0, begin, rows.size(0)).copy_(src);  // rounds to fp16 for fp16 tables
  check(cudaStreamSynchronize(c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream()),
        "write_rows");
}

void CudaTableStore::allocate_state(int64_t table) {
  ensure_state(table);
}

double CudaTableStore::mean_row_norm(int64_t table, int64_t max_rows, uint64_t seed) const {
  const TableSpec& spec = tables_.at(table);
  const at::Tensor host = read_rows(table, 0, spec.num_embeddings);
  return kernels::mean_row_norm(host.data_ptr(), spec.dtype == at::kHalf, spec.num_embeddings, spec.embedding_dim,
                                max_rows, seed);
}

size_t CudaTableStore::state_count(int64_t table) const {
  const auto& opt = optimizers_.at(table);
  return opt ? optimizer_state_layout(opt->kind).size() : 0;
}

int64_t CudaTableStore::state_numel(int64_t table, size_t index) const {
  const TableSpec& spec = tables_.at(table);
  return optimizer_state_layout(optimizers_.at(table)->kind).at(index).per_element
             ? spec.num_embeddings * spec.embedding_dim
             : spec.num_embeddings;
}

void CudaTableStore::ensure_state(int64_t table) {
  if (!state_[table].empty() || state_count(table) == 0) return;
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  const auto options = at::TensorOptions().dtype(at::kFloat).device(at::kCUDA, device_);
  std::vector<at::Tensor> state;
  for (size_t i = 0; i < state_count(table); ++i) {
    try {
      state.push_back(at::zeros({state_numel(table, i)}, options));
    } catch (const c10::Error& e) {
      fail(ErrorCode::OutOfMemory, "table \"", tables_[table].name,
           "\": cannot allocate optimizer state on cuda:", device_, " (", e.what_without_backtrace(), ")");
    }
  }
  // The zero fill ran on the current stream; the update kernels run on pool streams.
  check(cudaStreamSynchronize(c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream()),
        "optimizer state allocation");
  state_[table] = std::move(state);
}

at::Tensor CudaTableStore::read_state(int64_t table, size_t index) const {
  if (index >= state_count(table)) fail(ErrorCode::Internal, "optimizer state index ", index, " out of range");
  if (state_[table].empty()) return at::zeros({state_numel(table, index)}, at::kFloat);
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  return state_[table][index].to(at::kCPU);
}

void CudaTableStore::write_state(int64_t table, size_t index, const float* data, int64_t numel) {
  if (index >= state_count(table)) fail(ErrorCode::Internal, "optimizer state index ", index, " out of range");
  if (numel != state_numel(table, index)) {
    fail(ErrorCode::Shape, "optimizer state of table \"", tables_[table].name, "\" has ", state_numel(table, index),
         " values, got ", numel);
  }
  ensure_state(table);
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  const at::Tensor host = at::from_blob(const_cast<float*>(data), {numel}, at::kFloat);
  state_[table][index].copy_(host);
  check(cudaStreamSynchronize(c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream()),
        "set optimizer state");
}

}  // namespace torchrec

#endif  // TORCHREC_WITH_CUDA
