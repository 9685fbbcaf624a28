// How glibc's malloc is set up for the large results of forwards, once per process (the addon does it
// when it loads; a C++ program using the core, such as torchrec_bench, calls it itself).
//
// A forward at M returns an 8 MiB result (a Float32Array that Node allocates with malloc and V8 frees
// after a collection, or the core's output tensor). glibc's defaults give those blocks back to the kernel (an mmap'd
// block is unmapped; a heap block at the top is trimmed once 2x the block is free), so the next result faults its pages
// in again: ~700-1000 page faults per 8 MiB result, which under this hypervisor cost more than the int4 kernel itself
// (bench/results/quantized.md, "page faults on the result"). Keeping up to kTrimBytes of freed heap and serving blocks
// up to kMmapBytes from the heap makes the result pages warm.
#pragma once

#include <string>

namespace torchrec {

// Applies the tuning unless TORCHREC_MALLOC_TUNING=0, the user set glibc's own malloc variables
// (MALLOC_*_ or GLIBC_TUNABLES with malloc), or the C library is not glibc. Says what it did, for
// buildInfo().mallocTuning.
std::string tune_malloc_for_results();

}  // namespace torchrec
