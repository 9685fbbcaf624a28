#include "core/call_sequencer.h"

#include <algorithm>

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

uint64_t CallSequencer::take_locked(Kind kind) {
  const uint64_t id = next_id_++;
  open_.push_back({id, kind});
  if (kind == Kind::Write) ++open_writers_;
  return id;
}

CallSequencer::Ticket CallSequencer::take(Kind kind) {
  std::lock_guard<std::mutex> lock(mutex_);
  return Ticket(this, take_locked(kind), kind);
}

CallSequencer::Ticket CallSequencer::enter(Kind kind) {
  std::unique_lock<std::mutex> lock(mutex_);
  const uint64_t id = take_locked(kind);
  changed_.wait(lock, [&] { return may_run(id, kind); });
  return Ticket(this, id, kind);
}

std::optional<CallSequencer::Ticket> CallSequencer::try_enter(Kind kind) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Nothing open: a writer may run; no writer open: a reader may run (the new id is the largest).
  if (kind == Kind::Write ? !open_.empty() : open_writers_ > 0) return std::nullopt;
  return Ticket(this, take_locked(kind), kind);
}

bool CallSequencer::may_run(uint64_t id, Kind kind) const {
  if (kind == Kind::Write) return open_.front().id == id;  // every earlier call has finished
  if (open_writers_ == 0) return true;
  for (const Open& call : open_) {  // every earlier writer has finished
    if (call.id >= id) return true;
    if (call.kind == Kind::Write) return false;
  }
  return true;
}

void CallSequencer::wait(uint64_t id, Kind kind) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return may_run(id, kind); });
}

void CallSequencer::finish(uint64_t id, Kind kind) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = std::lower_bound(open_.begin(), open_.end(), id,
                                     [](const Open& call, uint64_t value) { return call.id < value; });
    if (it != open_.end() && it->id == id) {
      if (it->kind == Kind::Write) --open_writers_;
      open_.erase(it);
    }
  }
  changed_.notify_all();
}

}  // namespace torchrec
