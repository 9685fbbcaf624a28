// torchrec_bench: times one implementation of the pooled EBC lookup on one configuration and prints
// one JSON line. Driven by bench/run.ts, which hands every implementation the same id files.
//
//   torchrec_bench --impl naive|ceiling|kernel|core --tables T --rows N --dim D --dtype fp32|fp16
//                  --batch B --pooling L --ids a.bin,b.bin,... [--warmup W] [--runs R] [--calls C]
//                  [--threads n] [--thp 0|1]
//
// Id files hold T*B*L little-endian int64, key-major (table t's B bags of L ids each). Every bag has L
// ids. A run is C back-to-back calls (per-call time reported), rotating through the id files.
//   naive    one at::embedding_bag(sum, include_last_offset) per table, then at::cat: libtorch as a
//            user would call it (plain at::empty tables, no huge pages)
//   ceiling  the machine's gather ceiling (ceiling.cc), best prefetch distance picked first
//   kernel   torchrec's fused kernel alone (kernels::pooled_lookup_forward), output buffer reused
//   core     torchrec's core EmbeddingBagCollection: KJT validation + id checks + kernel + output tensor
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Half.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ceiling.h"
#include "core/embedding_bag_collection.h"
#include "core/keyed_jagged_tensor.h"
#include "kernels/pooled_lookup_cpu.h"
#include "kernels/table_memory.h"

namespace {

struct Options {
  std::string impl;
  int64_t tables = 0, rows = 0, dim = 0, batch = 0, pooling = 0;
  bool half = false;
  std::vector<std::string> id_files;
  int warmup = 3, runs = 20, calls = 1, threads = 0;
  bool thp = true;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

Options parse(int argc, char** argv) {
  std::map<std::string, std::string> kv;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strncmp(argv[i], "--", 2) != 0) throw std::runtime_error(std::string("unexpected argument ") + argv[i]);
    kv[argv[i] + 2] = argv[i + 1];
  }
  auto need = [&](const char* k) {
    if (!kv.count(k)) throw std::runtime_error(std::string("missing --") + k);
    return kv[k];
  };
  Options o;
  o.impl = need("impl");
  o.tables = std::stoll(need("tables"));
  o.rows = std::stoll(need("rows"));
  o.dim = std::stoll(need("dim"));
  o.batch = std::stoll(need("batch"));
  o.pooling = std::stoll(need("pooling"));
  o.half = need("dtype") == "fp16";
  o.id_files = split(need("ids"), ',');
  if (kv.count("warmup")) o.warmup = std::stoi(kv["warmup"]);
  if (kv.count("runs")) o.runs = std::stoi(kv["runs"]);
  if (kv.count("calls")) o.calls = std::stoi(kv["calls"]);
  if (kv.count("threads")) o.threads = std::stoi(kv["threads"]);
  if (kv.count("thp")) o.thp = kv["thp"] != "0";
  return o;
}

std::vector<std::vector<int64_t>> read_ids(const Options& o) {
  const size_t count = static_cast<size_t>(o.tables * o.batch * o.pooling);
  std::vector<std::vector<int64_t>> batches;
  for (const auto& file : o.id_files) {
    std::ifstream in(file, std::ios::binary);
    std::vector<int64_t> ids(count);
    in.read(reinterpret_cast<char*>(ids.data()), static_cast<std::streamsize>(count * sizeof(int64_t)));
    if (!in) throw std::runtime_error("cannot read " + std::to_string(count) + " ids from " + file);
    batches.push_back(std::move(ids));
  }
  return batches;
}

// The same deterministic small values in every C++ implementation, so their outputs can be compared.
float weight_value(int64_t table, int64_t index) {
  uint64_t x = static_cast<uint64_t>(table) * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(index);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return (static_cast<float>(x & 0xFFFF) / 65536.0f - 0.5f) * 0.02f;
}

