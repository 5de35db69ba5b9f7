// Exact selection of the largest activations, with deterministic ties (lowest flat index wins).
#pragma once

#include <cstdint>
#include <vector>

namespace btk {

// Selected (row, latent, value) triples in row-major order. Only positive values are kept: a
// selected zero contributes nothing to the reconstruction or to any gradient.
template <typename scalar_t>
struct SparseRows {
  std::vector<int64_t> row_ptr;  // rows + 1 offsets into col/val
  std::vector<int64_t> col;
  std::vector<scalar_t> val;

  int64_t nnz() const { return static_cast<int64_t>(col.size()); }
  int64_t rows() const { return static_cast<int64_t>(row_ptr.size()) - 1; }
};

// The `count` largest positive entries of the whole rows x cols matrix (BatchTopK).
template <typename scalar_t>
SparseRows<scalar_t> select_batch_topk(const scalar_t* values, int64_t rows, int64_t cols, int64_t count);

// The `k` largest positive entries of each row (TopK, and AuxK over dead latents).
template <typename scalar_t>
SparseRows<scalar_t> select_row_topk(const scalar_t* values, int64_t rows, int64_t cols, int64_t k);

}  // namespace btk
