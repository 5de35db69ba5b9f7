// BatchTopK selection over a batch whose rows are spread across the ranks of a group.
#pragma once

#include "collective.h"
#include "selection.h"

namespace btk {

// How the global matrix is spread over the ranks: consecutive blocks in rank order, of rows (data
// parallelism: each rank its part of the batch) or of columns (latent sharding: each rank its latents
// for the whole batch).
enum class Split { kRows, kColumns };

// This rank's part of the `count` largest positive entries of the global matrix. Exactly the entries
// select_batch_topk picks from the whole matrix, ties at the boundary included (the lowest global
// row-major index wins): a radix select whose histograms are summed over the ranks, nothing of the
// matrix itself sent.
template <typename scalar_t>
SparseRows<scalar_t> select_batch_topk_across(const scalar_t* values, int64_t rows, int64_t cols, int64_t count,
                                              Collective& group, Split split = Split::kRows);

// This rank's part of the `k` largest positive entries of each row of a matrix whose columns the ranks
// hold in consecutive blocks in rank order: exactly what select_row_topk picks from the whole rows,
// ties to the lowest column. Each rank's own k best of every row are gathered (rows * k values per
// rank, by all-reduce) and ranked the same way on every rank.
template <typename scalar_t>
SparseRows<scalar_t> select_row_topk_across(const scalar_t* values, int64_t rows, int64_t cols, int64_t k,
                                            Collective& group);

}  // namespace btk
