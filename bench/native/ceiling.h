// The machine's ceiling for the pooled lookup: a tight multi-threaded row-gather-and-sum over the same
// ids, with everything known at compile time (dim, dtype, bag length layout) and nothing checked.
#pragma once

#include <cstdint>
#include <sstream>
#include <vector>

namespace bench {

struct CeilingInput {
  std::vector<const void*> tables;  // T tables, [rows][dim], float or fp16 bits
  bool half = false;
  int64_t dim = 0;
  const int64_t* ids = nullptr;  // key-major: table t's B bags of L ids each, T*B*L in all
  int64_t batch = 0;             // B
  int64_t pooling = 0;           // L, the same for every bag
  float* out = nullptr;          // [B][T*dim]
};

struct CeilingChoice {
  int prefetch = 0;  // rows ahead: 0, 8, 16, 32 or 64
  int threads = 1;   // OpenMP team size
};

// A ceiling is the best its loop does here: tries prefetch distances 0/8/16/32/64 rows and 1 or all
// threads (small batches lose to the fork/join), returns the fastest by `time_ms(choice)` and writes
// every trial to `info` as JSON members (trials_ms, prefetch, team).
template <typename TimeMs>
CeilingChoice tune_choice(int threads, std::ostringstream& info, TimeMs&& time_ms) {
  double best_ms = 1e300;
  CeilingChoice best;
  info << ",\"trials_ms\":{";
  bool first = true;
  const std::vector<int> teams = threads > 1 ? std::vector<int>{1, threads} : std::vector<int>{1};
  for (int team : teams) {
    for (int pf : {0, 8, 16, 32, 64}) {
      const CeilingChoice choice{pf, team};
      const double ms = time_ms(choice);
      info << (first ? "" : ",") << "\"pf" << pf << "_t" << team << "\":" << ms;
      first = false;
      if (ms < best_ms) best_ms = ms, best = choice;
    }
  }
  info << "},\"prefetch\":" << best.prefetch << ",\"team\":" << best.threads;
  return best;
}

// Supported dims: 16, 32, 64, 128.
bool ceiling_supported(int64_t dim);
void run_ceiling(const CeilingInput& in, const CeilingChoice& choice);

}  // namespace bench