at::Tensor make_table(const Options& o, int64_t t, bool huge_pages) {
  const at::ScalarType dtype = o.half ? at::kHalf : at::kFloat;
  at::Tensor w = huge_pages ? torchrec::kernels::allocate_table(o.rows, o.dim, dtype)
                            : at::empty({o.rows, o.dim}, dtype);
  const int64_t n = o.rows * o.dim;
  if (o.half) {
    auto* p = static_cast<c10::Half*>(w.data_ptr());
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) p[i] = c10::Half(weight_value(t, i));
  } else {
    auto* p = w.data_ptr<float>();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) p[i] = weight_value(t, i);
  }
  return w;
}

std::map<std::string, long> memory_kb() {
  std::map<std::string, long> out;
  for (const char* file : {"/proc/self/status", "/proc/self/smaps_rollup"}) {
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      for (const char* key : {"VmHWM", "VmRSS", "AnonHugePages"}) {
        const size_t len = std::strlen(key);
        if (line.compare(0, len, key) == 0 && line.size() > len && line[len] == ':') {
          out[key] = std::stol(line.substr(len + 1));
        }
      }
    }
  }
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

// Times `call(batch_index)`: warm-up runs, then `runs` runs of `calls` calls each (ms per call).
template <typename Call>
std::vector<double> time_runs(const Options& o, size_t batches, Call&& call) {
  size_t next = 0;
  for (int i = 0; i < o.warmup * o.calls; ++i) call(next++ % batches);
  std::vector<double> out;
  for (int r = 0; r < o.runs; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (int c = 0; c < o.calls; ++c) call(next++ % batches);
    const auto stop = std::chrono::steady_clock::now();
    out.push_back(std::chrono::duration<double, std::milli>(stop - start).count() / o.calls);
  }
  return out;
}

