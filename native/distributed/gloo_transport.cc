// The Transport over c10d's ProcessGroupGloo: the one file that includes ProcessGroupGloo.hpp, which
// compiles only with USE_C10D_GLOO defined and the gloo headers (Debian: libgloo-dev, the same version
// as the libgloo0 that libtorch links). CMake defines TORCHREC_HAVE_GLOO when it found them; without
// it the addon still builds and connect_gloo fails with one message naming the package.
#include "core/error.h"
#include "distributed/process_group.h"

#ifdef TORCHREC_HAVE_GLOO

// Debian's TorchConfig already puts -DUSE_C10D_GLOO on every target; other libtorch builds may not.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace torchrec::distributed {

// libtorch 1.13 vs 2.x, in one place. ProcessGroupGloo derives from ProcessGroup in 1.x and from
// Backend in 2.x (where ProcessGroup became a dispatcher over backends); the collectives are virtual
// members of that base with the same signatures in both, and so are the constructor,
// Options::create(timeout), the device factories, TCPStore(host, TCPStoreOptions) and PrefixStore.
// Only 1.13 is compiled here; the 2.x branch follows PyTorch's headers.
#if TORCH_VERSION_MAJOR >= 2
using GlooBase = c10d::Backend;
#else
using GlooBase = c10d::ProcessGroup;
#endif

