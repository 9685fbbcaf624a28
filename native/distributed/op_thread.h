// One thread that runs jobs one at a time in the order they were posted. Each process group in the
// binding has one, so that blocking c10d calls (store connect, Gloo's rendezvous, Work::wait) never
// run on the JS thread, and the collectives a rank issues reach c10d in the order its code issued
// them (c10d matches calls across ranks by their order). A dedicated thread rather than libuv's
// pool: a collective may wait for a slow peer up to the group's timeout, and parking pool threads
// that long would starve every other async call in the process.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace torchrec::distributed {

class OpThread {
 public:
  OpThread();
  // Runs what is queued, then joins.
  ~OpThread();
  OpThread(const OpThread&) = delete;
  OpThread& operator=(const OpThread&) = delete;

  // Queues `job`; false (and `job` not queued) once stop() was called. Jobs must not throw.
  bool post(std::function<void()> job);
  // No more posts; the thread ends after the queued jobs.
  void stop();
  // Whether a job is running or queued.
  bool busy() const;

 private:
  void loop();

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> queue_;
  bool running_job_ = false;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the fields above exist
};

}  // namespace torchrec::distributed
