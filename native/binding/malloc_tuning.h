// How glibc's malloc is set up for the large results a forward hands to JS, once per process.
//
// A forward at M returns an 8 MiB Float32Array; Node allocates it with malloc and V8 frees it after a
// collection. glibc's defaults give those blocks back to the kernel (an mmap'd block is unmapped; a
// heap block at the top is trimmed once 2x the block is free), so the next result faults its pages in
// again: ~700-1000 page faults per 8 MiB result, which under this hypervisor cost more than the int4
// kernel itself (bench/results/quantized.md, "page faults on the result"). Keeping up to kTrimBytes of
// freed heap and serving blocks up to kMmapBytes from the heap makes the result pages warm.
#pragma once

#include <string>

namespace torchrec::binding {

// Applies the tuning unless TORCHREC_MALLOC_TUNING=0, the user set glibc's own malloc variables
// (MALLOC_*_ or GLIBC_TUNABLES with malloc), or the C library is not glibc. Says what it did, for
// buildInfo().mallocTuning.
std::string tune_malloc_for_results();

}  // namespace torchrec::binding
