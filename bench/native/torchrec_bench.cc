// torchrec_bench: times one implementation of the pooled EBC lookup on one configuration and prints
// one JSON line. Driven by bench/run.ts, which hands every implementation the same id files.
//
//   torchrec_bench --impl
//   naive|ceiling|kernel|kernel+ceiling|core|core+kernel|train|backward|managed|managed+kernel|managed-train+core|lookup
//   --tables T --rows N --dim D --dtype fp32|fp16|int8|int4|int2
//                  --batch B --pooling L --variant uniform=a.bin,b.bin,... [--variant skewed=...]
//                  [--warmup W] [--runs R] [--calls C] [--threads n] [--thp 0|1] [--clock wall|thread]
//
// Id files hold T*B*L little-endian int64, key-major (table t's B bags of L ids each). Every bag has L
// ids. Each variant (an id distribution) is timed on the same tables: W warm-up runs, then R runs of C
// back-to-back calls (per-call time reported), rotating through the variant's id files. Output: one
// JSON line {impl, variants: {name: {median_ms, runs_ms, checksum}}, peak_rss_kb, rss_kb, anon_huge_kb, ...}.
//   naive    one at::embedding_bag(sum, include_last_offset) per table, then at::cat: libtorch as a
//            user would call it (plain at::empty tables, no huge pages)
//   ceiling  the machine's gather ceiling (ceiling.cc), best prefetch distance picked first
//   kernel   torchrec's fused kernel alone (kernels::pooled_lookup_forward), output buffer reused
//   kernel+ceiling  both on the same tables, alternated call by call: the kernel's runs as usual plus
//            the ceiling's as partner_median_ms / partner_runs_ms and partner_over_impl_median (the
//            median of the runs' ceiling/kernel ratios)
//   core     torchrec's core EmbeddingBagCollection: KJT validation + id checks + kernel + output tensor
//   managed-train+core  a core collection with managed ids forwarding in TRAIN mode (lookups, admissions
//            and counts), paired with the plain core forward (partner_*; managed_remap.h's residents)
//   core+kernel  core paired with kernel on the core's own tables, alternated call by call (partner_*,
//            as kernel+ceiling): partner_over_impl_median is kernel/core
//   train    core forward + fused backward with rowwise Adagrad (the train step without Node)
//   backward the train step's fused backward + rowwise Adagrad alone (no forward: its gradient is fixed)
//   backward+fbgemm  backward (rowwise Adagrad) paired with FBGEMM's exact CPU path on the same batches
//            and gradient, from the same initial weights (fbgemm_backward.h; partner_*, as kernel+ceiling:
//            partner_over_impl_median is fbgemm/ours); fbgemm_max_weight_diff: the largest difference
//            between the two sets of tables after the runs. Only in a build given TORCHREC_FBGEMM_INCLUDE.
//            (train, backward: --optimizer sgd|adagrad|rowwise_adagrad|adam|partial_rowwise_adam|lamb
//            picks another rule, default rowwise_adagrad, lr 0.01)
//   managed  the kernel with managed ids (EVALUATE: map lookups fused into the pooling), lookup: the
//            lookups alone (managed_remap.h); fp32 only. managed+kernel: managed paired with the plain
//            kernel on the same tables (partner_*, as kernel+ceiling)
// With --dtype int8|int4|int2 (row-wise quantized tables, kernels/rowwise_quant.h) only `ceiling`, `kernel`
// and `kernel+ceiling` run: the kernel is kernels::quantized_pool_forward, the ceiling a gather of rows of the
// quantized row size (quantized_ceiling.cc). In a build given TORCHREC_FBGEMM_INCLUDE, int8 and int4 also
// run FBGEMM's own quantized forward (fbgemm_quantized.h) on the same tables: kernel+fbgemm (partner_*:
// FBGEMM; the checksum is the largest difference between the two outputs on the last batch) and
// fbgemm+ceiling (partner_*: the ceiling).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Half.h>
#include <omp.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_options.h"
#include "bench_tables.h"
#include "bench_timing.h"
#include "ceiling.h"
#ifdef TORCHREC_BENCH_FBGEMM
#include "fbgemm_backward.h"
#include "fbgemm_quantized.h"
#endif
#include "core/embedding_bag_collection.h"
#include "core/keyed_jagged_tensor.h"
#include "core/malloc_tuning.h"
#include "kernels/pooled_lookup_cpu.h"
#include "kernels/quantized_pool_cpu.h"
#include "kernels/rowwise_quant.h"
#include "kernels/sparse_backward_cpu.h"
#include "kernels/table_memory.h"
#include "managed_remap.h"
#include "quantized_ceiling.h"