namespace {

// Rethrows the exception in flight as a plain runtime_error saying which step of init it came from.
[[noreturn]] void rethrow_at_stage(const char* stage) {
  try {
    throw;
  } catch (const c10::Error& e) {
    throw std::runtime_error(std::string(stage) + ": " + e.msg());
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(stage) + ": " + e.what());
  }
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// All ranks on this machine (a loopback master): bind gloo to that address, which works even where
// the hostname does not resolve (containers). Otherwise what PyTorch does: GLOO_SOCKET_IFNAME, else
// the address this host's name resolves to. (Binding to the master's address would fail on every
// other node.)
std::shared_ptr<::gloo::transport::Device> make_device(const std::string& master_addr) {
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  if (ifname != nullptr && *ifname != '\0') return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (is_loopback(master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname(master_addr);
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

class GlooTransport final : public Transport {
 public:
  GlooTransport(const ProcessGroupOptions& o, c10::intrusive_ptr<c10d::TCPStore> tcp,
                c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo)
      : rank_(o.rank),
        size_(o.world_size),
        agent_store_(o.agent_store),
        tcp_(std::move(tcp)),
        store_(std::move(store)),
        gloo_(std::move(gloo)) {}

  void alltoall_base(at::Tensor& out, at::Tensor& in, std::vector<int64_t>& out_splits,
                     std::vector<int64_t>& in_splits) override {
    base().alltoall_base(out, in, out_splits, in_splits)->wait();
  }

  void allreduce_sum(at::Tensor& t) override {
    std::vector<at::Tensor> tensors{t};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    base().allreduce(tensors, o)->wait();
  }

  void allgather(std::vector<at::Tensor>& outs, at::Tensor& in) override {
    std::vector<std::vector<at::Tensor>> outputs{outs};
    std::vector<at::Tensor> inputs{in};
    base().allgather(outputs, inputs)->wait();
  }

  void broadcast(at::Tensor& t, int root) override {
    std::vector<at::Tensor> tensors{t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    base().broadcast(tensors, o)->wait();
  }

  void barrier() override { base().barrier()->wait(); }

  // Gloo's errors name a socket address, and only for a closed connection; so after a failure each
  // rank checks in at a store key and polls for the others' keys. Only request/response store calls
  // are used (no server-side waits, whose abandoned replies would desynchronise the store
  // connection), each bounded by the client's receive timeout, which the first get() sets.
  std::string unresponsive_peers(int64_t window_ms) override {
    const auto window = std::chrono::milliseconds(window_ms);
    auto key = [](int r) { return "failed_check_in/" + std::to_string(r); };
    std::vector<bool> seen(static_cast<size_t>(size_), false);
    seen[static_cast<size_t>(rank_)] = true;
    try {
      tcp_->setTimeout(window);  // the TCPStore's own: PrefixStore's setTimeout does not reach it
      store_->set(key(rank_), {1});
      store_->get(key(rank_));
      const auto deadline = std::chrono::steady_clock::now() + window;
      for (;;) {
        bool all = true;
        for (int r = 0; r < size_; ++r) {
          if (!seen[static_cast<size_t>(r)]) seen[static_cast<size_t>(r)] = store_->check({key(r)});
          all = all && seen[static_cast<size_t>(r)];
        }
        if (all || std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    } catch (...) {
      return agent_store_ ? "the store, served by torchrun's agent, does not answer either"
                          : "peer rank 0, which serves the store, does not answer";
    }
    std::string missing;
    int count = 0;
    for (int r = 0; r < size_; ++r) {
      if (seen[static_cast<size_t>(r)]) continue;
      missing += (count++ == 0 ? "" : ", ") + std::to_string(r);
    }
    if (count == 0) return "";
    return std::string(count == 1 ? "peer rank " : "peer ranks ") + missing + " did not check in within " +
           std::to_string(window_ms) + " ms of the failure";
  }

 private:
  GlooBase& base() { return *gloo_; }

  const int rank_;
  const int size_;
  const bool agent_store_;
  // Declared first, destroyed last: the process group goes before the store it rendezvoused on.
  c10::intrusive_ptr<c10d::TCPStore> tcp_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo_;
};

}  // namespace

bool gloo_available() {
  return true;
}

std::unique_ptr<Transport> connect_gloo(const ProcessGroupOptions& o) {
  const std::chrono::milliseconds timeout(o.timeout_ms);
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<std::uint16_t>(o.master_port);
  store_options.isServer = !o.agent_store && o.rank == 0;
  store_options.numWorkers = static_cast<std::size_t>(o.world_size);
  // 1.13's server-side wait for the workers gives up silently at the timeout; Gloo's rendezvous
  // below waits for every rank's address anyway and fails loudly, within the same timeout.
  store_options.waitWorkers = false;
  // 1.13 truncates the client's connect timeout to whole seconds: under 1 s it would not wait at all.
  store_options.timeout = std::max(timeout, std::chrono::milliseconds(1000));
  c10::intrusive_ptr<c10d::TCPStore> tcp;
  try {
    tcp = c10::make_intrusive<c10d::TCPStore>(o.master_addr, store_options);
  } catch (...) {
    rethrow_at_stage(store_options.isServer ? "serving the store" : "connecting to the store");
  }
  c10::intrusive_ptr<c10d::Store> store = tcp;
  // torchrun's agent store: the same prefix torch.distributed's rendezvous uses for its workers.
  if (o.agent_store) {
    store = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(o.restart_count), store);
  }
  store = c10::make_intrusive<c10d::PrefixStore>("torchrec_node/default_pg", store);

  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  options->devices.push_back(make_device(o.master_addr));
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
  try {
    gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(store, o.rank, o.world_size, options);
  } catch (...) {
    rethrow_at_stage(("waiting for all " + std::to_string(o.world_size) + " ranks to join").c_str());
  }
  return std::make_unique<GlooTransport>(o, std::move(tcp), std::move(store), std::move(gloo));
}

}  // namespace torchrec::distributed

#else  // no gloo headers at configure time

namespace torchrec::distributed {

bool gloo_available() {
  return false;
}

std::unique_ptr<Transport> connect_gloo(const ProcessGroupOptions&) {
  fail(ErrorCode::Distributed,
       "this build of torchrec-node has no distributed support: it was built without c10d's Gloo backend (the "
       "gloo headers, gloo/config.h, were not found, or TORCHREC_DISTRIBUTED was OFF). Install libgloo-dev "
       "(Debian/Ubuntu: apt-get install libgloo-dev) and rebuild the addon (npm rebuild torchrec-node)");
}

}  // namespace torchrec::distributed

#endif
