// torchrec_bench's command line (the options its header comment lists) and its id files.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace bench {

struct Options {
  std::string impl;
  int64_t tables = 0, rows = 0, dim = 0, batch = 0, pooling = 0;
  bool half = false;
  int bits = 0;  // 8, 4 or 2: a row-wise quantized table; 0: float (fp32 or fp16)
  std::vector<std::pair<std::string, std::vector<std::string>>> variants;  // name, id files
  // warmup 10: freshly allocated tables are slow for their first ~8 full passes on this VM (bench/run.ts WARM_M).
  int warmup = 10, runs = 20, calls = 1, threads = 0;
  bool thp = true;
  // "wall" (steady clock) or "thread": the calling thread's CPU time, which leaves out the time the OS
  // gave other processes, so a loaded machine still gives comparable figures (only with --threads 1).
  std::string clock = "wall";
  std::string optimizer = "rowwise_adagrad";  // train, backward
};

// ERR as std::runtime_error naming the bad or missing option.
Options parse(int argc, char** argv);

// One variant's id files, each T*B*L little-endian int64, key-major.
using Batches = std::vector<std::vector<int64_t>>;
Batches read_ids(const Options& o, const std::vector<std::string>& files);

// VmHWM, VmRSS and AnonHugePages of this process, in KiB (absent keys: not in the map).
std::map<std::string, long> memory_kb();

}  // namespace bench