namespace {

using namespace bench;  // NOLINT: this binary is the bench namespace's one user

// One implementation, set up once (tables filled), then timed on each variant's batches.
struct Impl {
  std::function<void(const Batches& batches, size_t k)> call;                   // pools batches[k]
  std::function<double()> checksum;                                             // of the last output
  std::function<void(const Batches& batches, std::ostringstream& extra)> tune;  // optional, per variant
  // kernel+ceiling, core+kernel, managed+kernel: the second impl's call, timed alternately with `call`
  std::function<void(const Batches& batches, size_t k)> partner;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    torchrec::tune_malloc_for_results();  // as the addon does when it loads: the core rows time what Node gets
    const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(threads);
    omp_set_num_threads(threads);
    const int64_t T = o.tables, B = o.batch, L = o.pooling, D = o.dim;
    std::vector<float> out(static_cast<size_t>(B * T * D));
    std::ostringstream extra;
    std::vector<at::Tensor> weights;
    std::vector<torchrec::kernels::PooledFeature> features;
    std::vector<int64_t> offsets(static_cast<size_t>(T * B + 1));
    for (size_t i = 0; i < offsets.size(); ++i) offsets[i] = static_cast<int64_t>(i) * L;
    const at::Tensor bag_offsets = at::arange(0, B * L + 1, L, at::kLong);  // one table's, include_last_offset
    const at::Tensor lengths = at::full({T * B}, L, at::kInt);
    std::vector<std::string> keys;
    for (int64_t t = 0; t < T; ++t) keys.push_back("f" + std::to_string(t));
    // One key list shared by every batch, as a caller that keeps its features fixed passes it.
    const auto key_list = std::make_shared<const std::vector<std::string>>(keys);
    std::unique_ptr<torchrec::EmbeddingBagCollection> ebc;
    std::vector<float> grad;                // train: the same fixed gradient every step, as bench/lib_child.ts uses
    const Batches* last_batches = nullptr;  // backward, kernel+ceiling: the batch the checksum pools
    size_t last_k = 0;
    at::Tensor last;
    bench::CeilingInput ceiling;
    bench::CeilingChoice choice;
    auto out_sum = [&] { return checksum(out.data(), static_cast<int64_t>(out.size())); };
    auto last_sum = [&] {
      at::Tensor f = last.to(at::kFloat).contiguous();
      return checksum(f.data_ptr<float>(), f.numel());
    };
    // The ids as tensors, made once per variant (reset below) and not per call: a caller of the core
    // holds its ids in a tensor already, so wrapping file buffers is the harness's cost, not the core's.
    std::vector<at::Tensor> id_tensors;
    auto as_tensor = [&](const Batches& batches, size_t k) -> const at::Tensor& {
      if (id_tensors.empty()) {
        for (const auto& ids : batches) {
          id_tensors.push_back(at::from_blob(const_cast<int64_t*>(ids.data()), {T * B * L}, at::kLong));
        }
      }
      return id_tensors[k];
    };

    std::unique_ptr<bench::ManagedMaps> maps;  // managed, managed+kernel, lookup
    std::vector<torchrec::kernels::PooledFeature> managed_features;
    std::unique_ptr<torchrec::EmbeddingBagCollection> managed_ebc;  // managed-train+core
    std::vector<at::Tensor> raw_tensors;                            // managed-train+core: raw ids
    std::vector<std::vector<int64_t>> raw;  // managed, lookup: the raw ids of this variant's batches
    int64_t lookup_sum = 0;

