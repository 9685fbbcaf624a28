// Small builders shared by the core tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "core/keyed_jagged_tensor.h"
#include "core/table_spec.h"

namespace torchrec::test {

inline TableSpec table(std::string name, int64_t rows, int64_t dim, std::vector<std::string> features = {},
                       Pooling pooling = Pooling::Sum, c10::ScalarType dtype = at::kFloat) {
  TableSpec spec;
  spec.name = name;
  spec.num_embeddings = rows;
  spec.embedding_dim = dim;
  spec.dtype = dtype;
  spec.pooling = pooling;
  spec.feature_names = features.empty() ? std::vector<std::string>{name} : std::move(features);
  spec.init_min = -0.5;
  spec.init_max = 0.5;
  return spec;
}

// A KJT from int64 ids and lengths, key-major.
inline KeyedJaggedTensor kjt(std::vector<std::string> keys, std::vector<int64_t> ids, std::vector<int64_t> lengths,
                             std::vector<float> weights = {}) {
  at::Tensor w = weights.empty() ? at::Tensor() : at::tensor(weights, at::kFloat);
  return KeyedJaggedTensor::from_lengths(std::move(keys), at::tensor(ids, at::kLong), at::tensor(lengths, at::kLong),
                                         w);
}

// Runs `body`, expects a torchrec::Error with `code` whose message contains `mention`.
template <typename Body>
void expect_error(Body&& body, ErrorCode code, const std::string& mention) {
  try {
    body();
    ADD_FAILURE() << "expected " << error_code_name(code) << " mentioning \"" << mention << "\"";
  } catch (const Error& e) {
    EXPECT_STREQ(error_code_name(e.code()), error_code_name(code)) << e.what();
    EXPECT_NE(std::string(e.what()).find(mention), std::string::npos) << e.what();
  }
}

}  // namespace torchrec::test
