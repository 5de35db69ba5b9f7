// White-box: the shim's selection against torch.topk on the flattened tensor (the reference's
// selection), over many random matrices, with and without ties. Ties are compared as sets: the
// same values above the boundary, the same number at it, and ours at the lowest flat indices.
#include <torch/torch.h>

#include <gtest/gtest.h>

#include "selection.h"

namespace {

// Flat indices of the selection, in row-major order.
template <typename T>
std::vector<int64_t> flat(const btk::SparseRows<T>& s, int64_t cols) {
  std::vector<int64_t> out;
  for (int64_t r = 0; r < s.rows(); r++) {
    for (int64_t p = s.row_ptr[r]; p < s.row_ptr[r + 1]; p++) out.push_back(r * cols + s.col[p]);
  }
  return out;
}

void compare(const torch::Tensor& values, int64_t count, const std::string& where) {
  const int64_t rows = values.size(0), cols = values.size(1);
  auto ours = btk::select_batch_topk(values.data_ptr<float>(), rows, cols, count);
  auto mine = flat(ours, cols);
  auto flat_values = values.flatten();
  int64_t positives = (flat_values > 0).sum().item<int64_t>();
  int64_t kept = std::min(count, positives);
  EXPECT_TRUE(static_cast<int64_t>(mine.size()) == kept)
      << where + ": kept " + std::to_string(mine.size()) + ", expected " + std::to_string(kept);
  if (kept == 0) return;

  auto top = std::get<0>(flat_values.topk(kept));
  float boundary = top[kept - 1].item<float>();
  auto mine_t = torch::tensor(mine, torch::kInt64);
  auto mine_values = flat_values.index_select(0, mine_t);
  // The same multiset of values as torch.topk.
  EXPECT_TRUE(torch::equal(std::get<0>(mine_values.sort(0, true)), top))
      << where + ": selected values differ from torch.topk";
  // Everything above the boundary is kept; at the boundary, the lowest flat indices.
  int64_t above = (flat_values > boundary).sum().item<int64_t>();
  EXPECT_TRUE((mine_values > boundary).sum().item<int64_t>() == above)
      << where + ": entries above the boundary missing";
  auto at_boundary = (flat_values == boundary).nonzero().flatten();
  int64_t needed = kept - above;
  auto expected_ties = at_boundary.narrow(0, 0, needed);
  auto chosen_ties = mine_t.masked_select(mine_values == boundary);
  EXPECT_TRUE(torch::equal(chosen_ties, expected_ties)) << where + ": ties not resolved to the lowest flat indices";
}

}  // namespace

TEST(selection_vs_torch, same_selection_as_torch_topk_with_and_without_ties) {
  torch::manual_seed(3);
  for (int64_t rows : {1, 7, 64, 300}) {
    for (int64_t cols : {5, 53, 1000}) {
      for (int64_t k : {1, 3, 32}) {
        auto smooth = torch::randn({rows, cols});
        // Quantised values: many ties, also at the boundary.
        auto coarse = (torch::randn({rows, cols}) * 4).round() / 4;
        // Mostly negative: fewer positives than k * rows.
        auto sparse = torch::randn({rows, cols}) - 2.5;
        std::string shape = std::to_string(rows) + "x" + std::to_string(cols) + " k=" + std::to_string(k);
        compare(smooth, k * rows, "smooth " + shape);
        compare(coarse, k * rows, "coarse " + shape);
        compare(sparse, k * rows, "sparse " + shape);
      }
    }
  }
}