    Impl impl;
    bench::QuantizedCeilingInput qceiling;
    std::vector<torchrec::kernels::QuantizedFeature> qfeatures;
    // kernel, ceiling and kernel+ceiling share their tables: paired, the two run call by call on the
    // same memory, so the ratio between them does not depend on where each process's tables landed.
    const bool paired = o.impl == "kernel+ceiling";
    const bool core_paired = o.impl == "core+kernel";
    // FBGEMM's quantized forward (fbgemm_quantized.h) beside our kernel or the ceiling, same tables.
    const bool fbgemm_kernel = o.impl == "kernel+fbgemm", fbgemm_ceiling = o.impl == "fbgemm+ceiling";
    const bool wants_kernel = o.impl == "kernel" || paired || core_paired || fbgemm_kernel;
    const bool wants_ceiling = o.impl == "ceiling" || paired || fbgemm_ceiling;
    std::function<void(const Batches&, size_t)> kernel_call, ceiling_call, fbgemm_call;
    if (o.bits > 0 && !wants_kernel && !wants_ceiling) {
      throw std::runtime_error("--dtype int" + std::to_string(o.bits) +
                               " runs only with --impl kernel|ceiling|kernel+ceiling|kernel+fbgemm|fbgemm+ceiling");
    }
    if ((fbgemm_kernel || fbgemm_ceiling) && o.bits != 8 && o.bits != 4) {
      throw std::runtime_error("--impl " + o.impl + " runs with --dtype int8 or int4");
    }
    if (wants_ceiling) {
      const bool supported = o.bits > 0
                                 ? bench::quantized_ceiling_supported(torchrec::kernels::quantized_row_bytes(D, o.bits))
                                 : bench::ceiling_supported(D);
      if (!supported) throw std::runtime_error("ceiling: unsupported dim " + std::to_string(D));
    }
    if (core_paired) {
      // The kernel pools the core's own tables, so the pair's ratio does not depend on where each
      // process's tables landed (two sets of tables moved it by +-5% between processes at M).
      if (o.bits > 0) throw std::runtime_error("--impl core+kernel runs with float tables only");
      ebc = std::make_unique<torchrec::EmbeddingBagCollection>(core_specs(o), false, 1);
      for (int64_t t = 0; t < T; ++t) {
        const void* rows = ebc->host_rows("t" + std::to_string(t));
        if (rows == nullptr) throw std::runtime_error("core+kernel: the core's tables are not in host memory");
        weights.push_back(at::from_blob(const_cast<void*>(rows), {o.rows, D}, o.half ? at::kHalf : at::kFloat));
      }
    } else if (wants_kernel || wants_ceiling) {
      for (int64_t t = 0; t < T; ++t)
        weights.push_back(o.bits > 0 ? make_quantized_table(o, t) : make_table(o, t, o.thp));
    }
    if (wants_ceiling && o.bits > 0) {
      for (const at::Tensor& w : weights) qceiling.tables.push_back(w.data_ptr<uint8_t>());
      qceiling.row_bytes = torchrec::kernels::quantized_row_bytes(D, o.bits);
      qceiling.dim = D;
      qceiling.batch = B;
      qceiling.pooling = L;
      qceiling.out = out.data();
      ceiling_call = [&](const Batches& batches, size_t k) {
        qceiling.ids = batches[k].data();
        bench::run_quantized_ceiling(qceiling, choice);
      };
    } else if (wants_ceiling) {
      for (const at::Tensor& w : weights) ceiling.tables.push_back(w.data_ptr());
      ceiling.half = o.half;
      ceiling.dim = D;
      ceiling.batch = B;
      ceiling.pooling = L;
      ceiling.out = out.data();
      ceiling_call = [&](const Batches& batches, size_t k) {
        ceiling.ids = batches[k].data();
        bench::run_ceiling(ceiling, choice);
      };
    }
    if (wants_kernel && o.bits > 0) {
      for (int64_t t = 0; t < T; ++t) {
        torchrec::kernels::QuantizedFeature f;
        f.rows = weights[t].data_ptr<uint8_t>();
        f.bits = o.bits;
        f.dim = D;
        f.key = t;
        f.out_column = t * D;
        qfeatures.push_back(f);
      }
      kernel_call = [&](const Batches& batches, size_t k) {
        torchrec::kernels::quantized_pool_forward(
            qfeatures, kernel_batch<torchrec::kernels::QuantizedBatch>(o, offsets, batches[k].data(), out));
      };
      extra << ",\"isa\":\"" << torchrec::kernels::quantized_pool_isa() << "\"";
    } else if (wants_kernel) {
      for (int64_t t = 0; t < T; ++t) {
        torchrec::kernels::PooledFeature f;
        f.rows = weights[t].data_ptr();
        f.half = o.half;
        f.num_rows = o.rows;
        f.dim = D;
        f.key = t;
        f.out_column = t * D;
        features.push_back(f);
      }
      kernel_call = [&](const Batches& batches, size_t k) {
        torchrec::kernels::pooled_lookup_forward(
            features, kernel_batch<torchrec::kernels::PooledBatch>(o, offsets, batches[k].data(), out));
      };
      extra << ",\"isa\":\"" << torchrec::kernels::pooled_lookup_isa() << "\"";
    }

