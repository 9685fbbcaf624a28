#include "core/malloc_tuning.h"

#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace torchrec {
namespace {

// The largest block served from the heap: glibc's own ceiling for its dynamic threshold (32 MiB on
// 64-bit), so results up to 32 MiB (H's 16 MiB included) are recycled. Bigger ones are still mmap'd,
// and advise_huge_pages makes those fault 2 MiB at a time.
constexpr int kMmapBytes = 32 << 20;
// Freed heap kept before glibc trims: the memory a process may hold beyond what it uses, bounded.
constexpr int kTrimBytes = 64 << 20;

bool user_set_malloc() {
  static const char* const kVariables[] = {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"};
  for (const char* name : kVariables) {
    if (std::getenv(name) != nullptr) return true;
  }
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  return tunables != nullptr && std::strstr(tunables, "malloc") != nullptr;
}

}  // namespace

std::string tune_malloc_for_results() {
  const char* flag = std::getenv("TORCHREC_MALLOC_TUNING");
  if (flag != nullptr && std::strcmp(flag, "0") == 0) return "off (TORCHREC_MALLOC_TUNING=0)";
#if defined(__GLIBC__)
  if (user_set_malloc()) return "off (glibc malloc variables set by the user)";
  // Setting either threshold turns off glibc's own adjustment of both, so both are set.
  if (mallopt(M_MMAP_THRESHOLD, kMmapBytes) == 1 && mallopt(M_TRIM_THRESHOLD, kTrimBytes) == 1) {
    return "glibc: blocks up to 32 MiB from the heap, up to 64 MiB of freed heap kept";
  }
  return "off (mallopt refused)";
#else
  return "off (not glibc)";
#endif
}

}  // namespace torchrec
