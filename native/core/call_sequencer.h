// Orders the calls made on one module the way the caller made them, as a readers-writer sequence:
// a reader (forward, getWeights, tableNorms) runs once every earlier writer has finished, so readers
// overlap each other; a writer (backward, setWeights, setOptimizerState) runs once every earlier call
// has finished. A ticket is taken at call time on the caller's thread, which fixes the order; the
// work then waits for its turn wherever it runs.
//
// Deadlock freedom with async workers rests on two facts: tickets are taken in the order the work
// is queued, and libuv's pool dequeues work first-in first-out. So when a worker waits, all of its
// predecessors have already been dequeued (they run or wait on their own predecessors), and the
// oldest unfinished ticket is always running. A caller on the JS thread may wait too: workers never
// need the JS thread to finish.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

namespace torchrec {

class CallSequencer {
 public:
  enum class Kind { Read, Write };

  // Move-only. Destroying a ticket releases it, so a call that fails (or is never run) cannot block
  // the calls after it.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept { *this = std::move(other); }
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { release(); }

    // Blocks until this call's turn.
    void wait();
    // Marks the call finished (idempotent).
    void release();

   private:
    friend class CallSequencer;
    Ticket(CallSequencer* owner, uint64_t id, Kind kind) : owner_(owner), id_(id), kind_(kind) {}
    CallSequencer* owner_ = nullptr;
    uint64_t id_ = 0;
    Kind kind_ = Kind::Read;
  };

  CallSequencer() = default;
  CallSequencer(const CallSequencer&) = delete;
  CallSequencer& operator=(const CallSequencer&) = delete;

  Ticket take(Kind kind);

  // take() then wait(): for calls that run where they are made.
  Ticket enter(Kind kind);

  // A ticket only if the call may run at once (nothing it must follow is open); otherwise none is
  // taken and the caller queues the call as usual, in the same place in the order.
  std::optional<Ticket> try_enter(Kind kind);

 private:
  struct Open {
    uint64_t id;
    Kind kind;
  };
  bool may_run(uint64_t id, Kind kind) const;
  uint64_t take_locked(Kind kind);
  void wait(uint64_t id, Kind kind);
  void finish(uint64_t id, Kind kind);

  std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t next_id_ = 0;
  // Taken and not finished, in id order (ids only grow, so taking appends). A vector whose capacity
  // stays: no allocation per call, where a node set allocated on every take (issue 19).
  std::vector<Open> open_;
  size_t open_writers_ = 0;
};

}  // namespace torchrec
