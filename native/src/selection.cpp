#include "selection.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

namespace btk {

namespace {

// Positive IEEE floats order like their bit patterns read as unsigned integers, so the top bits of
// the pattern are a monotone histogram key: a radix select needs no comparison sort.
constexpr int kKeyBits = 15;
constexpr int64_t kBuckets = int64_t(1) << kKeyBits;

template <typename scalar_t>
using bits_t = std::conditional_t<sizeof(scalar_t) == 4, uint32_t, uint64_t>;

template <typename scalar_t>
inline int64_t bucket_of(scalar_t v) {
  bits_t<scalar_t> bits;
  std::memcpy(&bits, &v, sizeof(v));
  return static_cast<int64_t>(bits >> (sizeof(scalar_t) * 8 - 1 - kKeyBits));
}

// Contiguous row ranges, one per thread: fixed partitions keep results independent of scheduling.
std::vector<int64_t> row_chunks(int64_t rows) {
  int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), rows));
  std::vector<int64_t> bounds(chunks + 1);
  for (int64_t c = 0; c <= chunks; c++) bounds[c] = rows * c / chunks;
  return bounds;
}

template <typename scalar_t>
struct Entry {
  int64_t index;
  scalar_t value;
};

// Larger value first; among equal values the lower index first.
template <typename scalar_t>
inline bool ranks_before(const Entry<scalar_t>& a, const Entry<scalar_t>& b) {
  return a.value > b.value || (a.value == b.value && a.index < b.index);
}

template <typename scalar_t>
SparseRows<scalar_t> to_rows(const std::vector<Entry<scalar_t>>& entries, int64_t rows, int64_t cols) {
  SparseRows<scalar_t> out;
  out.row_ptr.assign(rows + 1, 0);
  out.col.resize(entries.size());
  out.val.resize(entries.size());
  for (size_t i = 0; i < entries.size(); i++) {
    out.row_ptr[entries[i].index / cols + 1]++;
    out.col[i] = entries[i].index % cols;
    out.val[i] = entries[i].value;
  }
  for (int64_t r = 0; r < rows; r++) out.row_ptr[r + 1] += out.row_ptr[r];
  return out;
}

}  // namespace

template <typename scalar_t>
SparseRows<scalar_t> select_batch_topk(const scalar_t* values, int64_t rows, int64_t cols, int64_t count) {
  auto bounds = row_chunks(rows);
  int64_t chunks = static_cast<int64_t>(bounds.size()) - 1;

  // Pass 1: histogram of the positive entries by their top bits.
  std::vector<std::vector<int64_t>> partial(chunks, std::vector<int64_t>(kBuckets, 0));
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; c++) {
      auto& hist = partial[c];
      const scalar_t* p = values + bounds[c] * cols;
      const scalar_t* stop = values + bounds[c + 1] * cols;
      for (; p < stop; p++) {
        if (*p > scalar_t(0)) hist[bucket_of(*p)]++;
      }
    }
  });
  std::vector<int64_t> hist(kBuckets, 0);
  for (const auto& h : partial) {
    for (int64_t b = 0; b < kBuckets; b++) hist[b] += h[b];
  }

  // The bucket holding the count-th largest entry; with fewer positives than count, keep them all.
  int64_t boundary = 0, above = 0;
  for (int64_t b = kBuckets - 1; b >= 0; b--) {
    if (above + hist[b] >= count) {
      boundary = b;
      break;
    }
    above += hist[b];
  }

  // Pass 2: every entry in or above the boundary bucket, in row-major order.
  std::vector<std::vector<Entry<scalar_t>>> found(chunks);
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; c++) {
      auto& out = found[c];
      for (int64_t i = bounds[c] * cols; i < bounds[c + 1] * cols; i++) {
        scalar_t v = values[i];
        if (v > scalar_t(0) && bucket_of(v) >= boundary) out.push_back({i, v});
      }
    }
  });
  std::vector<Entry<scalar_t>> candidates;
  for (auto& f : found) candidates.insert(candidates.end(), f.begin(), f.end());

  if (static_cast<int64_t>(candidates.size()) > count) {
    // Rank the boundary bucket alone: everything above it is kept, whatever its order.
    std::vector<Entry<scalar_t>> edge;
    for (const auto& e : candidates) {
      if (bucket_of(e.value) == boundary) edge.push_back(e);
    }
    int64_t needed = count - above;
    std::nth_element(edge.begin(), edge.begin() + (needed - 1), edge.end(), ranks_before<scalar_t>);
    Entry<scalar_t> last = edge[needed - 1];
    std::vector<Entry<scalar_t>> kept;
    kept.reserve(count);
    for (const auto& e : candidates) {
      if (!ranks_before(last, e)) kept.push_back(e);
    }
    candidates.swap(kept);
  }
  return to_rows(candidates, rows, cols);
}

template <typename scalar_t>
SparseRows<scalar_t> select_row_topk(const scalar_t* values, int64_t rows, int64_t cols, int64_t k) {
  k = std::min(k, cols);
  std::vector<int64_t> counts(rows, 0);
  std::vector<Entry<scalar_t>> slots(static_cast<size_t>(rows * k));
  at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
    std::vector<Entry<scalar_t>> row;
    row.reserve(cols);
    for (int64_t r = begin; r < end; r++) {
      row.clear();
      const scalar_t* v = values + r * cols;
      for (int64_t c = 0; c < cols; c++) {
        if (v[c] > scalar_t(0)) row.push_back({c, v[c]});
      }
      if (static_cast<int64_t>(row.size()) > k) {
        std::nth_element(row.begin(), row.begin() + (k - 1), row.end(), ranks_before<scalar_t>);
        row.resize(k);
        std::sort(row.begin(), row.end(), [](const auto& a, const auto& b) { return a.index < b.index; });
      }
      counts[r] = static_cast<int64_t>(row.size());
      std::copy(row.begin(), row.end(), slots.begin() + r * k);
    }
  });
  SparseRows<scalar_t> out;
  out.row_ptr.assign(rows + 1, 0);
  for (int64_t r = 0; r < rows; r++) out.row_ptr[r + 1] = out.row_ptr[r] + counts[r];
  out.col.resize(out.row_ptr[rows]);
  out.val.resize(out.row_ptr[rows]);
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t j = 0; j < counts[r]; j++) {
      out.col[out.row_ptr[r] + j] = slots[r * k + j].index;
      out.val[out.row_ptr[r] + j] = slots[r * k + j].value;
    }
  }
  return out;
}

template SparseRows<float> select_batch_topk(const float*, int64_t, int64_t, int64_t);
template SparseRows<double> select_batch_topk(const double*, int64_t, int64_t, int64_t);
template SparseRows<float> select_row_topk(const float*, int64_t, int64_t, int64_t);
template SparseRows<double> select_row_topk(const double*, int64_t, int64_t, int64_t);

}  // namespace btk
