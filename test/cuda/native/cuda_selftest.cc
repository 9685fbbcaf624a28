// GPU self-test of the CUDA path without Node (built by cmake/CudaKernels.cmake with
// -DTORCHREC_BUILD_CUDA_SELFTEST=ON; scripts/gpu-check.sh runs it). the CUDA store and the kernels are
// checked against the CPU EmbeddingBagCollection of the core, which the golden tests pin to TorchRec
// and FBGEMM:
//   forward   every load path (dims 1..260, fp32/fp16, SUM/MEAN, weights, int32/int64 ids, B up to 5000)
//   training  every optimizer over 3 steps with duplicate ids, shared tables, fp16 rows, a hot row
// then, with --bench, times the fused forward kernel against one at::embedding_bag per table on the
// GPU (the TorchRec way) and a device-to-device copy of the same bytes. Exit status 1 on any mismatch.
#include <ATen/ATen.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/embedding_bag_collection.h"
#include "core/optimizer.h"
#include "kernels/cuda_kernels.h"

using namespace torchrec;

namespace {

int failures = 0;

void expect_close(const std::string& what, double diff, double atol) {
  const bool ok = diff <= atol;  // NaN fails
  std::printf("%s %s: max |diff| %.3g (atol %.1g)\n", ok ? "ok  " : "FAIL", what.c_str(), diff, atol);
  if (!ok) ++failures;
}

double max_diff(const at::Tensor& a, const at::Tensor& b) {
  if (a.numel() != b.numel()) return INFINITY;
  if (a.numel() == 0) return 0.0;
  return (a.reshape({-1}).to(at::kDouble) - b.reshape({-1}).to(at::kDouble)).abs().max().item<double>();
}

TableSpec table(std::string name, int64_t rows, int64_t dim, bool half, bool mean, std::vector<std::string> features) {
  TableSpec t;
  t.name = std::move(name);
  t.num_embeddings = rows;
  t.embedding_dim = dim;
  t.dtype = half ? at::kHalf : at::kFloat;
  t.pooling = mean ? Pooling::Mean : Pooling::Sum;
  t.feature_names = std::move(features);
  t.init_min = -0.5;
  t.init_max = 0.5;
  return t;
}

// Every load path of the forward kernel; one feature read by two tables.
std::vector<TableSpec> coverage_tables(bool weighted) {
  std::vector<TableSpec> out;
  const int64_t dims[] = {1, 3, 4, 8, 12, 16, 33, 64, 128, 136, 260};
  for (int i = 0; i < 11; ++i) {
    for (int j = 0; j < 2; ++j) {
      const std::string tag = std::to_string(i) + "_" + std::to_string(j);
      out.push_back(table("t" + tag, 50 + 13 * i, dims[i], j == 1, !weighted && (i + j) % 2 == 1, {"f" + tag}));
    }
  }
  out[0].feature_names.push_back("shared");
  out[3].feature_names.push_back("shared");
  return out;
}

// Few rows per table, so ids repeat inside bags, across bags and across the features of a table.
std::vector<TableSpec> training_tables(bool weighted) {
  std::vector<TableSpec> out;
  const int64_t dims[] = {4, 12, 64, 136, 260};
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 2; ++j) {
      const std::string tag = std::to_string(i) + "_" + std::to_string(j);
      out.push_back(table("t" + tag, 24 + 5 * i, dims[i], j == 1, !weighted && (i + j) % 2 == 1, {"f" + tag}));
    }
  }
  out[0].feature_names.push_back("shared");
  out[0].feature_names.push_back("also_t0");
  out[5].feature_names.push_back("shared");
  return out;
}

