#include "distributed/process_group.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <numeric>
#include <regex>

#include "core/error.h"

namespace torchrec::distributed {

namespace {

// What a c10d or gloo exception says, without libtorch's C++ backtrace or gloo's "[file.cc:123] ".
std::string current_exception_text() {
  std::string text;
  try {
    throw;
  } catch (const torchrec::Error& e) {
    text = e.what();
  } catch (const c10::Error& e) {
    text = e.msg();
  } catch (const std::exception& e) {
    text = e.what();
  } catch (...) {
    text = "unknown error";
  }
  static const std::regex gloo_location(R"(\[[^\]\s]+\.(cc|cpp|h):\d+\]\s*)");
  return std::regex_replace(text, gloo_location, "");
}

int64_t sum(const std::vector<int64_t>& v) {
  return std::accumulate(v.begin(), v.end(), int64_t{0});
}

void check_splits(const char* op, const char* what, const std::vector<int64_t>& splits, int world_size) {
  if (static_cast<int64_t>(splits.size()) != world_size) {
    fail(ErrorCode::InvalidArgument, op, ": ", what, " has ", splits.size(), " entries, expected one per rank (",
         world_size, ")");
  }
  for (size_t r = 0; r < splits.size(); ++r) {
    if (splits[r] < 0) fail(ErrorCode::InvalidArgument, op, ": ", what, "[", r, "] is negative (", splits[r], ")");
  }
}

void check_cpu(const char* op, const at::Tensor& t) {
  if (!t.defined()) fail(ErrorCode::InvalidArgument, op, ": no tensor given");
  if (!t.device().is_cpu()) fail(ErrorCode::Device, op, ": the gloo backend moves CPU tensors, got ", t.device());
}

// Elements in one row (dim 0) of a tensor shaped like `t`.
int64_t row_numel(const at::Tensor& t) {
  int64_t n = 1;
  for (int64_t d = 1; d < t.dim(); ++d) n *= t.size(d);
  return n;
}

// A 1-D byte view of `bytes` bytes with storage behind it even when empty: gloo's buffers want a
// pointer, and an empty at::empty may have none.
at::Tensor byte_buffer(int64_t bytes) {
  return at::empty({std::max<int64_t>(bytes, 1)}, at::kByte).narrow(0, 0, bytes);
}

// The bytes of `t` as a 1-D tensor: a view when `t` is contiguous and not empty.
at::Tensor as_bytes(const at::Tensor& t) {
  if (t.numel() == 0) return byte_buffer(0);
  return t.contiguous().reshape({-1}).view(at::kByte);
}

std::vector<int64_t> with_rows(const at::Tensor& like, int64_t rows) {
  std::vector<int64_t> shape = like.sizes().vec();
  shape[0] = rows;
  return shape;
}

}  // namespace

ProcessGroup::ProcessGroup(ProcessGroupOptions o, std::unique_ptr<Transport> transport)
    : options_(std::move(o)), transport_(std::move(transport)) {}

ProcessGroup::~ProcessGroup() = default;

template <typename Body>
auto ProcessGroup::run(const char* op, Body&& body) {
  std::lock_guard<std::mutex> call(call_mutex_);
  {
    std::lock_guard<std::mutex> state(state_mutex_);
    if (closed_) fail(ErrorCode::Disposed, op, ": the process group was destroyed");
    if (!failure_.empty()) {
      fail(ErrorCode::Distributed, op, ": the process group is unusable after an earlier failure (", failure_,
           "); every rank must create a new one");
    }
  }
  try {
    return body(*transport_);
  } catch (...) {
    poison(op, current_exception_text());
  }
}

std::shared_ptr<ProcessGroup> ProcessGroup::connect(const ProcessGroupOptions& o) {
  if (o.world_size < 1)
    fail(ErrorCode::InvalidArgument, "ProcessGroup: worldSize must be at least 1, got ", o.world_size);
  if (o.rank < 0 || o.rank >= o.world_size) {
    fail(ErrorCode::InvalidArgument, "ProcessGroup: rank must be in [0, ", o.world_size, "), got ", o.rank);
  }
  // Port 0: a single rank serving its own store lets the system pick the port.
  const bool own_store = o.world_size == 1 && !o.agent_store;
  if (o.master_port < (own_store ? 0 : 1) || o.master_port > 65535) {
    fail(ErrorCode::InvalidArgument, "ProcessGroup: masterPort must be in [1, 65535], got ", o.master_port);
  }
  if (o.timeout_ms < 1)
    fail(ErrorCode::InvalidArgument, "ProcessGroup: timeoutMs must be positive, got ", o.timeout_ms);
  if (o.master_addr.empty()) fail(ErrorCode::InvalidArgument, "ProcessGroup: masterAddr is empty");
  const std::string where = "init (rank " + std::to_string(o.rank) + " of " + std::to_string(o.world_size) +
                            ", store at " + o.master_addr + ":" + std::to_string(o.master_port) + ")";
  std::unique_ptr<Transport> transport;
  try {
    transport = connect_gloo(o);
  } catch (const torchrec::Error&) {
    throw;
  } catch (...) {
    fail(ErrorCode::Distributed, where, " failed within timeoutMs=", o.timeout_ms, ": ", current_exception_text());
  }
  std::shared_ptr<ProcessGroup> group(new ProcessGroup(o, std::move(transport)));
  // Gloo's mesh is complete on this rank; the barrier makes it complete on every rank, so nobody
  // leaves (and the store host closes the store) while a peer still needs the store.
  group->run(where.c_str(), [](Transport& t) { t.barrier(); });
  return group;
}

// How long, after a failure, the surviving ranks of a group of 3 or more wait for each other to check
// in: the ranks that do not are named as the likely culprits.
constexpr int64_t kCheckInWindowMs = 2000;

void ProcessGroup::poison(const char* op, const std::string& what) {
  std::string message = std::string(op) + " failed on rank " + std::to_string(options_.rank) + ": " + what;
  if (options_.world_size == 2) {
    message += " (peer rank " + std::to_string(1 - options_.rank) + ")";
  } else if (options_.world_size > 2 && transport_) {
    const std::string peers = transport_->unresponsive_peers(std::min(kCheckInWindowMs, options_.timeout_ms));
    if (!peers.empty()) message += " (" + peers + ")";
  }
  {
    std::lock_guard<std::mutex> state(state_mutex_);
    if (failure_.empty()) failure_ = message;
  }
  throw Error(ErrorCode::Distributed, message);
}

at::Tensor ProcessGroup::alltoall_base(const at::Tensor& input, const std::vector<int64_t>& input_splits,
                                       const std::vector<int64_t>& output_splits) {
  const char* op = "alltoall";
  check_cpu(op, input);
  if (input.dim() < 1) fail(ErrorCode::InvalidArgument, op, ": the input must have at least one dimension");
  check_splits(op, "input splits", input_splits, world_size());
  check_splits(op, "output splits", output_splits, world_size());
  if (sum(input_splits) != input.size(0)) {
    fail(ErrorCode::InvalidArgument, op, ": input splits sum to ", sum(input_splits), " rows, the input has ",
         input.size(0));
  }
  const int64_t row_bytes = row_numel(input) * static_cast<int64_t>(input.element_size());
  std::vector<int64_t> in_bytes(input_splits), out_bytes(output_splits);
  for (auto& s : in_bytes) s *= row_bytes;
  for (auto& s : out_bytes) s *= row_bytes;
  at::Tensor in = as_bytes(input);
  at::Tensor out = byte_buffer(sum(out_bytes));
  // Before the call: the transport may take the split vectors over.
  const auto self = static_cast<size_t>(rank());
  const int64_t sent = sum(in_bytes) - in_bytes[self];
  const int64_t received = sum(out_bytes) - out_bytes[self];
  run(op, [&](Transport& t) { t.alltoall_base(out, in, out_bytes, in_bytes); });
  count(sent, received);
  return out.view(input.scalar_type()).view(with_rows(input, sum(output_splits)));
}

at::Tensor ProcessGroup::alltoall(const at::Tensor& input, const std::vector<int64_t>& input_splits,
                                  std::vector<int64_t>* output_splits) {
  // Everything alltoall_base checks locally, checked before the counts go out: a rank that fails
  // between the two collectives would leave its peers waiting in the second one.
  check_cpu("alltoall", input);
  if (input.dim() < 1) fail(ErrorCode::InvalidArgument, "alltoall: the input must have at least one dimension");
  check_splits("alltoall", "input splits", input_splits, world_size());
  if (sum(input_splits) != input.size(0)) {
    fail(ErrorCode::InvalidArgument, "alltoall: input splits sum to ", sum(input_splits), " rows, the input has ",
         input.size(0));
  }
  const std::vector<int64_t> ones(static_cast<size_t>(world_size()), 1);
  at::Tensor counts = alltoall_base(at::tensor(input_splits, at::kLong), ones, ones);
  std::vector<int64_t> received(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + counts.numel());
  at::Tensor out = alltoall_base(input, input_splits, received);
  if (output_splits != nullptr) *output_splits = std::move(received);
  return out;
}

void ProcessGroup::allreduce_sum(at::Tensor& t) {
  const char* op = "allreduce";
  check_cpu(op, t);
  if (!t.is_contiguous())
    fail(ErrorCode::InvalidArgument, op, ": the tensor must be contiguous (it is reduced in place)");
  switch (t.scalar_type()) {
    case at::kFloat:
    case at::kDouble:
    case at::kHalf:
    case at::kChar:
    case at::kByte:
    case at::kInt:
    case at::kLong: break;
    default: fail(ErrorCode::Dtype, op, ": gloo cannot sum ", t.scalar_type(), " tensors");
  }
  if (t.numel() == 0) return run(op, [](Transport&) {});
  run(op, [&](Transport& tr) { tr.allreduce_sum(t); });
  const int64_t ring = 2 * (world_size() - 1) * t.numel() * static_cast<int64_t>(t.element_size()) / world_size();
  count(ring, ring);
}

at::Tensor ProcessGroup::allgather(const at::Tensor& t) {
  const char* op = "allgather";
  check_cpu(op, t);
  std::vector<int64_t> shape = t.sizes().vec();
  shape.insert(shape.begin(), world_size());
  const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
  at::Tensor out = byte_buffer(bytes * world_size());
  if (bytes == 0) {
    run(op, [](Transport&) {});  // still refuses on a failed or destroyed group
  } else {
    at::Tensor in = as_bytes(t);
    std::vector<at::Tensor> outs;
    for (int r = 0; r < world_size(); ++r) outs.push_back(out.narrow(0, r * bytes, bytes));
    run(op, [&](Transport& tr) { tr.allgather(outs, in); });
    count(bytes * (world_size() - 1), bytes * (world_size() - 1));
  }
  return out.view(t.scalar_type()).view(shape);
}

at::Tensor ProcessGroup::allgather_variable(const at::Tensor& t, std::vector<int64_t>* counts) {
  const char* op = "allgather (variable length)";
  check_cpu(op, t);
  if (t.dim() < 1) fail(ErrorCode::InvalidArgument, op, ": the tensor must have at least one dimension");
  // Rows, row size and dtype of every rank: a mismatch is then found by every rank alike.
  at::Tensor meta = allgather(at::tensor({t.size(0), row_numel(t), static_cast<int64_t>(t.scalar_type())}, at::kLong));
  const int64_t* m = meta.data_ptr<int64_t>();
  std::vector<int64_t> rows(static_cast<size_t>(world_size()));
  for (int r = 0; r < world_size(); ++r) {
    rows[static_cast<size_t>(r)] = m[3 * r];
    if (m[3 * r + 1] != m[1] || m[3 * r + 2] != m[2]) {
      fail(ErrorCode::InvalidArgument, op, ": rank ", r, "'s rows have ", m[3 * r + 1], " elements of dtype #",
           m[3 * r + 2], ", rank 0's have ", m[1], " of dtype #", m[2], "; every rank must pass the same row shape");
    }
  }
  const int64_t max_rows = *std::max_element(rows.begin(), rows.end());
  at::Tensor padded = at::zeros(with_rows(t, max_rows), t.options());
  if (t.size(0) > 0) padded.narrow(0, 0, t.size(0)).copy_(t);
  at::Tensor gathered = allgather(padded);  // [W, max_rows, ...]
  std::vector<at::Tensor> parts;
  for (int r = 0; r < world_size(); ++r) parts.push_back(gathered[r].narrow(0, 0, rows[static_cast<size_t>(r)]));
  if (counts != nullptr) *counts = rows;
  return at::cat(parts, 0);
}

void ProcessGroup::broadcast(at::Tensor& t, int root) {
  const char* op = "broadcast";
  check_cpu(op, t);
  if (root < 0 || root >= world_size()) {
    fail(ErrorCode::InvalidArgument, op, ": root must be in [0, ", world_size(), "), got ", root);
  }
  if (!t.is_contiguous())
    fail(ErrorCode::InvalidArgument, op, ": the tensor must be contiguous (it is written in place)");
  const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
  if (bytes == 0) return run(op, [](Transport&) {});
  at::Tensor view = at::from_blob(t.data_ptr(), {bytes}, at::kByte);
  run(op, [&](Transport& tr) { tr.broadcast(view, root); });
  if (rank() == root)
    count(bytes * (world_size() - 1), 0);
  else
    count(0, bytes);
}

void ProcessGroup::count(int64_t sent, int64_t received) {
  std::lock_guard<std::mutex> state(state_mutex_);
  traffic_.bytes_sent += sent;
  traffic_.bytes_received += received;
  traffic_.collectives += 1;
}

Traffic ProcessGroup::traffic() const {
  std::lock_guard<std::mutex> state(state_mutex_);
  return traffic_;
}

void ProcessGroup::barrier() {
  run("barrier", [](Transport& t) { t.barrier(); });
}

void ProcessGroup::close() {
  std::lock_guard<std::mutex> call(call_mutex_);
  std::unique_ptr<Transport> released;
  {
    std::lock_guard<std::mutex> state(state_mutex_);
    closed_ = true;
    released = std::move(transport_);
  }
  // Destroyed outside state_mutex_ (it joins gloo's threads), so failure() never waits on it.
}

std::string ProcessGroup::failure() const {
  std::lock_guard<std::mutex> state(state_mutex_);
  return failure_;
}

}  // namespace torchrec::distributed
