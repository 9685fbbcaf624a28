#include "kernels/cpu_parallel.h"

#include <ATen/Parallel.h>

#include <atomic>

// The OpenMP runtime's entry points, as weak references: null when no OpenMP runtime is loaded.
extern "C" {
void GOMP_parallel(void (*fn)(void*), void* data, unsigned num_threads, unsigned flags) __attribute__((weak));
int omp_get_thread_num(void) __attribute__((weak));
int omp_get_num_threads(void) __attribute__((weak));
}

namespace torchrec::kernels {
namespace {

struct Job {
  void (*fn)(void*, int, int);
  void* ctx;
};

void run_in_team(void* data) {
  const Job* job = static_cast<const Job*>(data);
  job->fn(job->ctx, omp_get_thread_num(), omp_get_num_threads());
}

bool have_openmp() {
  return GOMP_parallel != nullptr && omp_get_thread_num != nullptr && omp_get_num_threads;
}

}  // namespace

std::atomic<int> process_threads{0};  // 0: never set; libtorch's own default stands

void set_intra_op_threads(int threads) {
  process_threads.store(threads);
  at::set_num_threads(threads);
}

int intra_op_threads() {
  if (at::in_parallel_region()) return 1;
  const int wanted = process_threads.load();
  // libtorch ops called later on this thread (and fork_join's default team) use the same count.
  if (wanted > 0 && at::get_num_threads() != wanted) at::set_num_threads(wanted);
  const int n = wanted > 0 ? wanted : at::get_num_threads();
  return n > 1 ? n : 1;
}

void fork_join(int threads, void (*fn)(void* ctx, int thread, int threads), void* ctx) {
  if (threads <= 1) {
    fn(ctx, 0, 1);
    return;
  }
  if (have_openmp()) {
    Job job{fn, ctx};
    // 0 means "the team size libtorch set" (omp_set_num_threads); an explicit size only when asked for
    // another one, since varying team sizes make libgomp rebuild its pool (pytorch#32008).
    const unsigned size = threads == at::get_num_threads() ? 0u : static_cast<unsigned>(threads);
    GOMP_parallel(&run_in_team, &job, size, 0);
    return;
  }
  at::parallel_for(0, threads, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) fn(ctx, static_cast<int>(t), threads);
  });
}

}  // namespace torchrec::kernels
