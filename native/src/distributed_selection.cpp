#include "distributed_selection.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace btk {

namespace {

// Positive IEEE floats order like their bit patterns read as unsigned integers (the sign bit is 0),
// so the threshold is found one digit of the pattern at a time, most significant first.
constexpr int kDigitBits = 11;  // 2048 counts per all-reduce

template <typename scalar_t>
using key_t = std::conditional_t<sizeof(scalar_t) == 4, uint32_t, uint64_t>;

template <typename scalar_t>
constexpr int kKeyBits = static_cast<int>(sizeof(scalar_t) * 8) - 1;

template <typename scalar_t>
inline key_t<scalar_t> key_of(scalar_t v) {
  key_t<scalar_t> k;
  std::memcpy(&k, &v, sizeof(v));
  return k;
}

// Contiguous row ranges, one per thread, so that per-chunk results concatenate in row-major order.
std::vector<int64_t> row_chunks(int64_t rows) {
  int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), rows));
  std::vector<int64_t> bounds(chunks + 1);
  for (int64_t c = 0; c <= chunks; c++) bounds[c] = rows * c / chunks;
  return bounds;
}

// Summed over the ranks: which digit holds the `wanted`-th largest key, and how many keys lie in
// the digits above it. Counts come in descending digit order.
struct Cut {
  int64_t digit = -1;
  int64_t above = 0;
};

Cut cut_of(torch::Tensor& histogram, int64_t wanted, Collective& group) {
  group.all_reduce(histogram, Reduction::kSum);
  const int64_t* h = histogram.data_ptr<int64_t>();
  Cut cut;
  for (int64_t b = histogram.numel() - 1; b >= 0; b--) {
    if (cut.above + h[b] >= wanted) {
      cut.digit = b;
      return cut;
    }
    cut.above += h[b];
  }
  return cut;  // fewer than `wanted` keys in all: digit -1
}

template <typename scalar_t>
struct Candidate {
  int64_t index;
  scalar_t value;
};

}  // namespace

template <typename scalar_t>
SparseRows<scalar_t> select_batch_topk_across(const scalar_t* values, int64_t rows, int64_t cols, int64_t count,
                                              Collective& group, Split split) {
  using key = key_t<scalar_t>;
  constexpr int bits = kKeyBits<scalar_t>;
  const auto bounds = row_chunks(rows);
  const int64_t chunks = static_cast<int64_t>(bounds.size()) - 1;

  // 1. The top digit of every positive entry, counted over all ranks.
  int shift = bits - kDigitBits;
  auto histogram = torch::zeros({int64_t(1) << kDigitBits}, torch::kInt64);
  {
    std::vector<std::vector<int64_t>> partial(chunks, std::vector<int64_t>(histogram.numel(), 0));
    at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; c++) {
        int64_t* h = partial[c].data();
        for (int64_t i = bounds[c] * cols; i < bounds[c + 1] * cols; i++) {
          if (values[i] > scalar_t(0)) h[key_of(values[i]) >> shift]++;
        }
      }
    });
    int64_t* h = histogram.data_ptr<int64_t>();
    for (const auto& p : partial) {
      for (int64_t b = 0; b < histogram.numel(); b++) h[b] += p[b];
    }
  }
  Cut cut = cut_of(histogram, count, group);
  // Fewer positive entries than `count` in the whole batch: every one is selected.
  const key lowest_kept = cut.digit < 0 ? key(1) : static_cast<key>(cut.digit) << shift;

  // 2. One pass collects this rank's entries from that digit up, in row-major order.
  std::vector<std::vector<Candidate<scalar_t>>> found(chunks);
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; c++) {
      for (int64_t i = bounds[c] * cols; i < bounds[c + 1] * cols; i++) {
        if (values[i] > scalar_t(0) && key_of(values[i]) >= lowest_kept) found[c].push_back({i, values[i]});
      }
    }
  });
  std::vector<Candidate<scalar_t>> kept;
  for (auto& f : found) kept.insert(kept.end(), f.begin(), f.end());

  key threshold = lowest_kept;    // the smallest key selected
  int64_t ties_wanted = -1;       // how many entries with key == threshold the batch keeps; -1: all
  std::vector<int64_t> row_ties;  // Split::kColumns: how many of them each row keeps; empty: all
  if (cut.digit >= 0) {
    // 3. The next digits of the keys in the cut digit only (few), until the key is exact.
    key prefix = static_cast<key>(cut.digit);
    int64_t wanted = count - cut.above;
    std::vector<key> inside;
    for (const auto& c : kept) {
      if ((key_of(c.value) >> shift) == prefix) inside.push_back(key_of(c.value));
    }
    while (shift > 0) {
      const int width = std::min(kDigitBits, shift);
      shift -= width;
      auto next = torch::zeros({int64_t(1) << width}, torch::kInt64);
      int64_t* h = next.data_ptr<int64_t>();
      const key mask = (key(1) << width) - 1;
      for (key k : inside) h[(k >> shift) & mask]++;
      Cut step = cut_of(next, wanted, group);
      wanted -= step.above;
      prefix = (prefix << width) | static_cast<key>(step.digit);
      std::vector<key> narrower;
      for (key k : inside) {
        if ((k >> shift) == prefix) narrower.push_back(k);
      }
      inside.swap(narrower);
    }
    threshold = prefix;
    // 4. Ties at the threshold.
    auto ties = torch::zeros({group.size()}, torch::kInt64);
    ties.data_ptr<int64_t>()[group.rank()] = static_cast<int64_t>(inside.size());
    group.all_reduce(ties, Reduction::kSum);
    if (split == Split::kRows) {
      // The ranks before this one hold the lower global indices.
      int64_t before = 0;
      for (int r = 0; r < group.rank(); r++) before += ties.data_ptr<int64_t>()[r];
      ties_wanted = std::clamp<int64_t>(wanted - before, 0, static_cast<int64_t>(inside.size()));
    } else if (ties.sum().item<int64_t>() > wanted) {
      // Global row-major order runs row by row, and within a row through the ranks in order: every
      // rank's tie count per row decides which ties each row keeps (rows * ranks counts, only when
      // the ties at the boundary cannot all be kept, which real activations almost never need).
      auto per_row = torch::zeros({rows, group.size()}, torch::kInt64);
      int64_t* counts = per_row.data_ptr<int64_t>();
      for (const auto& c : kept) {
        if (key_of(c.value) == threshold) counts[(c.index / cols) * group.size() + group.rank()]++;
      }
      group.all_reduce(per_row, Reduction::kSum);
      row_ties.assign(rows, 0);
      int64_t left = wanted;
      for (int64_t r = 0; r < rows; r++) {
        for (int g = 0; g < group.size(); g++) {
          const int64_t take = std::min(left, counts[r * group.size() + g]);
          if (g == group.rank()) row_ties[r] = take;
          left -= take;
        }
      }
    }
  }

  SparseRows<scalar_t> out;
  out.row_ptr.assign(rows + 1, 0);
  int64_t ties_taken = 0;
  for (const auto& c : kept) {
    const key k = key_of(c.value);
    if (k < threshold) continue;
    if (k == threshold && ties_wanted >= 0 && ties_taken++ >= ties_wanted) continue;
    if (k == threshold && !row_ties.empty() && row_ties[c.index / cols]-- <= 0) continue;
    out.row_ptr[c.index / cols + 1]++;
    out.col.push_back(c.index % cols);
    out.val.push_back(c.value);
  }
  for (int64_t r = 0; r < rows; r++) out.row_ptr[r + 1] += out.row_ptr[r];
  return out;
}

