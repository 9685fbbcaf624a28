// How torchrec_bench times an implementation: runs of back-to-back calls after warm-up, on the wall
// clock or the calling thread's CPU clock, one call alone or two alternated (paired impls).
#pragma once

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "bench_options.h"

namespace bench {

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

inline double now_ms(const Options& o) {
  if (o.clock == "thread") {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
  }
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Times `call(batch_index)`: warm-up runs, then `runs` runs of `calls` calls each (ms per call).
template <typename Call>
std::vector<double> time_runs(const Options& o, size_t batches, Call&& call) {
  size_t next = 0;
  for (int i = 0; i < o.warmup * o.calls; ++i) call(next++ % batches);
  std::vector<double> out;
  for (int r = 0; r < o.runs; ++r) {
    const double start = now_ms(o);
    for (int c = 0; c < o.calls; ++c) call(next++ % batches);
    out.push_back((now_ms(o) - start) / o.calls);
  }
  return out;
}

inline double checksum(const float* out, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += out[i];
  return s;
}

// Paired impls: the two calls alternated on the same batch (order swapped every run, so drift and
// cache warmth favour neither), ms per call of each; a run's ratio compares two neighbouring calls.
template <typename Call>
void time_pairs(const Options& o, size_t batches, Call&& call, Call&& partner, std::vector<double>& first,
                std::vector<double>& second, size_t& last_k) {
  size_t next = 0;
  for (int i = 0; i < o.warmup; ++i, ++next) {
    call(next % batches);
    partner(next % batches);
  }
  for (int r = 0; r < o.runs; ++r, ++next) {
    const size_t k = next % batches;
    double a = 0, b = 0;
    for (int turn = 0; turn < 2; ++turn) {
      const bool call_first = (r % 2 == 0) == (turn == 0);
      const double start = now_ms(o);
      for (int c = 0; c < o.calls; ++c) call_first ? call(k) : partner(k);
      (call_first ? a : b) = (now_ms(o) - start) / o.calls;
    }
    first.push_back(a);
    second.push_back(b);
    last_k = k;
  }
}

}  // namespace bench
