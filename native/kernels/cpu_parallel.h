// Fork/join on libtorch's intra-op threads, for kernels.
//
// at::parallel_for is a header template whose OpenMP path exists only in translation units compiled
// with -fopenmp; this project's build does not pass it, so there at::parallel_for silently runs
// serially. fork_join instead calls the OpenMP runtime that libtorch itself loaded (GOMP_parallel, what
// `#pragma omp parallel` compiles to), so kernels share libtorch's thread team and honour
// at::set_num_threads. Where that runtime is absent (a libtorch with the native or TBB backend) it falls
// back to at::parallel_for, which works without -fopenmp for those backends.
#pragma once

#include <cstdint>

namespace torchrec::kernels {

// The process-wide intra-op thread count (setNumThreads). libtorch keeps the count per OS thread
// (OpenMP's nthreads-var), and each thread copies the process value only the first time it asks, so a
// libuv worker that ran a call before a setNumThreads would keep the old count for good. This setting
// is read on every call instead.
void set_intra_op_threads(int threads);

// Threads a kernel may fan out to from here: the process-wide count (this OS thread's libtorch
// setting is brought in line first), or 1 inside a parallel region.
int intra_op_threads();

// Runs fn(ctx, thread, threads) once on each of `threads` threads (the caller is thread 0) and returns
// when all have finished. fn must not throw.
void fork_join(int threads, void (*fn)(void* ctx, int thread, int threads), void* ctx);

template <typename F>
void fork_join(int threads, const F& f) {
  fork_join(
      threads, [](void* ctx, int thread, int count) { (*static_cast<const F*>(ctx))(thread, count); },
      const_cast<void*>(static_cast<const void*>(&f)));
}

}  // namespace torchrec::kernels