template <typename scalar_t>
SparseRows<scalar_t> select_row_topk_across(const scalar_t* values, int64_t rows, int64_t cols, int64_t k,
                                            Collective& group) {
  const SparseRows<scalar_t> mine = select_row_topk(values, rows, cols, k);
  const int world = group.size(), me = group.rank();
  // Slot j of row r of rank g: that rank's j-th candidate of the row (columns ascending); zero marks
  // an empty slot, and no selected value is zero.
  torch::Tensor gathered = torch::zeros({world, rows, k}, c10::CppTypeToScalarType<scalar_t>::value);
  scalar_t* all = gathered.data_ptr<scalar_t>();
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t p = mine.row_ptr[r]; p < mine.row_ptr[r + 1]; p++)
      all[(me * rows + r) * k + (p - mine.row_ptr[r])] = mine.val[p];
  }
  group.all_reduce(gathered, Reduction::kSum);

  // Per row, the k best of every rank's candidates: larger value first, then the lower global column,
  // which is the lower rank, then the lower slot.
  std::vector<char> keep(static_cast<size_t>(mine.nnz()), 0);
  at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
    std::vector<std::pair<scalar_t, int64_t>> row;  // (value, rank * k + slot)
    for (int64_t r = begin; r < end; r++) {
      row.clear();
      for (int g = 0; g < world; g++) {
        for (int64_t j = 0; j < k; j++) {
          const scalar_t v = all[(g * rows + r) * k + j];
          if (v > scalar_t(0)) row.emplace_back(v, g * k + j);
        }
      }
      const auto before = [](const auto& a, const auto& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
      };
      const size_t taken = std::min<size_t>(row.size(), static_cast<size_t>(k));
      std::partial_sort(row.begin(), row.begin() + taken, row.end(), before);
      for (size_t i = 0; i < taken; i++) {
        if (row[i].second / k == me) keep[mine.row_ptr[r] + row[i].second % k] = 1;
      }
    }
  });
  SparseRows<scalar_t> out;
  out.row_ptr.assign(rows + 1, 0);
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t p = mine.row_ptr[r]; p < mine.row_ptr[r + 1]; p++) {
      if (!keep[p]) continue;
      out.row_ptr[r + 1]++;
      out.col.push_back(mine.col[p]);
      out.val.push_back(mine.val[p]);
    }
    out.row_ptr[r + 1] += out.row_ptr[r];
  }
  return out;
}

template SparseRows<float> select_batch_topk_across(const float*, int64_t, int64_t, int64_t, Collective&, Split);
template SparseRows<double> select_batch_topk_across(const double*, int64_t, int64_t, int64_t, Collective&, Split);
template SparseRows<float> select_row_topk_across(const float*, int64_t, int64_t, int64_t, Collective&);
template SparseRows<double> select_row_topk_across(const double*, int64_t, int64_t, int64_t, Collective&);

}  // namespace btk
