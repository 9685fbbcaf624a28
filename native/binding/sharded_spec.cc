#include "binding/sharded_spec.h"

#include "binding/convert.h"
#include "binding/process_group_binding.h"
#include "distributed/sharded_collection.h"

namespace torchrec::binding {

bool wants_sharding(const Napi::Object& options) {
  return !is_nullish(options.Get("processGroup"));
}

std::shared_ptr<EmbeddingModule> make_sharded_module(const Napi::Object& options, ModuleSpec spec) {
  namespace dist = torchrec::distributed;
  if (spec.device != "cpu") {
    fail(ErrorCode::Device, "a sharded EmbeddingBagCollection runs on the CPU (gloo); got device \"", spec.device,
         "\"");
  }
  auto group = ProcessGroupBinding::group_of(options.Get("processGroup"), "processGroup");
  const Napi::Value raw = options.Get("placement");
  if (!raw.IsArray()) fail(ErrorCode::InvalidArgument, "placement must be an array");
  const Napi::Array list = raw.As<Napi::Array>();
  std::vector<dist::TablePlacement> placement;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    const std::string where = "placement[" + std::to_string(i) + "]";
    if (!list.Get(i).IsObject()) fail(ErrorCode::InvalidArgument, where, " must be an object");
    const Napi::Object entry = list.Get(i).As<Napi::Object>();
    dist::TablePlacement p;
    p.kind = to_enum<dist::ShardingKind>(entry.Get("kind"), (where + ".kind").c_str(),
                                         {{"table_wise", dist::ShardingKind::TableWise},
                                          {"row_wise", dist::ShardingKind::RowWise},
                                          {"column_wise", dist::ShardingKind::ColumnWise},
                                          {"table_row_wise", dist::ShardingKind::RowWise},
                                          {"data_parallel", dist::ShardingKind::DataParallel}});
    if (!entry.Get("ranks").IsArray()) fail(ErrorCode::InvalidArgument, where, ".ranks must be an array");
    const Napi::Array ranks = entry.Get("ranks").As<Napi::Array>();
    for (uint32_t r = 0; r < ranks.Length(); ++r) {
      p.ranks.push_back(static_cast<int>(to_int64(ranks.Get(r), (where + ".ranks").c_str(), 0, 1 << 30)));
    }
    placement.push_back(std::move(p));
  }
  const bool division = options.Get("gradientDivision").ToBoolean().Value();
  return std::make_shared<dist::ShardedEmbeddingBagCollection>(std::move(spec.tables), spec.is_weighted, spec.seed,
                                                               std::move(spec.optimizers), std::move(placement),
                                                               std::move(group), division, spec.stochastic_rounding);
}

}  // namespace torchrec::binding