double checksum(const float* out, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += out[i];
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(threads);
    omp_set_num_threads(threads);
    const auto ids = read_ids(o);
    const int64_t T = o.tables, B = o.batch, L = o.pooling, D = o.dim;
    std::vector<float> out(static_cast<size_t>(B * T * D));
    std::vector<double> runs;
    std::ostringstream extra;
    double sum = 0;
    std::map<std::string, long> mem;  // taken while the tables are still alive

    if (o.impl == "naive") {
      std::vector<at::Tensor> weights;
      for (int64_t t = 0; t < T; ++t) weights.push_back(make_table(o, t, /*huge_pages=*/false));
      const at::Tensor offsets = at::arange(0, B * L + 1, L, at::kLong);
      std::vector<at::Tensor> id_tensors;
      for (const auto& batch : ids) {
        id_tensors.push_back(at::from_blob(const_cast<int64_t*>(batch.data()), {T * B * L}, at::kLong));
      }
      at::Tensor last;
      runs = time_runs(o, ids.size(), [&](size_t k) {
        std::vector<at::Tensor> pooled;
        for (int64_t t = 0; t < T; ++t) {
          pooled.push_back(std::get<0>(at::embedding_bag(weights[t], id_tensors[k].narrow(0, t * B * L, B * L), offsets,
                                                         false, 0, false, {}, true)));
        }
        last = at::cat(pooled, 1);
      });
      last = last.to(at::kFloat).contiguous();
      sum = checksum(last.data_ptr<float>(), last.numel());
      mem = memory_kb();
    } else if (o.impl == "ceiling") {
      if (!bench::ceiling_supported(D)) throw std::runtime_error("ceiling: unsupported dim " + std::to_string(D));
      std::vector<at::Tensor> weights;
      bench::CeilingInput in;
      for (int64_t t = 0; t < T; ++t) {
        weights.push_back(make_table(o, t, o.thp));
        in.tables.push_back(weights.back().data_ptr());
      }
      in.half = o.half;
      in.dim = D;
      in.batch = B;
      in.pooling = L;
      in.out = out.data();
      // Pick the prefetch distance this machine likes best (median of a few tries each).
      int best = 0;
      double best_ms = 1e300;
      std::ostringstream trials;
      for (int pf : {0, 8, 16, 24, 32, 48, 64}) {
        Options trial = o;
        trial.warmup = 1;
        trial.runs = std::max(3, std::min(7, o.runs / 4));
        const double ms = median(time_runs(trial, ids.size(), [&](size_t k) {
          in.ids = ids[k].data();
          bench::run_ceiling(in, pf);
        }));
        trials << (pf == 0 ? "" : ",") << "\"" << pf << "\":" << ms;
        if (ms < best_ms) best_ms = ms, best = pf;
      }
      runs = time_runs(o, ids.size(), [&](size_t k) {
        in.ids = ids[k].data();
        bench::run_ceiling(in, best);
      });
      extra << ",\"prefetch\":" << best << ",\"prefetch_trials_ms\":{" << trials.str() << "}";
      sum = checksum(out.data(), static_cast<int64_t>(out.size()));
      mem = memory_kb();
    } else if (o.impl == "kernel") {
      std::vector<at::Tensor> weights;
      std::vector<torchrec::kernels::PooledFeature> features;
      for (int64_t t = 0; t < T; ++t) {
        weights.push_back(make_table(o, t, o.thp));
        torchrec::kernels::PooledFeature f;
        f.rows = weights.back().data_ptr();
        f.half = o.half;
        f.num_rows = o.rows;
        f.dim = D;
        f.key = t;
        f.out_column = t * D;
        features.push_back(f);
      }
      std::vector<int64_t> offsets(static_cast<size_t>(T * B + 1));
      for (size_t i = 0; i < offsets.size(); ++i) offsets[i] = static_cast<int64_t>(i) * L;
      runs = time_runs(o, ids.size(), [&](size_t k) {
        torchrec::kernels::PooledBatch batch;
        batch.offsets = offsets.data();
        batch.ids = ids[k].data();
        batch.ids_int64 = true;
        batch.batch = B;
        batch.out = out.data();
        batch.out_width = T * D;
        torchrec::kernels::pooled_lookup_forward(features, batch);
      });
      extra << ",\"isa\":\"" << torchrec::kernels::pooled_lookup_isa() << "\"";
      sum = checksum(out.data(), static_cast<int64_t>(out.size()));
      mem = memory_kb();
    } else if (o.impl == "core") {
      std::vector<torchrec::TableSpec> specs;
      std::vector<std::string> keys;
      for (int64_t t = 0; t < T; ++t) {
        torchrec::TableSpec s;
        s.name = "t" + std::to_string(t);
        s.num_embeddings = o.rows;
        s.embedding_dim = D;
        s.dtype = o.half ? at::kHalf : at::kFloat;
        s.feature_names = {"f" + std::to_string(t)};
        s.init_min = -0.01;
        s.init_max = 0.01;
        specs.push_back(s);
        keys.push_back("f" + std::to_string(t));
      }
      torchrec::EmbeddingBagCollection ebc(specs, false, 1);
      std::vector<at::Tensor> values;
      for (const auto& batch : ids) {
        values.push_back(at::from_blob(const_cast<int64_t*>(batch.data()), {T * B * L}, at::kLong));
      }
      const at::Tensor lengths = at::full({T * B}, L, at::kInt);
      at::Tensor last;
      runs = time_runs(o, ids.size(), [&](size_t k) {
        last = ebc.forward(torchrec::KeyedJaggedTensor::from_lengths(keys, values[k], lengths, at::Tensor(), 0));
      });
      extra << ",\"isa\":\"" << torchrec::kernels::pooled_lookup_isa() << "\"";
      sum = checksum(last.data_ptr<float>(), last.numel());
      mem = memory_kb();
    } else {
      throw std::runtime_error("unknown --impl " + o.impl);
    }

    std::printf("{\"impl\":\"%s\",\"median_ms\":%.6f,\"runs_ms\":[", o.impl.c_str(), median(runs));
    for (size_t i = 0; i < runs.size(); ++i) std::printf("%s%.6f", i ? "," : "", runs[i]);
    std::printf("],\"threads\":%d,\"checksum\":%.9g,\"peak_rss_kb\":%ld,\"rss_kb\":%ld,\"anon_huge_kb\":%ld%s}\n", threads,
                sum, mem.count("VmHWM") ? mem.at("VmHWM") : -1L, mem.count("VmRSS") ? mem.at("VmRSS") : -1L,
                mem.count("AnonHugePages") ? mem.at("AnonHugePages") : -1L, extra.str().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "torchrec_bench: %s\n", e.what());
    return 1;
  }
}
