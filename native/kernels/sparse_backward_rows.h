// The CPU backward's row loop and the optimizers' row arithmetic (FBGEMM v0.3.2's exact rules, see
// test/fixtures/golden/OPTIMIZERS.md), written once and compiled once per instruction set: each file
// that includes this defines TORCHREC_BWD_NS (a namespace of its own, so the copies never meet at link
// time) and TORCHREC_BWD_TARGET (a target attribute, empty for the portable copy) first, and includes
// every header this one needs before it. The rules are plain loops over __restrict rows, inlined into
// the target-attributed loop, so the compiler vectorizes them for that instruction set. Including files
// turn FMA contraction off: vectorizing a loop keeps each element's operations and their order, so
// every copy gives the bits of the scalar rule. Row-wise reductions (sum_of_squares) keep a fixed
// order; Lamb's norms are summed in element order, which the compiler does not vectorize.
// No include guard: one inclusion per instruction set.

namespace torchrec::kernels::TORCHREC_BWD_NS {
using detail::RowJob;
namespace {

#define TORCHREC_BWD_INLINE TORCHREC_BWD_TARGET inline __attribute__((always_inline))

// Per-step constants of the rule applied to one row: `w` the row in fp32 (updated in place), `g` its
// summed gradient, `s` dim floats of scratch. Every weight-decay term uses the pre-update row.
template <RuleKind K>
struct Rule;

// EXACT_SGD: w <- w - lr * g.
template <>
struct Rule<RuleKind::Sgd> {
  static TORCHREC_BWD_INLINE void apply(const RowRule& r, int64_t, float* __restrict w, const float* __restrict g,
                                        float* __restrict, int64_t dim) {
    const float lr = r.lr;
    for (int64_t d = 0; d < dim; ++d) w[d] -= lr * g[d];
  }
};

// EXACT_ADAGRAD: m <- m + g^2 ; w <- w - lr * g / (sqrt(m) + eps). No weight decay in FBGEMM's rule.
template <>
struct Rule<RuleKind::Adagrad> {
  static TORCHREC_BWD_INLINE void apply(const RowRule& r, int64_t row, float* __restrict w, const float* __restrict g,
                                        float* __restrict root, int64_t dim) {
    float* __restrict m = r.state[0] + row * dim;
    const float lr = r.lr, eps = r.eps;
    for (int64_t d = 0; d < dim; ++d) {
      m[d] += g[d] * g[d];
      root[d] = m[d];
    }
    sqrt_in_place(root, dim);
    for (int64_t d = 0; d < dim; ++d) w[d] -= lr * g[d] / (root[d] + eps);
  }
};

// EXACT_ROWWISE_ADAGRAD: g~ = g + wd*w (L2 only); m <- m + mean(g~^2); mult = lr / (sqrt(m) + eps);
// w <- corr * w - mult * g, corr = 1 - mult*wd (L2) | 1 - lr*wd (decoupled) | 1. FBGEMM's fp32 CPU
// fast path (GenerateSparseAdaGrad) ignores weight decay; we follow the templated rule, which honours it.
template <>
struct Rule<RuleKind::RowwiseAdagrad> {
  static TORCHREC_BWD_INLINE void apply(const RowRule& r, int64_t row, float* __restrict w, const float* __restrict g,
                                        float* __restrict s, int64_t dim) {
    const float wd = r.weight_decay;
    const bool l2 = r.decay == RuleDecay::L2;
    if (l2) {
      for (int64_t d = 0; d < dim; ++d) s[d] = g[d] + wd * w[d];
    }
    const float sum_sq = sum_of_squares(l2 ? s : g, dim);
    float* m = r.state[0] + row;
    *m += sum_sq / static_cast<float>(dim);
    const float mult = r.lr / (std::sqrt(*m) + r.eps);
    float corr = 1.0f;
    if (l2) corr = 1.0f - mult * wd;
    if (r.decay == RuleDecay::Decoupled) corr = 1.0f - r.lr * wd;
    for (int64_t d = 0; d < dim; ++d) w[d] = corr * w[d] - mult * g[d];
  }
};

// ADAM: lazy (only touched rows and their moments move), bias correction with the global step t,
// decoupled weight decay scaled by lr: w <- w - lr * ((m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps) + wd * w).
template <>
struct Rule<RuleKind::Adam> {
  static TORCHREC_BWD_INLINE void apply(const RowRule& r, int64_t row, float* __restrict w, const float* __restrict g,
                                        float* __restrict root, int64_t dim) {
    float* __restrict m = r.state[0] + row * dim;
    float* __restrict v = r.state[1] + row * dim;
    const float b1 = r.beta1, b2 = r.beta2, a1 = r.one_minus_beta1, a2 = r.one_minus_beta2;
    const float eps = r.eps, wd = r.weight_decay, lr = r.lr, bias1 = r.bias1, bias2 = r.bias2;
    for (int64_t d = 0; d < dim; ++d) {
      m[d] = b1 * m[d] + a1 * g[d];
      v[d] = b2 * v[d] + a2 * g[d] * g[d];
      root[d] = v[d] / bias2;
    }
    sqrt_in_place(root, dim);
    for (int64_t d = 0; d < dim; ++d) w[d] -= lr * ((m[d] / bias1) / (root[d] + eps) + wd * w[d]);
  }
};

// PARTIAL_ROWWISE_ADAM: Adam whose second moment is one scalar per row, v <- b2*v + (1-b2) * mean(g^2).
template <>
struct Rule<RuleKind::PartialRowwiseAdam> {
  static TORCHREC_BWD_INLINE void apply(const RowRule& r, int64_t row, float* __restrict w, const float* __restrict g,
                                        float* __restrict, int64_t dim) {
    const float b1 = r.beta1, b2 = r.beta2, a1 = r.one_minus_beta1, a2 = r.one_minus_beta2;
    const float eps = r.eps, wd = r.weight_decay, lr = r.lr, bias1 = r.bias1;
    const float sum_sq = sum_of_squares(g, dim);
    float* v = r.state[1] + row;
    *v = b2 * *v + a2 * (sum_sq / static_cast<float>(dim));
    const float denom = std::sqrt(*v / r.bias2) + eps;
    float* __restrict m = r.state[0] + row * dim;
    for (int64_t d = 0; d < dim; ++d) {
      m[d] = b1 * m[d] + a1 * g[d];
      w[d] -= lr * ((m[d] / bias1) / denom + wd * w[d]);
    }
  }
};

// LAMB: Adam moments, u = m_hat / (sqrt(v_hat) + eps) + wd * w, then a per-row trust ratio
// ||w|| / ||u|| scales the step: w <- w - lr * ratio * u. FBGEMM has no guard for ||u|| = 0 and
// neither do we (OPTIMIZERS.md). The norms are summed in element order, as the one-pass rule would.
template <>
struct Rule<RuleKind::Lamb> {
  static TORCHREC_BWD_INLINE void apply(const RowRule& r, int64_t row, float* __restrict w, const float* __restrict g,
                                        float* __restrict u, int64_t dim) {
    float* __restrict m = r.state[0] + row * dim;
    float* __restrict v = r.state[1] + row * dim;
    const float b1 = r.beta1, b2 = r.beta2, a1 = r.one_minus_beta1, a2 = r.one_minus_beta2;
    const float eps = r.eps, wd = r.weight_decay, bias1 = r.bias1, bias2 = r.bias2;
    for (int64_t d = 0; d < dim; ++d) {
      m[d] = b1 * m[d] + a1 * g[d];
      v[d] = b2 * v[d] + a2 * g[d] * g[d];
      u[d] = v[d] / bias2;
    }
    sqrt_in_place(u, dim);
    for (int64_t d = 0; d < dim; ++d) u[d] = (m[d] / bias1) / (u[d] + eps) + wd * w[d];
    float w_sq = 0.0f;
    float u_sq = 0.0f;
    for (int64_t d = 0; d < dim; ++d) {
      w_sq += w[d] * w[d];
      u_sq += u[d] * u[d];
    }
    const float ratio = std::sqrt(w_sq) / std::sqrt(u_sq);
    const float scale = r.lr * ratio;
    for (int64_t d = 0; d < dim; ++d) w[d] -= scale * u[d];
  }
};

// Rows are updated in increasing order, but the gaps between touched rows defeat the hardware
// prefetcher; asking for the row (and its state) some segments ahead, and the gradient a few
// occurrences ahead, hides most of the memory latency. The two kinds of loads run in separate
// passes over a block of kRowBlock rows (gradients summed first, then the rows updated, as FBGEMM's
// CPU path does): interleaved, the gradient prefetches took the miss buffers the rows needed. Half a
// block ahead measured 8-12% faster than 16 rows (bench/results/backward.md).
constexpr int64_t kPrefetchSegments = 32;
constexpr int64_t kPrefetchOccurrences = 12;

TORCHREC_BWD_INLINE void prefetch_bytes(const void* p, int64_t bytes, bool write) {
  const char* c = static_cast<const char*>(p);
  for (int64_t off = 0; off < bytes; off += 64) {
    if (write) {
      __builtin_prefetch(c + off, 1);
    } else {
      __builtin_prefetch(c + off, 0);
    }
  }
}

TORCHREC_BWD_INLINE void prefetch_state(const RowRule& r, int64_t row, int64_t dim) {
  for (int i = 0; i < 2 && r.state[i] != nullptr; ++i) {
    if (r.state_per_element[i]) {
      prefetch_bytes(r.state[i] + row * dim, dim * static_cast<int64_t>(sizeof(float)), true);
    } else {
      __builtin_prefetch(r.state[i] + row, 1);
    }
  }
}

// acc <- the sum over the segment's occurrences k (in order) of scale[k] * grad[grad_offset[k]...],
// starting from +0 as a zero-filled accumulator would.
TORCHREC_BWD_INLINE void sum_segment(const RowJob& job, int64_t begin, int64_t end, int64_t occ_end,
                                     float* __restrict acc) {
  const int64_t dim = job.dim;
  const int64_t grad_bytes = dim * static_cast<int64_t>(sizeof(float));
  for (int64_t k = begin; k < end; ++k) {
    if (k + kPrefetchOccurrences < occ_end) {
      prefetch_bytes(job.grad + job.grad_offset[k + kPrefetchOccurrences], grad_bytes, false);
    }
    const float c = job.scale[k];
    const float* __restrict src = job.grad + job.grad_offset[k];
    if (k == begin) {
      for (int64_t d = 0; d < dim; ++d) acc[d] = 0.0f + c * src[d];
    } else {
      for (int64_t d = 0; d < dim; ++d) acc[d] += c * src[d];
    }
  }
}

template <RuleKind K, typename Row>
TORCHREC_BWD_TARGET void update_range(const RowJob& job, int64_t first, int64_t last, float* buffers) {
  const int64_t dim = job.dim;
  const int64_t row_bytes = dim * static_cast<int64_t>(sizeof(Row));
  float* __restrict sums = buffers;  // kRowBlock rows of summed gradient
  float* __restrict scratch = buffers + detail::kRowBlock * dim;
  float* __restrict wide = scratch + dim;
  Row* rows = static_cast<Row*>(job.rows);
  const int64_t occ_end = job.seg_start[last];
  for (int64_t k = job.seg_start[first]; k < std::min(occ_end, job.seg_start[first] + kPrefetchOccurrences); ++k) {
    prefetch_bytes(job.grad + job.grad_offset[k], dim * static_cast<int64_t>(sizeof(float)), false);
  }
  for (int64_t b0 = first; b0 < last; b0 += detail::kRowBlock) {
    const int64_t b1 = std::min(last, b0 + detail::kRowBlock);
    for (int64_t s = b0; s < b1; ++s)
      sum_segment(job, job.seg_start[s], job.seg_start[s + 1], occ_end, sums + (s - b0) * dim);
    for (int64_t s = b0; s < std::min(b1, b0 + kPrefetchSegments); ++s) {
      prefetch_bytes(rows + job.unique_row[s] * dim, row_bytes, true);
      prefetch_state(job.rule, job.unique_row[s], dim);
    }
    for (int64_t s = b0; s < b1; ++s) {
      if (s + kPrefetchSegments < b1) {
        const int64_t ahead = job.unique_row[s + kPrefetchSegments];
        prefetch_bytes(rows + ahead * dim, row_bytes, true);
        prefetch_state(job.rule, ahead, dim);
      }
      const float* __restrict acc = sums + (s - b0) * dim;
      const int64_t row = job.unique_row[s];
      Row* target = rows + row * dim;
      if constexpr (std::is_same_v<Row, float>) {
        Rule<K>::apply(job.rule, row, target, acc, scratch, dim);
      } else {
        // fp16 tables: update in fp32 from the widened row, round the new row to fp16 once (stochastically
        // by default, as FBGEMM).
        for (int64_t d = 0; d < dim; ++d) wide[d] = static_cast<float>(target[d]);
        Rule<K>::apply(job.rule, row, wide, acc, scratch, dim);
        if (job.rounding != nullptr) {
          const uint64_t key = sr_row_key(*job.rounding, row);
          for (int64_t d = 0; d < dim; ++d)
            target[d] = stochastic_round_half(wide[d], sr_bits(key, job.rounding->first_col + d));
        } else {
          for (int64_t d = 0; d < dim; ++d) target[d] = c10::Half(wide[d]);
        }
      }
    }
  }
}

template <RuleKind K>
TORCHREC_BWD_TARGET void update_kind(const RowJob& job, int64_t first, int64_t last, float* buffers) {
  if (job.half) {
    update_range<K, c10::Half>(job, first, last, buffers);
  } else {
    update_range<K, float>(job, first, last, buffers);
  }
}

#undef TORCHREC_BWD_INLINE

}  // namespace

TORCHREC_BWD_TARGET void update_rows(const RowJob& job, int64_t first, int64_t last, float* buffers) {
  switch (job.rule.kind) {
    case RuleKind::Sgd: return update_kind<RuleKind::Sgd>(job, first, last, buffers);
    case RuleKind::Adagrad: return update_kind<RuleKind::Adagrad>(job, first, last, buffers);
    case RuleKind::RowwiseAdagrad: return update_kind<RuleKind::RowwiseAdagrad>(job, first, last, buffers);
    case RuleKind::Adam: return update_kind<RuleKind::Adam>(job, first, last, buffers);
    case RuleKind::PartialRowwiseAdam: return update_kind<RuleKind::PartialRowwiseAdam>(job, first, last, buffers);
    case RuleKind::Lamb: return update_kind<RuleKind::Lamb>(job, first, last, buffers);
  }
}

}  // namespace torchrec::kernels::TORCHREC_BWD_NS
