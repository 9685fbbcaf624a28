// Memory for embedding tables. Large tables are read at random rows, so every lookup is a TLB miss
// with 4 KiB pages; backing them with transparent huge pages (2 MiB) removes most of those misses
// (5-20% on lookups, see DESIGN.md). Used by native/core when it allocates weights.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace torchrec::kernels {

// An uninitialised, contiguous [rows][dim] tensor of `dtype` (Float or Half). From 2 MiB on its memory
// is an anonymous mapping aligned to 2 MiB and advised MADV_HUGEPAGE (honoured when
// /sys/kernel/mm/transparent_hugepage/enabled is `always` or `madvise`); smaller tables use at::empty.
// Pages are committed on first touch, so fill it before timing anything.
// Throws torchrec::Error (InvalidConfig) when rows * dim * element size overflows, std::bad_alloc when
// the memory cannot be mapped.
at::Tensor allocate_table(int64_t rows, int64_t dim, at::ScalarType dtype);

// Advises the 2 MiB-aligned interior of [data, data + bytes) MADV_HUGEPAGE, for big buffers that
// somebody else allocated and that are about to be written once from end to end (pooled outputs: glibc
// hands V8 freshly grown heap pages for each one, 2048 page faults per 8 MiB on 4 KiB pages, 4 on huge
// pages). Only a hint; a no-op below 4 MiB and where THP is unavailable. The advice outlives the
// buffer: once V8 frees it, malloc may place small blocks in that range, and touching one can then
// commit a whole 2 MiB page. Harmless in practice (the range is usually the heap top, which glibc
// trims), but it is why only big, freshly made results get it.
void advise_huge_pages(void* data, size_t bytes);

// Fills `table` (Float or Half, contiguous) exactly as
// `at::empty(float).uniform_(lo, hi, gen).to(table.dtype())` would, in the same random order, but
// for Half through a small float buffer instead of a full-size float copy (so building an fp16 table
// never holds twice its size).
void fill_uniform(const at::Tensor& table, double lo, double hi, at::Generator& gen);

// The weights' initial values: element (row, col) of table `table_index` is a pure function of
// (seed, table_index, first_row + row, first_col + col), uniform in [lo, hi) (24 random bits, a
// counter-based SplitMix64 hash), rounded once to the table's dtype. So a row-wise shard (first_row >
// 0) or a column-wise one (first_col > 0) draws exactly the part the whole table would, in parallel,
// without materialising the rest of it.
float hashed_uniform(uint64_t seed, int64_t table_index, int64_t row, int64_t col, double lo, double hi);
void fill_hashed(const at::Tensor& table, double lo, double hi, uint64_t seed, int64_t table_index, int64_t first_row,
                 int64_t first_col = 0);

}  // namespace torchrec::kernels
