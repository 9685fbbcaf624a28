// JS class wrapping distributed::ProcessGroup. Private surface: lib/distributed/native_process_group.ts
// declares it and lib/distributed/process_group.ts builds the public ProcessGroup on top.
//
// Every blocking call (connect, collectives, barrier) runs on the group's own OpThread in the order
// it was made; its promise is settled on the JS thread through a thread-safe function, which holds
// the event loop open only while calls are pending (an idle group does not keep a process alive).
#pragma once

#include <napi.h>

#include <memory>

#include "distributed/op_thread.h"
#include "distributed/process_group.h"

namespace torchrec::binding {

struct PgBridge;
struct PgState;
struct PgOp;

class ProcessGroupBinding : public Napi::ObjectWrap<ProcessGroupBinding> {
 public:
  // Sets exports.NativeProcessGroup and exports.glooAvailable.
  static void define(Napi::Env env, Napi::Object exports);
  explicit ProcessGroupBinding(const Napi::CallbackInfo& info);
  ~ProcessGroupBinding() override;

  // JS thread: a call's promise was settled.
  void settled(Napi::Env env);

  // For other bindings (the sharded collection): the connected group behind a NativeProcessGroup
  // object. ERR_INVALID_ARGUMENT for anything else, ERR_DISPOSED once destroyed, ERR_DISTRIBUTED
  // before init has finished. The C++ group serialises calls, but the order of collectives across
  // callers is theirs to keep identical on every rank.
  static std::shared_ptr<distributed::ProcessGroup> group_of(const Napi::Value& value, const char* name);

 private:
  Napi::Value connect(const Napi::CallbackInfo& info);
  Napi::Value barrier(const Napi::CallbackInfo& info);
  Napi::Value allreduce(const Napi::CallbackInfo& info);
  Napi::Value allgather(const Napi::CallbackInfo& info);
  Napi::Value allgatherv(const Napi::CallbackInfo& info);
  Napi::Value alltoall(const Napi::CallbackInfo& info);
  Napi::Value broadcast(const Napi::CallbackInfo& info);
  Napi::Value destroy(const Napi::CallbackInfo& info);
  Napi::Value failure(const Napi::CallbackInfo& info);
  Napi::Value traffic(const Napi::CallbackInfo& info);

  using Work = std::function<void(PgOp&, PgState&)>;
  // Queues `work` on the op thread and returns the promise `op` settles.
  Napi::Value submit(Napi::Env env, std::unique_ptr<PgOp> op, Work work);
  void close_group();

  distributed::ProcessGroupOptions options_;
  std::shared_ptr<PgState> state_;
  std::shared_ptr<PgBridge> bridge_;
  std::unique_ptr<distributed::OpThread> thread_;
  int pending_ = 0;
  bool destroyed_ = false;
  bool connect_called_ = false;
};

}  // namespace torchrec::binding