KeyedJaggedTensor random_kjt(const std::vector<TableSpec>& tables, int64_t batch, int max_len, bool weighted,
                             bool int32, std::mt19937_64& gen) {
  std::vector<std::string> keys;
  std::vector<int64_t> rows;
  for (const auto& t : tables) {
    for (const auto& f : t.feature_names) {
      auto it = std::find(keys.begin(), keys.end(), f);
      if (it == keys.end()) {
        keys.push_back(f);
        rows.push_back(t.num_embeddings);
      } else {
        rows[it - keys.begin()] = std::min(rows[it - keys.begin()], t.num_embeddings);
      }
    }
  }
  std::vector<int64_t> lengths, values;
  std::vector<float> weights;
  std::uniform_int_distribution<int> len(0, max_len);
  std::uniform_real_distribution<float> w(-1.0f, 1.0f);
  for (size_t k = 0; k < keys.size(); ++k) {
    std::uniform_int_distribution<int64_t> id(0, rows[k] - 1);
    for (int64_t b = 0; b < batch; ++b) {
      const int l = len(gen);
      lengths.push_back(l);
      for (int j = 0; j < l; ++j) {
        values.push_back(id(gen));
        weights.push_back(w(gen));
      }
    }
  }
  const auto type = int32 ? at::kInt : at::kLong;
  at::Tensor v = at::tensor(values, at::kLong).to(type);
  at::Tensor l = at::tensor(lengths, at::kLong).to(type);
  at::Tensor wt = weighted ? at::tensor(weights, at::kFloat) : at::Tensor();
  return KeyedJaggedTensor::from_lengths(keys, v, l, wt, batch);
}

void check_forward() {
  std::mt19937_64 gen(1);
  for (bool weighted : {false, true}) {
    for (bool int32 : {false, true}) {
      for (int64_t batch : {1, 7, 64, 5000}) {
        const auto tables = coverage_tables(weighted);
        // The same seed draws the same initial weights on every device.
        EmbeddingBagCollection cpu(tables, weighted, 3);
        EmbeddingBagCollection gpu(tables, weighted, 3, {}, "cuda:0");
        const auto kjt = random_kjt(tables, batch, batch > 1000 ? 20 : 9, weighted, int32, gen);
        const at::Tensor want = cpu.forward(kjt);
        at::Tensor got = at::full_like(want, NAN);
        gpu.forward(kjt, got.data_ptr<float>());
        double fp32 = 0, fp16 = 0;
        for (const auto& block : cpu.plan().outputs()) {
          const double d = max_diff(got.narrow(1, block.column, block.dim), want.narrow(1, block.column, block.dim));
          double& worst = tables[block.table].dtype == at::kHalf ? fp16 : fp32;
          worst = std::max(worst, std::isnan(d) ? INFINITY : d);
        }
        const std::string what = std::string("forward ") + (weighted ? "weighted" : "unweighted") +
                                 (int32 ? " int32" : " int64") + " B=" + std::to_string(batch);
        expect_close(what + " fp32 tables", fp32, 1e-5);
        expect_close(what + " fp16 tables", fp16, 2e-3);
      }
    }
  }
}

std::vector<std::pair<std::string, OptimizerSpec>> optimizer_cases() {
  auto spec = [](OptimizerKind kind, float wd, WeightDecayMode mode) {
    OptimizerSpec s;
    s.kind = kind;
    s.weight_decay = wd;
    s.weight_decay_mode = mode;
    return s;
  };
  const auto none = WeightDecayMode::None;
  return {{"EXACT_SGD", spec(OptimizerKind::Sgd, 0, none)},
          {"EXACT_ADAGRAD", spec(OptimizerKind::Adagrad, 0, none)},
          {"EXACT_ROWWISE_ADAGRAD none", spec(OptimizerKind::RowwiseAdagrad, 0, none)},
          {"EXACT_ROWWISE_ADAGRAD l2", spec(OptimizerKind::RowwiseAdagrad, 0.05f, WeightDecayMode::L2)},
          {"EXACT_ROWWISE_ADAGRAD decoupled", spec(OptimizerKind::RowwiseAdagrad, 0.05f, WeightDecayMode::Decoupled)},
          {"ADAM", spec(OptimizerKind::Adam, 0.05f, none)},
          {"PARTIAL_ROWWISE_ADAM", spec(OptimizerKind::PartialRowwiseAdam, 0.01f, none)},
          {"LAMB", spec(OptimizerKind::Lamb, 0.01f, none)}};
}

