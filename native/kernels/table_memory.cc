#include "kernels/table_memory.h"

#include <ATen/Parallel.h>
#include <sys/mman.h>

#include <algorithm>
#include <limits>
#include <new>

#include "core/error.h"
#include "kernels/mix64.h"

namespace torchrec::kernels {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

size_t round_up(size_t n, size_t to) {
  return (n + to - 1) / to * to;
}

void unmap(void* ptr, size_t length) {
  munmap(ptr, length);
}

// rows * dim * element size, or a clear error when it does not fit: a wrapped product once mapped
// 16 MiB for a 2^40 x 2^22 table and the fill wrote far past it. The limit leaves room for the
// rounding to 2 MiB and the extra alignment page below, so nothing after this can wrap either.
size_t table_bytes(int64_t rows, int64_t dim, at::ScalarType dtype) {
  if (rows < 0 || dim < 0) {
    fail(ErrorCode::InvalidConfig, "cannot allocate a table of ", rows, " x ", dim, ": negative size");
  }
  constexpr size_t kMax = std::numeric_limits<size_t>::max() / 2;
  const size_t element = c10::elementSize(dtype);
  const size_t r = static_cast<size_t>(rows);
  const size_t d = static_cast<size_t>(dim);
  if (d != 0 && r > kMax / d / element) {
    fail(ErrorCode::InvalidConfig, "cannot allocate a table of ", rows, " x ", dim, " ", c10::toString(dtype),
         " values: its size in bytes overflows 64 bits");
  }
  return r * d * element;
}

}  // namespace

at::Tensor allocate_table(int64_t rows, int64_t dim, at::ScalarType dtype) {
  const size_t bytes = table_bytes(rows, dim, dtype);
  if (bytes < kHugePage) return at::empty({rows, dim}, dtype);
  // Map one extra huge page so the table can start on a 2 MiB boundary, then give back the slack.
  const size_t body = round_up(bytes, kHugePage);
  const size_t span = body + kHugePage;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = round_up(start, kHugePage);
  if (aligned > start) unmap(raw, aligned - start);
  const uintptr_t tail = aligned + body;
  if (start + span > tail) unmap(reinterpret_cast<void*>(tail), start + span - tail);
  void* data = reinterpret_cast<void*>(aligned);
#ifdef MADV_HUGEPAGE
  madvise(data, body, MADV_HUGEPAGE);  // advisory: without THP the table still works on 4 KiB pages
#endif
  return at::from_blob(
      data, {rows, dim}, [body](void* p) { unmap(p, body); }, at::TensorOptions().dtype(dtype));
}

void advise_huge_pages(void* data, size_t bytes) {
  if (bytes < 2 * kHugePage) return;
  const uintptr_t begin = round_up(reinterpret_cast<uintptr_t>(data), kHugePage);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) / kHugePage * kHugePage;
#ifdef MADV_HUGEPAGE
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#endif
}

void fill_uniform(const at::Tensor& table, double lo, double hi, at::Generator& gen) {
  if (table.scalar_type() == at::kFloat) {
    table.uniform_(lo, hi, gen);  // draws serially, element by element
    return;
  }
  at::Tensor flat = table.view({-1});
  const int64_t n = flat.numel();
  constexpr int64_t kChunk = int64_t{1} << 20;
  at::Tensor buffer = at::empty({std::min(n, kChunk)}, at::kFloat);
  for (int64_t start = 0; start < n; start += kChunk) {
    const int64_t len = std::min(kChunk, n - start);
    at::Tensor part = buffer.narrow(0, 0, len);
    part.uniform_(lo, hi, gen);
    flat.narrow(0, start, len).copy_(part);  // same rounding as .to(kHalf)
  }
}

namespace {
inline uint64_t row_key(uint64_t seed, int64_t table_index, int64_t row) {
  return splitmix64(splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(table_index)) ^ static_cast<uint64_t>(row));
}
inline float from_key(uint64_t key, int64_t col, double lo, double hi) {
  const double u = static_cast<double>(splitmix64(key ^ static_cast<uint64_t>(col)) >> 40) * 0x1.0p-24;
  return static_cast<float>(lo + (hi - lo) * u);
}
}  // namespace

float hashed_uniform(uint64_t seed, int64_t table_index, int64_t row, int64_t col, double lo, double hi) {
  return from_key(row_key(seed, table_index, row), col, lo, hi);
}

void fill_hashed(const at::Tensor& table, double lo, double hi, uint64_t seed, int64_t table_index, int64_t first_row,
                 int64_t first_col) {
  const int64_t rows = table.size(0), dim = table.size(1);
  const bool half = table.scalar_type() == at::kHalf;
  void* base = table.data_ptr();
  at::parallel_for(0, rows, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const uint64_t key = row_key(seed, table_index, first_row + r);
      if (half) {
        c10::Half* out = static_cast<c10::Half*>(base) + r * dim;
        for (int64_t c = 0; c < dim; ++c) out[c] = c10::Half(from_key(key, first_col + c, lo, hi));
      } else {
        float* out = static_cast<float*>(base) + r * dim;
        for (int64_t c = 0; c < dim; ++c) out[c] = from_key(key, first_col + c, lo, hi);
      }
    }
  });
}

}  // namespace torchrec::kernels
