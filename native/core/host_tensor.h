// New host (CPU) tensors on the per-call path: a KJT's offsets and the forward's output.
#pragma once

#include <ATen/ATen.h>

namespace torchrec {

// An uninitialised contiguous CPU tensor over plain malloc'd memory. at::empty (and even
// at::detail::empty_cpu) cost ~0.25 us for a 1-8 KB tensor on the bench machine, a third of the
// whole S-sized kernel: the dispatcher, 64-byte posix_memalign (which bypasses glibc's per-thread
// cache and consolidates its fast bins on every call) and profiler accounting; this costs ~0.06 us
// (bench/results/fixed-cost.md). malloc's 16-byte alignment is all the kernels and ATen ops need.
// Each thread keeps the last such block it freed for its next one (a call's result is usually freed
// as the next call's is made).
// The storage keeps libtorch's CPU allocator, so the tensor resizes like any other.
at::Tensor empty_host(at::IntArrayRef sizes, at::ScalarType dtype);

}  // namespace torchrec
