// White-box: BatchTopK selection over a matrix split by rows (or by columns, and per-row TopK over
// columns) across the ranks of real Gloo groups (threads of this process on 127.0.0.1) picks exactly
// the entries the selection of the whole matrix picks, ties included, for 2 and 3 ranks, uneven
// blocks, f32 and f64.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <thread>

#include "distributed_selection.h"
#include "free_port.h"
#include "process_group.h"

namespace {

struct Case {
  std::string name;
  torch::Tensor values;  // [rows, cols]
  int64_t count;
};

std::vector<Case> cases() {
  torch::manual_seed(7);
  std::vector<Case> out;
  auto normal = torch::randn({37, 53});
  out.push_back({"normal f32", normal, 37 * 4});
  out.push_back({"normal f64", normal.to(torch::kFloat64), 37 * 4});
  // Few distinct values: many ties at the boundary, spread over every rank.
  auto ties = (torch::randn({41, 29}) * 2).round();
  out.push_back({"ties f32", ties, 41 * 3});
  out.push_back({"ties f64", ties.to(torch::kFloat64), 41 * 3});
  out.push_back({"all equal", torch::ones({10, 8}), 17});
  // Fewer positive entries than the count: every positive one is kept.
  auto sparse = torch::where(torch::rand({30, 40}) < 0.02, torch::rand({30, 40}), -torch::rand({30, 40}));
  out.push_back({"few positives", sparse, 30 * 5});
  out.push_back({"none positive", -torch::rand({9, 11}), 9});
  // Values so close that only the last bits tell them apart.
  auto close = 1.0f + torch::randint(0, 64, {23, 31}).to(torch::kFloat32) * 1.1920929e-07f;
  out.push_back({"last bits", close, 23 * 2});
  out.push_back({"large k", torch::randn({12, 16}), 12 * 16});
  return out;
}

// Flat (global) indices and values of a selection, row-major.
template <typename T>
std::vector<std::pair<int64_t, double>> flat(const btk::SparseRows<T>& s, int64_t cols, int64_t row_offset) {
  std::vector<std::pair<int64_t, double>> out;
  for (int64_t r = 0; r < s.rows(); r++) {
    for (int64_t p = s.row_ptr[r]; p < s.row_ptr[r + 1]; p++)
      out.emplace_back((row_offset + r) * cols + s.col[p], double(s.val[p]));
  }
  return out;
}

std::vector<std::pair<int64_t, double>> select_whole(const Case& c) {
  auto v = c.values.contiguous();
  if (v.scalar_type() == torch::kFloat64)
    return flat(btk::select_batch_topk(v.data_ptr<double>(), v.size(0), v.size(1), c.count), v.size(1), 0);
  return flat(btk::select_batch_topk(v.data_ptr<float>(), v.size(0), v.size(1), c.count), v.size(1), 0);
}

std::vector<std::pair<int64_t, double>> select_part(const Case& c, int64_t begin, int64_t end, btk::Collective& group) {
  auto v = c.values.narrow(0, begin, end - begin).contiguous();
  if (v.scalar_type() == torch::kFloat64) {
    return flat(btk::select_batch_topk_across(v.data_ptr<double>(), v.size(0), v.size(1), c.count, group), v.size(1),
                begin);
  }
  return flat(btk::select_batch_topk_across(v.data_ptr<float>(), v.size(0), v.size(1), c.count, group), v.size(1),
              begin);
}

// Global row-major indices of a selection from columns [begin, ...) of a matrix `cols` wide.
template <typename T>
std::vector<std::pair<int64_t, double>> flat_columns(const btk::SparseRows<T>& s, int64_t cols, int64_t begin) {
  std::vector<std::pair<int64_t, double>> out;
  for (int64_t r = 0; r < s.rows(); r++) {
    for (int64_t p = s.row_ptr[r]; p < s.row_ptr[r + 1]; p++) out.emplace_back(r * cols + begin + s.col[p], s.val[p]);
  }
  return out;
}

// Latent sharding: rank's columns [begin, end), BatchTopK over the whole matrix or TopK of each row
// (k = count / rows).
template <typename T>
std::vector<std::pair<int64_t, double>> select_columns(const Case& c, int64_t begin, int64_t end, bool per_row,
                                                       btk::Collective& group) {
  torch::Tensor v = c.values.to(c10::CppTypeToScalarType<T>::value).narrow(1, begin, end - begin).contiguous();
  const int64_t rows = v.size(0), k = std::max<int64_t>(1, c.count / rows);
  auto s = per_row
               ? btk::select_row_topk_across(v.data_ptr<T>(), rows, v.size(1), k, group)
               : btk::select_batch_topk_across(v.data_ptr<T>(), rows, v.size(1), c.count, group, btk::Split::kColumns);
  return flat_columns(s, c.values.size(1), begin);
}

template <typename T>
std::vector<std::pair<int64_t, double>> select_whole_rows(const Case& c, bool per_row) {
  torch::Tensor v = c.values.to(c10::CppTypeToScalarType<T>::value).contiguous();
  const int64_t rows = v.size(0), cols = v.size(1), k = std::max<int64_t>(1, c.count / rows);
  return flat(per_row ? btk::select_row_topk(v.data_ptr<T>(), rows, cols, k)
                      : btk::select_batch_topk(v.data_ptr<T>(), rows, cols, c.count),
              cols, 0);
}

}  // namespace

