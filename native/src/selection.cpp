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

// The highest bucket such that the buckets from it upwards hold at least `wanted` positive entries
// of the sampled rows (every stride-th row); 0, meaning every positive entry, when none does.
template <typename scalar_t>
int64_t lower_bucket(const scalar_t* values, int64_t rows, int64_t cols, int64_t stride, int64_t wanted) {
  auto bounds = row_chunks((rows + stride - 1) / stride);
  int64_t chunks = static_cast<int64_t>(bounds.size()) - 1;
  std::vector<std::vector<int64_t>> partial(chunks, std::vector<int64_t>(kBuckets, 0));
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; c++) {
      int64_t* hist = partial[c].data();
      for (int64_t r = bounds[c] * stride; r < bounds[c + 1] * stride && r < rows; r += stride) {
        const scalar_t* v = values + r * cols;
        // Branch-free: non-positive entries land in bucket 0, which is never a bound of its own.
        for (int64_t j = 0; j < cols; j++) hist[v[j] > scalar_t(0) ? bucket_of(v[j]) : 0]++;
      }
    }
  });
  int64_t above = 0;
  for (int64_t b = kBuckets - 1; b >= 1; b--) {
    for (const auto& h : partial) above += h[b];
    if (above >= wanted) return b;
  }
  return 0;
}

// Every entry in bucket `lower` or above (every positive entry when lower is 0), in row-major order.
template <typename scalar_t>
std::vector<Entry<scalar_t>> collect_at_least(const scalar_t* values, int64_t rows, int64_t cols, int64_t lower) {
  bits_t<scalar_t> bits =
      lower == 0 ? 1 : static_cast<bits_t<scalar_t>>(lower) << (sizeof(scalar_t) * 8 - 1 - kKeyBits);
  scalar_t bound;
  std::memcpy(&bound, &bits, sizeof(bound));
  auto bounds = row_chunks(rows);
  int64_t chunks = static_cast<int64_t>(bounds.size()) - 1;
  std::vector<std::vector<Entry<scalar_t>>> found(chunks);
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; c++) {
      auto& out = found[c];
      for (int64_t i = bounds[c] * cols; i < bounds[c + 1] * cols; i++) {
        if (values[i] >= bound) out.push_back({i, values[i]});
      }
    }
  });
  std::vector<Entry<scalar_t>> all;
  for (auto& f : found) all.insert(all.end(), f.begin(), f.end());
  return all;
}

}  // namespace

template <typename scalar_t>
SparseRows<scalar_t> select_batch_topk(const scalar_t* values, int64_t rows, int64_t cols, int64_t count) {
  // A histogram of a sample of rows gives a lower bound for the count-th largest value; one pass
  // then collects everything at or above it, and an exact ranking of those few candidates decides.
  // A sample that proves misleading (too few candidates) falls back to the histogram of every row.
  const int64_t stride = std::max<int64_t>(1, rows / 256);
  int64_t lower = lower_bucket(values, rows, cols, stride, count * 5 / 4 / stride + 64);
  auto candidates = collect_at_least(values, rows, cols, lower);
  if (static_cast<int64_t>(candidates.size()) < count && lower > 0) {
    candidates = collect_at_least(values, rows, cols, lower_bucket(values, rows, cols, 1, count));
  }
  if (static_cast<int64_t>(candidates.size()) > count) {
    std::vector<Entry<scalar_t>> ranked(candidates);
    std::nth_element(ranked.begin(), ranked.begin() + (count - 1), ranked.end(), ranks_before<scalar_t>);
    const Entry<scalar_t> last = ranked[count - 1];
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