    // Impls with the ceiling as a partner first pick its best threads x prefetch on the variant's batches.
    auto tune_ceiling = [&](const Batches& batches, std::ostringstream& info) {
      last_batches = &batches;
      choice = bench::tune_choice(threads, info, [&](const bench::CeilingChoice& c) {
        choice = c;
        Options trial = o;
        trial.warmup = 1;
        trial.runs = std::max(3, std::min(7, o.runs / 4));
        return median(time_runs(trial, batches.size(), [&](size_t k) { ceiling_call(batches, k); }));
      });
    };
    if (fbgemm_kernel || fbgemm_ceiling) {
#ifdef TORCHREC_BENCH_FBGEMM
      std::vector<const uint8_t*> rows;
      for (const at::Tensor& w : weights) rows.push_back(w.data_ptr<uint8_t>());
      auto fbgemm = std::make_shared<bench::FbgemmQuantizedForward>(o.bits, D, rows, o.rows, threads);
      fbgemm_call = [&, fbgemm](const Batches& batches, size_t k) {
        fbgemm->forward(batches[k].data(), B, L, out.data());
      };
      impl.call = fbgemm_kernel ? kernel_call : fbgemm_call;
      impl.partner = fbgemm_kernel ? fbgemm_call : ceiling_call;
      // The checksum: the largest difference between our kernel's output and FBGEMM's on the last batch
      // (fbgemm+ceiling: FBGEMM's output sum).
      impl.checksum = [&] {
        if (last_batches == nullptr) return 0.0;
        fbgemm_call(*last_batches, last_k);
        if (!fbgemm_kernel) return out_sum();
        const std::vector<float> theirs = out;
        kernel_call(*last_batches, last_k);
        double worst = 0;
        for (size_t i = 0; i < out.size(); ++i)
          worst = std::max(worst, static_cast<double>(std::fabs(out[i] - theirs[i])));
        return worst;
      };
      if (fbgemm_ceiling) impl.tune = tune_ceiling;
#else
      throw std::runtime_error("--impl " + o.impl +
                               " needs a build with -DTORCHREC_FBGEMM_INCLUDE=... (bench/README.md)");
#endif
    } else if (core_paired) {
      impl.call = [&](const Batches& batches, size_t k) {
        last = ebc->forward(
            torchrec::KeyedJaggedTensor::from_lengths(key_list, as_tensor(batches, k), lengths, at::Tensor(), 0));
        last_batches = &batches, last_k = k;
      };
      impl.partner = kernel_call;
      // Same tables, same batch: the two must give the same bits (core_kernel_max_diff 0).
      impl.checksum = [&] {
        if (last_batches != nullptr) {
          kernel_call(*last_batches, last_k);
          const float* core = last.data_ptr<float>();
          double worst = 0;
          for (size_t i = 0; i < out.size(); ++i)
            worst = std::max(worst, static_cast<double>(std::fabs(core[i] - out[i])));
          extra << ",\"core_kernel_max_diff\":" << worst;
        }
        return last_sum();
      };
    } else if (wants_kernel || wants_ceiling) {
      impl.call = wants_kernel ? kernel_call : ceiling_call;
      if (paired) impl.partner = ceiling_call;
      // Paired, the ceiling may have written the output last: the kernel pools the last batch again.
      impl.checksum = [&] {
        if (paired && last_batches != nullptr) kernel_call(*last_batches, last_k);
        return out_sum();
      };
      if (wants_ceiling) impl.tune = tune_ceiling;
    } else if (o.impl == "naive") {
      for (int64_t t = 0; t < T; ++t) weights.push_back(make_table(o, t, /*huge_pages=*/false));
      impl.call = [&](const Batches& batches, size_t k) {
        const at::Tensor ids = as_tensor(batches, k);
        std::vector<at::Tensor> pooled;
        for (int64_t t = 0; t < T; ++t) {
          pooled.push_back(std::get<0>(
              at::embedding_bag(weights[t], ids.narrow(0, t * B * L, B * L), bag_offsets, false, 0, false, {}, true)));
        }
        last = at::cat(pooled, 1);
      };
      impl.checksum = last_sum;
    } else if (o.impl == "managed" || o.impl == "managed+kernel" || o.impl == "lookup") {
      if (o.half) throw std::runtime_error("--impl " + o.impl + " runs with --dtype fp32 only");
      maps = std::make_unique<bench::ManagedMaps>(T, o.rows);
      for (int64_t t = 0; o.impl != "lookup" && t < T; ++t) {
        weights.push_back(make_table(o, t, o.thp));
        torchrec::kernels::PooledFeature f;
        f.rows = weights.back().data_ptr();
        f.num_rows = o.rows;
        f.dim = D;
        f.key = t;
        f.out_column = t * D;
        features.push_back(f);  // plain: the same table without the remap
        f.remap = torchrec::id_remap(&maps->table(t));
        managed_features.push_back(f);
      }
      impl.call = [&](const Batches&, size_t k) {
        if (o.impl == "lookup") {
          lookup_sum = maps->lookup_all(raw[k], B * L);
          return;
        }
        torchrec::kernels::pooled_lookup_forward(
            managed_features, kernel_batch<torchrec::kernels::PooledBatch>(o, offsets, raw[k].data(), out));
      };
      if (o.impl == "managed+kernel") {
        impl.partner = [&](const Batches& batches, size_t k) {
          torchrec::kernels::pooled_lookup_forward(
              features, kernel_batch<torchrec::kernels::PooledBatch>(o, offsets, batches[k].data(), out));
        };
      }
      // Paired, the plain kernel wrote the output last: it pools the same rows, so the sum is the same.
      impl.checksum = [&] { return o.impl == "lookup" ? static_cast<double>(lookup_sum) : out_sum(); };
      extra << ",\"isa\":\"" << torchrec::kernels::pooled_lookup_isa() << "\"";
    } else if (o.impl == "managed-train+core") {
      // Two core collections: one with managed ids (filled with rows - 1 residents, entity k at row k,
      // as managed_remap.h) forwarding in TRAIN mode (admit and count every occurrence), one plain.
      std::vector<torchrec::TableSpec> specs = core_specs(o);
      for (auto& spec : specs) {
        spec.managed = torchrec::ManagedIdsSpec();
        spec.managed->eviction_interval = int64_t{1} << 40;  // no pass during a benchmark
      }
      managed_ebc = std::make_unique<torchrec::EmbeddingBagCollection>(specs, false, 1);
      ebc = std::make_unique<torchrec::EmbeddingBagCollection>(core_specs(o), false, 1);
      constexpr int64_t kChunk = 1 << 17;
      std::vector<float> scratch;
      for (int64_t k0 = 0; k0 + 1 < o.rows; k0 += kChunk) {
        const int64_t n = std::min(kChunk, o.rows - 1 - k0);
        at::Tensor ids = at::empty({T * n}, at::kLong);
        for (int64_t t = 0; t < T; ++t) {
          for (int64_t j = 0; j < n; ++j) ids.data_ptr<int64_t>()[t * n + j] = bench::raw_id(k0 + j);
        }
        scratch.resize(static_cast<size_t>(n * T * D));
        managed_ebc->forward_train(
            torchrec::KeyedJaggedTensor::from_lengths(key_list, ids, at::ones({T * n}, at::kInt), at::Tensor(), 0),
            scratch.data());
      }
      impl.call = [&](const Batches&, size_t k) {
        managed_ebc->forward_train(
            torchrec::KeyedJaggedTensor::from_lengths(key_list, raw_tensors[k], lengths, at::Tensor(), 0), out.data());
      };
      impl.partner = [&](const Batches& batches, size_t k) {
        last = ebc->forward(
            torchrec::KeyedJaggedTensor::from_lengths(key_list, as_tensor(batches, k), lengths, at::Tensor(), 0));
      };
      impl.checksum = out_sum;
    } else if (o.impl == "core") {
      ebc = std::make_unique<torchrec::EmbeddingBagCollection>(core_specs(o), false, 1);
      impl.call = [&](const Batches& batches, size_t k) {
        last = ebc->forward(
            torchrec::KeyedJaggedTensor::from_lengths(key_list, as_tensor(batches, k), lengths, at::Tensor(), 0));
      };
      impl.checksum = last_sum;
      extra << ",\"isa\":\"" << torchrec::kernels::pooled_lookup_isa() << "\"";
    } else if (o.impl == "backward+fbgemm") {
#ifdef TORCHREC_BENCH_FBGEMM
      torchrec::OptimizerSpec adagrad;
      adagrad.kind = torchrec::OptimizerKind::RowwiseAdagrad;
      adagrad.lr = 0.01;
      ebc = std::make_unique<torchrec::EmbeddingBagCollection>(
          core_specs(o), false, 1, std::vector<std::optional<torchrec::OptimizerSpec>>(T, adagrad));
      grad.resize(static_cast<size_t>(B * T * D));
      for (size_t i = 0; i < grad.size(); ++i) grad[i] = static_cast<float>(std::fmod(i * 0.6180339887, 1.0) - 0.5);
      std::vector<std::vector<float>> initial;
      for (int64_t t = 0; t < T; ++t) {
        const at::Tensor w = ebc->get_weights("t" + std::to_string(t)).contiguous();
        initial.emplace_back(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
      }
      auto fbgemm = std::make_shared<bench::FbgemmRowwiseAdagrad>(initial, o.rows, D, static_cast<float>(adagrad.lr),
                                                                  static_cast<float>(adagrad.eps), threads);
      auto first_table = std::make_shared<std::vector<float>>(std::move(initial[0]));  // to show the steps moved it
      initial.clear();
      impl.call = [&](const Batches& batches, size_t k) {
        ebc->backward(
            torchrec::KeyedJaggedTensor::from_lengths(key_list, as_tensor(batches, k), lengths, at::Tensor(), 0),
            grad.data(), static_cast<int64_t>(grad.size()));
      };
      impl.partner = [&, fbgemm](const Batches& batches, size_t k) {
        fbgemm->step(batches[k].data(), B, L, grad.data());
      };
      // Both sides ran the same steps from the same weights: they must agree (to rounding).
      impl.checksum = [&, fbgemm, first_table] {
        double worst = 0, moved = 0;
        for (int64_t t = 0; t < T; ++t) {
          const at::Tensor ours = ebc->get_weights("t" + std::to_string(t)).contiguous();
          const float* a = ours.data_ptr<float>();
          const std::vector<float>& b = fbgemm->weights(t);
          for (size_t i = 0; i < b.size(); ++i) worst = std::max(worst, static_cast<double>(std::fabs(a[i] - b[i])));
        }
        const std::vector<float>& b0 = fbgemm->weights(0);
        for (size_t i = 0; i < b0.size(); ++i)
          moved = std::max(moved, static_cast<double>(std::fabs(b0[i] - (*first_table)[i])));
        extra << ",\"fbgemm_table0_moved\":" << moved;
        return worst;
      };
      extra << ",\"backward_isa\":\"" << torchrec::kernels::sparse_backward_isa() << "\"";
#else
      throw std::runtime_error(
          "--impl backward+fbgemm needs a build with -DTORCHREC_FBGEMM_INCLUDE=... (bench/README.md)");
#endif
    } else if (o.impl == "train" || o.impl == "backward") {
      torchrec::OptimizerSpec adagrad;
      const std::map<std::string, torchrec::OptimizerKind> kinds = {
          {"sgd", torchrec::OptimizerKind::Sgd},
          {"adagrad", torchrec::OptimizerKind::Adagrad},
          {"rowwise_adagrad", torchrec::OptimizerKind::RowwiseAdagrad},
          {"adam", torchrec::OptimizerKind::Adam},
          {"partial_rowwise_adam", torchrec::OptimizerKind::PartialRowwiseAdam},
          {"lamb", torchrec::OptimizerKind::Lamb}};
      if (!kinds.count(o.optimizer)) throw std::runtime_error("unknown --optimizer " + o.optimizer);
      adagrad.kind = kinds.at(o.optimizer);
      adagrad.lr = 0.01;
      ebc = std::make_unique<torchrec::EmbeddingBagCollection>(
          core_specs(o), false, 1, std::vector<std::optional<torchrec::OptimizerSpec>>(T, adagrad));
      grad.resize(static_cast<size_t>(B * T * D));
      for (size_t i = 0; i < grad.size(); ++i) grad[i] = static_cast<float>(std::fmod(i * 0.6180339887, 1.0) - 0.5);
      impl.call = [&](const Batches& batches, size_t k) {
        const auto kjt =
            torchrec::KeyedJaggedTensor::from_lengths(key_list, as_tensor(batches, k), lengths, at::Tensor(), 0);
        if (o.impl == "train") last = ebc->forward(kjt);
        ebc->backward(kjt, grad.data(), static_cast<int64_t>(grad.size()));
        last_batches = &batches, last_k = k;
      };
      // backward: the checksum pools the last batch after the timed runs, from the weights they left.
      impl.checksum = [&] {
        if (o.impl == "backward" && last_batches != nullptr) {
          last = ebc->forward(torchrec::KeyedJaggedTensor::from_lengths(keys, as_tensor(*last_batches, last_k), lengths,
                                                                        at::Tensor(), 0));
        }
        return last_sum();
      };
      extra << ",\"isa\":\"" << torchrec::kernels::pooled_lookup_isa() << "\",\"backward_isa\":\""
            << torchrec::kernels::sparse_backward_isa() << "\"";
    } else {
      throw std::runtime_error("unknown --impl " + o.impl);
    }

    std::ostringstream variants;
    for (size_t v = 0; v < o.variants.size(); ++v) {
      const Batches batches = read_ids(o, o.variants[v].second);
      id_tensors.clear();  // as_tensor views this variant's batches from here on
      raw.clear();
      for (size_t k = 0; maps && k < batches.size(); ++k) raw.push_back(bench::ManagedMaps::raw_batch(batches[k]));
      raw_tensors.clear();
      for (size_t k = 0; managed_ebc && k < batches.size(); ++k) {
        const auto ids = bench::ManagedMaps::raw_batch(batches[k]);
        raw_tensors.push_back(at::from_blob(const_cast<int64_t*>(ids.data()), {T * B * L}, at::kLong).clone());
      }
      std::ostringstream info;
      if (impl.tune) impl.tune(batches, info);
      std::vector<double> runs;
      auto list = [](const std::vector<double>& xs) {
        std::ostringstream l;
        for (size_t i = 0; i < xs.size(); ++i) l << (i ? "," : "") << xs[i];
        return l.str();
      };
      if (impl.partner) {
        std::vector<double> partner_runs, ratios;
        const std::function<void(size_t)> call = [&](size_t k) { impl.call(batches, k); };
        const std::function<void(size_t)> partner = [&](size_t k) { impl.partner(batches, k); };
        time_pairs(o, batches.size(), call, partner, runs, partner_runs, last_k);
        last_batches = &batches;
        for (size_t i = 0; i < runs.size(); ++i) ratios.push_back(partner_runs[i] / runs[i]);
        info << ",\"partner_median_ms\":" << median(partner_runs) << ",\"partner_runs_ms\":[" << list(partner_runs)
             << "],\"partner_over_impl_median\":" << median(ratios);
      } else {
        runs = time_runs(o, batches.size(), [&](size_t k) { impl.call(batches, k); });
      }
      variants << (v ? "," : "") << "\"" << o.variants[v].first << "\":{\"median_ms\":" << median(runs)
               << ",\"runs_ms\":[" << list(runs) << "],\"checksum\":" << impl.checksum() << info.str() << "}";
    }
    const auto mem = memory_kb();  // the tables are still alive here
    auto get = [&](const char* key) { return mem.count(key) ? mem.at(key) : -1L; };
    std::printf(
        "{\"impl\":\"%s\",\"threads\":%d,\"variants\":{%s},\"peak_rss_kb\":%ld,\"rss_kb\":%ld,\"anon_huge_kb\":%ld%s}"
        "\n",
        o.impl.c_str(), threads, variants.str().c_str(), get("VmHWM"), get("VmRSS"), get("AnonHugePages"),
        extra.str().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "torchrec_bench: %s\n", e.what());
    return 1;
  }
}
