// splitmix64 (Steele, Lea and Flood, 2014), the code base's one 64-bit mixer: hash tables, shard
// routing, initial weights and stochastic rounding all draw on it, so its constants live here once.
#pragma once

#include <cstdint>

namespace torchrec::kernels {

// splitmix64's finaliser: a bijection that scatters every input bit over the output, so consecutive
// ids, or ids that share their low bits, land far apart.
inline uint64_t mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// One splitmix64 step: the golden-ratio increment, then the finaliser.
inline uint64_t splitmix64(uint64_t x) {
  return mix64(x + 0x9e3779b97f4a7c15ULL);
}

}  // namespace torchrec::kernels
