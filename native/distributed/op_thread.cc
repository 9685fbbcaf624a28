#include "distributed/op_thread.h"

namespace torchrec::distributed {

OpThread::OpThread() : thread_([this] { loop(); }) {}

OpThread::~OpThread() {
  stop();
  if (thread_.joinable()) thread_.join();
}

bool OpThread::post(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return false;
    queue_.push_back(std::move(job));
  }
  changed_.notify_one();
  return true;
}

void OpThread::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_one();
}

bool OpThread::busy() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_job_ || !queue_.empty();
}

void OpThread::loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      running_job_ = false;
      changed_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
      running_job_ = true;
    }
    job();
  }
}

}  // namespace torchrec::distributed