// Both group sizes run in one test: each needs its own group (a port), and the cases are shared.
TEST(selection_across_ranks, equals_the_selection_of_the_whole_matrix) {
  ASSERT_TRUE(btk::process_groups_available()) << "this build has no c10d/Gloo: distributed selection cannot be tested";
  const auto all = cases();
  for (int world : {2, 3}) {
    const int port = free_port();
    // parts[case][rank]: that rank's selection, in global indices.
    std::vector<std::vector<std::vector<std::pair<int64_t, double>>>> parts(
        all.size(), std::vector<std::vector<std::pair<int64_t, double>>>(world));
    std::vector<std::string> errors(world);
    std::vector<std::thread> ranks;
    for (int rank = 0; rank < world; rank++) {
      ranks.emplace_back([&, rank] {
        try {
          auto group = btk::join_process_group(rank, world, "127.0.0.1", port, std::chrono::seconds(30));
          for (size_t i = 0; i < all.size(); i++) {
            const int64_t rows = all[i].values.size(0);
            // Uneven blocks: the last rank holds the remainder and then some.
            const int64_t begin = rows * rank / (world + 1),
                          end = rank == world - 1 ? rows : rows * (rank + 1) / (world + 1);
            parts[i][rank] = select_part(all[i], begin, end, *group);
          }
        } catch (const std::exception& e) {
          errors[rank] = e.what();
        }
      });
    }
    for (auto& t : ranks) t.join();
    for (int rank = 0; rank < world; rank++)
      ASSERT_TRUE(errors[rank].empty()) << world << " ranks: rank " << rank << ": " << errors[rank];
    for (size_t i = 0; i < all.size(); i++) {
      std::vector<std::pair<int64_t, double>> joined;
      for (const auto& p : parts[i]) joined.insert(joined.end(), p.begin(), p.end());
      const auto whole = select_whole(all[i]);
      EXPECT_TRUE(joined == whole) << world << " ranks, " << all[i].name
                                   << ": the selection differs from one process's (" << joined.size() << " entries vs "
                                   << whole.size() << ")";
    }
  }
}

// Columns split across the ranks, unevenly (latent sharding): BatchTopK and per-row TopK pick exactly
// what the selection of the whole matrix picks, ties included.
TEST(selection_across_ranks, column_blocks_equal_the_selection_of_the_whole_matrix) {
  ASSERT_TRUE(btk::process_groups_available()) << "this build has no c10d/Gloo: distributed selection cannot be tested";
  const auto all = cases();
  for (int world : {2, 3}) {
    const int port = free_port();
    // parts[case][per_row][rank]: that rank's selection, in global indices.
    std::vector<std::vector<std::vector<std::vector<std::pair<int64_t, double>>>>> parts(
        all.size(), std::vector<std::vector<std::vector<std::pair<int64_t, double>>>>(
                        2, std::vector<std::vector<std::pair<int64_t, double>>>(world)));
    std::vector<std::string> errors(world);
    std::vector<std::thread> ranks;
    for (int rank = 0; rank < world; rank++) {
      ranks.emplace_back([&, rank] {
        try {
          auto group = btk::join_process_group(rank, world, "127.0.0.1", port, std::chrono::seconds(30));
          for (size_t i = 0; i < all.size(); i++) {
            const int64_t cols = all[i].values.size(1);
            const int64_t begin = cols * rank / (world + 1),
                          end = rank == world - 1 ? cols : cols * (rank + 1) / (world + 1);
            for (int per_row = 0; per_row < 2; per_row++) {
              parts[i][per_row][rank] = all[i].values.scalar_type() == torch::kFloat64
                                            ? select_columns<double>(all[i], begin, end, per_row, *group)
                                            : select_columns<float>(all[i], begin, end, per_row, *group);
            }
          }
        } catch (const std::exception& e) {
          errors[rank] = e.what();
        }
      });
    }
    for (auto& t : ranks) t.join();
    for (int rank = 0; rank < world; rank++)
      ASSERT_TRUE(errors[rank].empty()) << world << " ranks: rank " << rank << ": " << errors[rank];
    for (size_t i = 0; i < all.size(); i++) {
      for (int per_row = 0; per_row < 2; per_row++) {
        std::vector<std::pair<int64_t, double>> joined;
        for (const auto& p : parts[i][per_row]) joined.insert(joined.end(), p.begin(), p.end());
        std::sort(joined.begin(), joined.end());
        const auto whole = all[i].values.scalar_type() == torch::kFloat64 ? select_whole_rows<double>(all[i], per_row)
                                                                          : select_whole_rows<float>(all[i], per_row);
        EXPECT_TRUE(joined == whole) << world << " ranks, " << all[i].name << (per_row ? ", topk" : ", batchtopk")
                                     << ": the selection differs from one process's (" << joined.size()
                                     << " entries vs " << whole.size() << ")";
      }
    }
  }
}
