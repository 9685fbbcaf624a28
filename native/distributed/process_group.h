// A c10d process group for the sharded collection: TCPStore (+ PrefixStore) and ProcessGroupGloo from
// libtorch, behind a small synchronous C++ API on CPU tensors. No Node headers: the binding
// (native/binding/process_group_binding.cc) runs these calls on a dedicated thread, and the sharded
// collection calls them from its own workers.
//
// Every rank must make the same calls in the same order (c10d's rule). Calls on one group are
// serialised by a mutex, but the order between callers on different threads is the callers' business.
// Any communication failure poisons the group: that call and every later one fail with
// ERR_DISTRIBUTED naming the operation and the first failure (and the peer rank when it is known),
// because after a failed collective the ranks no longer agree on where they are in the sequence.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace torchrec::distributed {

struct ProcessGroupOptions {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // Bounds the store connection, the rendezvous and every collective (c10d's default is 30 min).
  int64_t timeout_ms = 300000;
  // TORCHELASTIC_USE_AGENT_STORE=True: torchrun's agent serves the store, every rank is a client
  // under the prefix "/worker/attempt_<restart_count>" (TORCHELASTIC_RESTART_COUNT).
  bool agent_store = false;
  int64_t restart_count = 0;
};

// The raw collectives of one backend, on contiguous CPU tensors; blocking; throw on failure.
// process_group.cc validates arguments and handles failures; gloo_transport.cc implements it.
class Transport {
 public:
  virtual ~Transport() = default;
  // Splits are in elements of the (1-D) tensors.
  virtual void alltoall_base(at::Tensor& out, at::Tensor& in, std::vector<int64_t>& out_splits,
                             std::vector<int64_t>& in_splits) = 0;
  virtual void allreduce_sum(at::Tensor& t) = 0;
  // `outs` are world_size tensors shaped like `in`.
  virtual void allgather(std::vector<at::Tensor>& outs, at::Tensor& in) = 0;
  virtual void broadcast(at::Tensor& t, int root) = 0;
  virtual void barrier() = 0;
  // After a failure (a group of 3 or more): which peers look dead or stopped, in words ("peer rank 2
  // did not check in ..."), or "" when every rank checked in within window_ms. Every surviving rank
  // runs it, so that the others see it alive.
  virtual std::string unresponsive_peers(int64_t window_ms) = 0;
};

// True when this build has c10d's Gloo backend (the gloo headers, Debian's libgloo-dev, were found
// when the addon was configured).
bool gloo_available();

// Connects, blocking: the store, then Gloo's full mesh; each step bounded by timeout_ms. Throws
// whatever c10d throws (ProcessGroup::connect turns it into ERR_DISTRIBUTED); a build without gloo
// throws ERR_DISTRIBUTED naming libgloo-dev.
std::unique_ptr<Transport> connect_gloo(const ProcessGroupOptions& o);

// What this rank has exchanged with the other ranks since it joined, for benchmarks and capacity
// planning. All-to-alls count exactly the bytes sent to and received from OTHER ranks; allreduce,
// allgather and broadcast count what their textbook algorithm moves per rank (ring allreduce:
// 2·(W−1)/W of the tensor each way; allgather: (W−1) times the tensor each way; broadcast: the
// tensor into every non-root rank, (W−1) times out of the root), since Gloo reports no byte counts.
struct Traffic {
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;
  int64_t collectives = 0;  // calls that completed, each all-to-all's count exchange included
};

class ProcessGroup {
 public:
  // Validates `o` (ERR_INVALID_ARGUMENT), connects and runs a first barrier, so that it returns
  // once every rank has joined; ERR_DISTRIBUTED when they do not within o.timeout_ms.
  static std::shared_ptr<ProcessGroup> connect(const ProcessGroupOptions& o);

  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;
  ~ProcessGroup();

  int rank() const { return options_.rank; }
  int world_size() const { return options_.world_size; }
  const ProcessGroupOptions& options() const { return options_; }

  // Rows (dim 0) of `input` go to the ranks in order, input_splits[r] rows to rank r; the result
  // holds output_splits[r] rows from rank r, in rank order. Any dtype (the bytes are moved as is).
  at::Tensor alltoall_base(const at::Tensor& input, const std::vector<int64_t>& input_splits,
                           const std::vector<int64_t>& output_splits);
  // The same, exchanging the split sizes first (one more small all-to-all); *output_splits receives them.
  at::Tensor alltoall(const at::Tensor& input, const std::vector<int64_t>& input_splits,
                      std::vector<int64_t>* output_splits);
  // In place, sum. float32, float64, float16, int8, uint8, int32 or int64; `t` must be contiguous.
  void allreduce_sum(at::Tensor& t);
  // Every rank passes a tensor of the same shape; the result is [world_size, ...shape].
  at::Tensor allgather(const at::Tensor& t);
  // Ranks may pass different numbers of rows (dim 0; the other dims must agree): the counts are
  // gathered first. The result is the rows of every rank concatenated in rank order; *counts[r] is
  // how many came from rank r.
  at::Tensor allgather_variable(const at::Tensor& t, std::vector<int64_t>* counts);
  // In place: every rank ends with root's `t` (same shape and dtype on every rank; contiguous).
  void broadcast(at::Tensor& t, int root);
  void barrier();

  // Releases the connections (and, on the rank that serves it, the store). Later calls fail with
  // ERR_DISPOSED. Idempotent; waits for a call in progress.
  void close();
  // The first failure's message, empty while the group is healthy.
  std::string failure() const;
  Traffic traffic() const;

 private:
  ProcessGroup(ProcessGroupOptions o, std::unique_ptr<Transport> transport);
  template <typename Body>
  auto run(const char* op, Body&& body);
  [[noreturn]] void poison(const char* op, const std::string& what);
  void count(int64_t sent, int64_t received);

  const ProcessGroupOptions options_;
  std::mutex call_mutex_;  // one call at a time
  mutable std::mutex state_mutex_;
  std::unique_ptr<Transport> transport_;
  std::string failure_;
  bool closed_ = false;
  Traffic traffic_;
};

}  // namespace torchrec::distributed