// Runs `steps` identical backwards on a CPU and a CUDA collection, then compares weights and state.
void train_and_compare(const std::string& name, const std::vector<TableSpec>& tables, const OptimizerSpec& spec,
                       bool weighted, int steps, const std::function<KeyedJaggedTensor(int)>& make_kjt,
                       std::mt19937_64& gen) {
  const float lr = spec.kind == OptimizerKind::Sgd || spec.kind == OptimizerKind::Adagrad ||
                           spec.kind == OptimizerKind::RowwiseAdagrad
                       ? 0.1f
                       : 0.01f;
  OptimizerSpec with_lr = spec;
  with_lr.lr = lr;
  std::vector<std::optional<OptimizerSpec>> specs(tables.size(), with_lr);
  EmbeddingBagCollection cpu(tables, weighted, 11, specs);
  EmbeddingBagCollection gpu(tables, weighted, 11, specs, "cuda:0");
  std::uniform_real_distribution<float> g(-1.0f, 1.0f);
  for (int t = 1; t <= steps; ++t) {
    const auto kjt = make_kjt(t);
    std::vector<float> grad(kjt.stride() * cpu.output_width());
    for (auto& x : grad) x = g(gen);
    cpu.backward(kjt, grad.data(), static_cast<int64_t>(grad.size()));
    gpu.backward(kjt, grad.data(), static_cast<int64_t>(grad.size()));
  }
  double fp32 = 0, fp16 = 0;
  for (size_t t = 0; t < tables.size(); ++t) {
    double& worst = tables[t].dtype == at::kHalf ? fp16 : fp32;
    const std::string& table = tables[t].name;
    worst = std::max(worst, max_diff(gpu.get_weights(table), cpu.get_weights(table)));
    for (const auto& state : cpu.state_layout(table)) {
      worst = std::max(worst, max_diff(gpu.optimizer_state(table, state.name), cpu.optimizer_state(table, state.name)));
    }
  }
  expect_close(name + " fp32 tables (weights, states)", fp32, 1e-5);
  expect_close(name + " fp16 tables (weights, states)", fp16, 2e-3);
}

void check_training() {
  std::mt19937_64 gen(2);
  for (bool weighted : {false, true}) {
    const auto tables = training_tables(weighted);
    for (const auto& [name, spec] : optimizer_cases()) {
      train_and_compare(
          std::string("train ") + (weighted ? "weighted " : "") + name, tables, spec, weighted, 3,
          [&](int t) { return random_kjt(tables, 9, 7, weighted, t % 2 == 0, gen); }, gen);
    }
  }
  // One row hit 20000 times in one batch: a single long segment.
  const std::vector<TableSpec> hot = {table("hot", 50, 16, false, false, {"h"})};
  for (const auto& [name, spec] : optimizer_cases()) {
    train_and_compare(
        "train hot row " + name, hot, spec, false, 2,
        [&](int) {
          std::vector<int64_t> values(20000);
          for (size_t i = 0; i < values.size(); ++i) values[i] = i % 7 == 0 ? static_cast<int64_t>(i % 50) : 3;
          return KeyedJaggedTensor::from_lengths({"h"}, at::tensor(values, at::kLong), at::full({1000}, 20, at::kLong),
                                                 at::Tensor(), 1000);
        },
        gen);
  }
}

