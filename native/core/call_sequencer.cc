#include "core/call_sequencer.h"

namespace torchrec {

CallSequencer::Ticket& CallSequencer::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = other.owner_;
    id_ = other.id_;
    kind_ = other.kind_;
    other.owner_ = nullptr;
  }
  return *this;
}

void CallSequencer::Ticket::wait() {
  if (owner_ != nullptr) owner_->wait(id_, kind_);
}

void CallSequencer::Ticket::release() {
  if (owner_ != nullptr) {
    owner_->finish(id_, kind_);
    owner_ = nullptr;
  }
}

CallSequencer::Ticket CallSequencer::take(Kind kind) {
  std::lock_guard<std::mutex> lock(mutex_);
  const uint64_t id = next_id_++;
  open_.insert(id);
  if (kind == Kind::Write) open_writers_.insert(id);
  return Ticket(this, id, kind);
}

bool CallSequencer::may_run(uint64_t id, Kind kind) const {
  if (kind == Kind::Write) return *open_.begin() == id;         // every earlier call has finished
  return open_writers_.empty() || *open_writers_.begin() > id;  // every earlier writer has finished
}

void CallSequencer::wait(uint64_t id, Kind kind) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return may_run(id, kind); });
}

void CallSequencer::finish(uint64_t id, Kind kind) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    open_.erase(id);
    if (kind == Kind::Write) open_writers_.erase(id);
  }
  changed_.notify_all();
}

}  // namespace torchrec
