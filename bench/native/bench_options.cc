#include "bench_options.h"

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace bench {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);) {
    if (!part.empty()) out.push_back(part);
  }
  return out;
}

}  // namespace

Options parse(int argc, char** argv) {
  std::map<std::string, std::string> kv;
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strncmp(argv[i], "--", 2) != 0) throw std::runtime_error(std::string("unexpected argument ") + argv[i]);
    if (std::strcmp(argv[i], "--variant") == 0) {
      const std::string v = argv[i + 1];
      const size_t eq = v.find('=');
      if (eq == std::string::npos) throw std::runtime_error("--variant wants name=file,file,...");
      o.variants.emplace_back(v.substr(0, eq), split(v.substr(eq + 1), ','));
      continue;
    }
    kv[argv[i] + 2] = argv[i + 1];
  }
  auto need = [&](const char* k) {
    if (!kv.count(k)) throw std::runtime_error(std::string("missing --") + k);
    return kv[k];
  };
  o.impl = need("impl");
  o.tables = std::stoll(need("tables"));
  o.rows = std::stoll(need("rows"));
  o.dim = std::stoll(need("dim"));
  o.batch = std::stoll(need("batch"));
  o.pooling = std::stoll(need("pooling"));
  const std::string dtype = need("dtype");
  o.half = dtype == "fp16";
  o.bits = dtype == "int8" ? 8 : dtype == "int4" ? 4 : dtype == "int2" ? 2 : 0;
  if (!o.half && o.bits == 0 && dtype != "fp32") throw std::runtime_error("unknown --dtype " + dtype);
  if (o.variants.empty()) throw std::runtime_error("missing --variant name=files");
  if (kv.count("warmup")) o.warmup = std::stoi(kv["warmup"]);
  if (kv.count("runs")) o.runs = std::stoi(kv["runs"]);
  if (kv.count("calls")) o.calls = std::stoi(kv["calls"]);
  if (kv.count("threads")) o.threads = std::stoi(kv["threads"]);
  if (kv.count("thp")) o.thp = kv["thp"] != "0";
  if (kv.count("clock")) o.clock = kv["clock"];
  if (o.clock != "wall" && o.clock != "thread") throw std::runtime_error("--clock wants wall or thread");
  if (o.clock == "thread" && o.threads != 1) throw std::runtime_error("--clock thread needs --threads 1");
  if (kv.count("optimizer")) o.optimizer = kv["optimizer"];
  return o;
}

Batches read_ids(const Options& o, const std::vector<std::string>& files) {
  const size_t count = static_cast<size_t>(o.tables * o.batch * o.pooling);
  Batches batches;
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    std::vector<int64_t> ids(count);
    in.read(reinterpret_cast<char*>(ids.data()), static_cast<std::streamsize>(count * sizeof(int64_t)));
    if (!in) throw std::runtime_error("cannot read " + std::to_string(count) + " ids from " + file);
    batches.push_back(std::move(ids));
  }
  return batches;
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

}  // namespace bench