// --bench: the fused forward kernel vs one at::embedding_bag per table on the same GPU, and a
// device-to-device copy of the same number of bytes (the memory system's limit for this traffic).
void bench(int64_t tables_n, int64_t rows, int64_t dim, bool half, int64_t batch, int64_t len) {
  namespace ck = cuda_kernels;
  const auto dtype = half ? at::kHalf : at::kFloat;
  const auto cuda = at::TensorOptions().device(at::kCUDA, 0);
  std::vector<at::Tensor> weights;
  for (int64_t t = 0; t < tables_n; ++t) weights.push_back(at::rand({rows, dim}, cuda.dtype(dtype)));
  const at::Tensor ids = at::randint(0, rows, {tables_n * batch * len}, cuda.dtype(at::kLong));
  const at::Tensor offsets = at::arange(0, tables_n * batch * len + 1, len, cuda.dtype(at::kLong));
  at::Tensor out = at::empty({batch, tables_n * dim}, cuda.dtype(at::kFloat));
  std::vector<ck::ForwardFeature> descs(tables_n);
  for (int64_t t = 0; t < tables_n; ++t) {
    descs[t].rows = weights[t].data_ptr();
    descs[t].dim = dim;
    descs[t].key = t;
    descs[t].out_column = t * dim;
    descs[t].half = half;
  }
  const ck::ForwardPlan plan = ck::plan_forward(descs.data(), static_cast<int32_t>(tables_n));
  at::Tensor dev_descs =
      at::empty({static_cast<int64_t>(descs.size() * sizeof(ck::ForwardFeature))}, cuda.dtype(at::kByte));
  cudaMemcpy(dev_descs.data_ptr(), descs.data(), dev_descs.numel(), cudaMemcpyHostToDevice);
  ck::ForwardArgs args;
  args.features = static_cast<const ck::ForwardFeature*>(dev_descs.data_ptr());
  args.num_features = static_cast<int32_t>(tables_n);
  args.offsets = offsets.data_ptr<int64_t>();
  args.ids = ids.data_ptr();
  args.batch = batch;
  args.out = out.data_ptr<float>();
  args.out_width = tables_n * dim;

  const double bytes = double(batch) * len * tables_n * dim * (half ? 2 : 4) + double(batch) * tables_n * dim * 4;
  at::Tensor copy_src = at::empty({static_cast<int64_t>(bytes / 2)}, cuda.dtype(at::kByte));
  at::Tensor copy_dst = at::empty_like(copy_src);
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  auto median_ms = [&](const std::function<void()>& fn) {
    for (int i = 0; i < 3; ++i) fn();
    std::vector<float> ms;
    for (int i = 0; i < 20; ++i) {
      cudaEventRecord(start, nullptr);
      fn();
      cudaEventRecord(stop, nullptr);
      cudaEventSynchronize(stop);
      float m = 0;
      cudaEventElapsedTime(&m, start, stop);
      ms.push_back(m);
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  };
  const float fused = median_ms([&] {
    if (ck::pooled_lookup_forward_cuda(args, plan, nullptr) != cudaSuccess) ++failures;
  });
  const float naive = median_ms([&] {
    for (int64_t t = 0; t < tables_n; ++t) {
      at::embedding_bag(weights[t], ids.narrow(0, t * batch * len, batch * len), offsets.narrow(0, 0, batch), false, 0);
    }
  });
  const float copy = median_ms([&] { copy_dst.copy_(copy_src); });  // reads and writes bytes/2 each
  std::printf(
      "bench %lld tables x %lld rows x D=%lld %s, B=%lld, L=%lld: fused kernel %.3f ms (%.0f GB/s), "
      "at::embedding_bag per table %.3f ms (%.2fx the fused time), device copy of the same bytes %.3f ms "
      "(fused at %.0f%% of it)\n",
      (long long)tables_n, (long long)rows, (long long)dim, half ? "fp16" : "fp32", (long long)batch, (long long)len,
      fused, bytes / fused / 1e6, naive, naive / fused, copy, 100.0 * copy / fused);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

}  // namespace

int main(int argc, char** argv) {
  const bool run_bench = argc > 1 && std::strcmp(argv[1], "--bench") == 0;
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("FAIL no CUDA device visible\n");
    return 1;
  }
  cudaDeviceProp prop;
  cudaGetDeviceProperties(&prop, 0);
  std::printf("cuda_selftest on %s (sm_%d%d, %d SMs)\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount);
  try {
    check_forward();
    check_training();
    if (run_bench) {
      bench(4, 10000, 16, false, 32, 4);       // S
      bench(8, 1000000, 64, false, 4096, 20);  // M
      bench(8, 2000000, 128, true, 4096, 20);  // H
    }
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    return 1;
  }
  std::printf("cuda_selftest: %s (%d failure(s))\n", failures == 0 ? "PASSED" : "FAILED", failures);
  return failures == 0 ? 0 : 1;
}
