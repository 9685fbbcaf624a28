#include "core/host_tensor.h"

#include <c10/core/CPUAllocator.h>

#include <cstdlib>
#include <new>
#include <utility>

#include "core/error.h"

namespace torchrec {
namespace {

// Above this size libtorch's allocator is used, as before: malloc'ing big blocks here made forwardSync
// at M 1.6x slower (glibc then served the call's other big blocks from fresh, faulting pages).
constexpr size_t kSmallHostBytes = size_t{64} << 10;

// Every block starts with its capacity; the tensor's data follows, 16-byte aligned like malloc's.
constexpr size_t kHeaderBytes = 16;

// Set once this thread's SpareBlock is destroyed (thread exit), so a tensor freed later in the thread's
// teardown goes straight to free(). Trivially destructible, so it stays readable until the end.
thread_local bool spare_gone = false;

// The last block this thread freed, kept for its next result. glibc's per-thread cache stops at about
// 1 KiB, so a result of a few KiB (S's is 8) went through its bins: a malloc and a free of ~30 ns
// each on the bench machine, on every call, since each call's result is freed as the next is made.
// One block per thread, at most kSmallHostBytes: what a thread holds beyond its live tensors.
struct SpareBlock {
  void* block = nullptr;
  ~SpareBlock() {
    std::free(block);
    block = nullptr;
    spare_gone = true;
  }
};

SpareBlock* spare() {
  if (spare_gone) return nullptr;
  thread_local SpareBlock s;
  return &s;
}

size_t capacity(void* block) {
  return *static_cast<size_t*>(block);
}

void release_block(void* block) {
  SpareBlock* s = spare();
  if (s == nullptr) {
    std::free(block);
    return;
  }
  if (s->block == nullptr) {
    s->block = block;
    return;
  }
  // Keep the larger of the two: the next result is likely the same size as this one.
  if (capacity(block) > capacity(s->block)) std::swap(block, s->block);
  std::free(block);
}

void* acquire_block(size_t bytes) {
  SpareBlock* s = spare();
  if (s != nullptr && s->block != nullptr && capacity(s->block) >= bytes) return std::exchange(s->block, nullptr);
  void* block = std::malloc(kHeaderBytes + bytes);
  if (block == nullptr) throw std::bad_alloc();
  *static_cast<size_t*>(block) = bytes;
  return block;
}

}  // namespace

at::Tensor empty_host(at::IntArrayRef sizes, at::ScalarType dtype) {
  const caffe2::TypeMeta meta = c10::scalarTypeToTypeMeta(dtype);
  size_t numel = 1;
  for (const int64_t size : sizes) {
    if (size < 0) fail(ErrorCode::Internal, "empty_host: negative size ", size);
    numel *= static_cast<size_t>(size);
  }
  const size_t bytes = numel * meta.itemsize();
  if (bytes > kSmallHostBytes) return at::empty(sizes, dtype);
  void* block = acquire_block(bytes);
  void* memory = static_cast<char*>(block) + kHeaderBytes;
  c10::Storage storage(c10::Storage::use_byte_size_t(), bytes,
                       c10::DataPtr(memory, block, &release_block, c10::Device(c10::DeviceType::CPU)),
                       c10::GetCPUAllocator(), /*resizable=*/true);
  at::Tensor tensor =
      at::detail::make_tensor<c10::TensorImpl>(std::move(storage), c10::DispatchKeySet(c10::DispatchKey::CPU), meta);
  tensor.unsafeGetTensorImpl()->set_sizes_contiguous(sizes);
  return tensor;
}

}  // namespace torchrec
