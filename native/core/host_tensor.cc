#include "core/host_tensor.h"

#include <c10/core/CPUAllocator.h>

#include <cstdlib>
#include <new>

#include "core/error.h"

namespace torchrec {
namespace {

// Above this size libtorch's allocator is used, as before: malloc'ing big blocks here made forwardSync
// at M 1.6x slower (glibc then served the call's other big blocks from fresh, faulting pages).
constexpr size_t kSmallHostBytes = size_t{64} << 10;

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
  void* memory = std::malloc(bytes > 0 ? bytes : 1);
  if (memory == nullptr) throw std::bad_alloc();
  c10::Storage storage(c10::Storage::use_byte_size_t(), bytes,
                       c10::DataPtr(memory, memory, &std::free, c10::Device(c10::DeviceType::CPU)),
                       c10::GetCPUAllocator(), /*resizable=*/true);
  at::Tensor tensor =
      at::detail::make_tensor<c10::TensorImpl>(std::move(storage), c10::DispatchKeySet(c10::DispatchKey::CPU), meta);
  tensor.unsafeGetTensorImpl()->set_sizes_contiguous(sizes);
  return tensor;
}

}  // namespace torchrec
