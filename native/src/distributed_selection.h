// BatchTopK selection over a batch whose rows are spread across the ranks of a group.
#pragma once

#include "collective.h"
#include "selection.h"

namespace btk {

// This rank's part of the `count` largest positive entries of the global matrix, whose rows the
// ranks hold in consecutive blocks in rank order. Exactly the entries select_batch_topk picks from
// the whole matrix, ties at the boundary included (the lowest global row-major index wins): a radix
// select whose histograms are summed over the ranks, nothing of the matrix itself sent.
template <typename scalar_t>
SparseRows<scalar_t> select_batch_topk_across(const scalar_t* values, int64_t rows, int64_t cols, int64_t count,
                                              Collective& group);

}  // namespace btk
