// The quantized pooled lookup's driver (work split, threads, instruction-set choice) and its portable
// path; the AVX2 path lives in quantized_pool_avx2.cc.
#include "kernels/quantized_pool_cpu.h"

#include <c10/util/Half.h>

#include <algorithm>
#include <atomic>
// Multiply and add are never fused except where the code says fma: every path must give the same bits.
#pragma GCC optimize("fp-contract=off")

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/cpu_parallel.h"
#include "kernels/rowwise_quant.h"

namespace torchrec::kernels {
namespace detail {
namespace {

float half_at(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return static_cast<float>(c10::Half(bits, c10::Half::from_bits()));
}

template <typename Id>
void pool_bag(const QuantizedFeature& f, const Id* ids, const float* weights, int64_t begin, int64_t end, float* out) {
  const int64_t row_bytes = quantized_row_bytes(f.dim, f.bits);
  const int per_byte = 8 / f.bits;
  const int mask = (1 << f.bits) - 1;
  std::fill(out, out + f.dim, 0.0f);
  for (int64_t i = begin; i < end; ++i) {
    const uint8_t* row = f.rows + static_cast<int64_t>(ids[i]) * row_bytes;
    float scale = half_at(row);
    float bias = half_at(row + 2);
    if (weights != nullptr) {
      scale *= weights[i];
      bias *= weights[i];
    }
    const uint8_t* codes = row + 4;
    for (int64_t d = 0; d < f.dim; ++d) {
      const int code = (codes[d / per_byte] >> ((d % per_byte) * f.bits)) & mask;
      out[d] = std::fma(scale, static_cast<float>(code), out[d] + bias);
    }
  }
  if (f.mean && end > begin) {
    const float inv = 1.0f / static_cast<float>(end - begin);
    for (int64_t d = 0; d < f.dim; ++d) out[d] *= inv;
  }
}

template <typename Id>
void run_bags(const QuantizedPlan& plan, int64_t begin_bag, int64_t end_bag) {
  const Id* ids = static_cast<const Id*>(plan.ids);
  for (int64_t bag = begin_bag; bag < end_bag; ++bag) {
    const int64_t fi = bag / plan.batch;
    const int64_t b = bag - fi * plan.batch;
    const QuantizedFeature& f = plan.features[fi];
    const int64_t* offsets = plan.offsets + f.key * plan.batch;
    pool_bag(f, ids, plan.weights, offsets[b], offsets[b + 1], plan.out + b * plan.out_width + f.out_column);
  }
}

}  // namespace

void quantized_bags_portable(const QuantizedPlan& plan, int64_t begin, int64_t end) {
  if (plan.ids_int64) {
    run_bags<int64_t>(plan, begin, end);
  } else {
    run_bags<int32_t>(plan, begin, end);
  }
}

}  // namespace detail

namespace {

using Run = void (*)(const detail::QuantizedPlan&, int64_t, int64_t);

// As the float kernels: small calls stay on the calling thread; chunks are taken dynamically, 4 per
// thread (int8 at M and H: 15-25% faster than 16 per thread in interleaved runs; int4 mixed).
constexpr int64_t kParallelWork = 1 << 16;
constexpr int64_t kChunksPerThread = 4;

bool cpu_has_avx2_fma_f16c() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return false;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  __asm__("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(1), "c"(0));
  return (ecx & (1u << 29)) != 0;  // F16C
#else
  return false;
#endif
}

// How far ahead to prefetch rows, in bytes of rows, always (quantized tables worth serving are far
// bigger than the caches). A quantized row costs a fraction of a float row's instructions, so hiding
// its memory latency takes more rows in flight than the float kernels' 16: the best distances measured
// at M and H (bench/results/quantized.md) were about 2 KiB of rows (32-64 rows of 36 bytes, 32 of 68,
// 16 of 132). TORCHREC_QUANTIZED_PREFETCH_BYTES=n overrides it (0: off).
constexpr int64_t kPrefetchBytes = 2048;
int64_t quantized_prefetch_bytes() {
  static const int64_t bytes = [] {
    const char* v = std::getenv("TORCHREC_QUANTIZED_PREFETCH_BYTES");
    if (v == nullptr || *v == '\0') return kPrefetchBytes;
    const long long n = std::atoll(v);
    return n < 0 ? int64_t{0} : (n > (1 << 20) ? int64_t{1} << 20 : static_cast<int64_t>(n));
  }();
  return bytes;
}

struct Isa {
  Run run;
  const char* name;
};

bool cpu_has_avx512() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

const Isa& isa() {
  static const Isa chosen = [] {
    const char* forced = std::getenv("TORCHREC_CPU_KERNEL");
    const std::string cap = forced == nullptr ? "" : forced;
#if defined(__x86_64__) || defined(__i386__)
    if (cap != "portable" && cpu_has_avx2_fma_f16c()) {
      if (cap != "avx2" && cpu_has_avx512()) return Isa{&detail::quantized_bags_avx512, "avx512"};
      return Isa{&detail::quantized_bags_avx2, "avx2+fma"};
    }
#endif
    return Isa{&detail::quantized_bags_portable, "portable"};
  }();
  return chosen;
}

}  // namespace

const char* quantized_pool_isa() {
  return isa().name;
}

void quantized_pool_forward(const std::vector<QuantizedFeature>& features, const QuantizedBatch& batch) {
  const int64_t num_features = static_cast<int64_t>(features.size());
  if (num_features == 0 || batch.batch == 0) return;
  detail::QuantizedPlan plan;
  plan.features = features.data();
  plan.num_features = num_features;
  plan.offsets = batch.offsets;
  plan.batch = batch.batch;
  plan.ids = batch.ids;
  plan.ids_int64 = batch.ids_int64;
  plan.weights = batch.per_value_weights;
  plan.out = batch.out;
  plan.out_width = batch.out_width;
  plan.prefetch_bytes = quantized_prefetch_bytes();

  int64_t work = 0;
  for (const auto& f : features) {
    const int64_t* offsets = batch.offsets + f.key * batch.batch;
    work += (offsets[batch.batch] - offsets[0] + batch.batch) * f.dim;
  }
  const int64_t bags = num_features * batch.batch;
  const int threads = work >= kParallelWork ? intra_op_threads() : 1;
  const Run run = isa().run;
  if (threads <= 1) {
    run(plan, 0, bags);
    return;
  }
  // Equal bag counts per chunk; dynamic scheduling evens out bags of unequal length.
  const int64_t chunks = std::min<int64_t>(bags, threads * kChunksPerThread);
  std::atomic<int64_t> next{0};
  fork_join(threads, [&](int, int) {
    for (int64_t c = next.fetch_add(1, std::memory_order_relaxed); c < chunks;
         c = next.fetch_add(1, std::memory_order_relaxed)) {
      const int64_t lo = bags * c / chunks;
      const int64_t hi = bags * (c + 1) / chunks;
      if (lo < hi) run(plan, lo, hi);
    }
  });
}

}  // namespace torchrec::kernels
