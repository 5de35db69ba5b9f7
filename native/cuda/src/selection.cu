// Exact selection of the largest positive entries (BatchTopK over the whole batch, TopK per row).
//
// Threshold: a radix select over the float bit patterns (positive floats order like their bits), in
// three passes of 11, 11 and 10 bits. Each pass builds a histogram of the bits below the prefix
// found so far, in shared memory (2048 counters: 8 KB), flushed once per block into a global
// histogram; a one-block search then walks the buckets from the top and fixes the next digit of the
// threshold key T and how many entries equal to T are still wanted (`take`). After three passes T is
// the exact K-th largest value.
//
// Compaction: entry i is kept when key > T, or key == T and fewer than `take` equal entries precede
// it in flat (row-major) order: the lowest flat index wins, exactly the CPU rule. Its output slot is
// then a closed form of two prefix counts, above_before(i) + min(equal_before(i), take), so every
// thread knows where to write without atomics: the output is in row-major order and identical on
// every run. The two counts travel packed in one 64-bit integer (above in the low, equal in the high
// half) through one block scan per tile and one scan over rows.
#include "btk_cuda.h"
#include "common.cuh"

namespace btk_cuda {

using namespace detail;

namespace {

constexpr int kPasses = 3;
// Pass p looks at bits [shift, shift + width) of the key: 31..21, 20..10, 9..0.
__host__ __device__ constexpr int pass_shift(int pass) { return pass == 0 ? 21 : pass == 1 ? 10 : 0; }
__host__ __device__ constexpr int pass_width(int pass) { return pass == 2 ? 10 : 11; }
constexpr int kMaxBins = 2048;

struct SelectState {
  uint32_t prefix;          // threshold key bits fixed so far (all 32 after the last pass)
  int done;                 // 1: threshold final before the last pass (fewer positives than wanted, or 0 wanted)
  unsigned long long take;  // entries with key == prefix (in the bits fixed so far) still wanted
};

constexpr unsigned long long kLow = 0xffffffffull;

__device__ __forceinline__ unsigned long long packed_flag(uint32_t key, uint32_t T) {
  // 1 in the low half for an entry above the threshold, 1 in the high half for one equal to it.
  return key > T ? 1ull : (key == T && key != 0u ? (1ull << 32) : 0ull);
}

// Output slot of an entry given the packed (above, equal) counts of the entries before it.
__device__ __forceinline__ unsigned long long kept_before(unsigned long long before, unsigned long long take) {
  return (before & kLow) + min(before >> 32, take);
}

// Loads four consecutive entries of a row (zero keys past its end); one 16-byte load when aligned.
__device__ __forceinline__ void load_keys4(const float* row, int j0, int cols, bool vec, uint32_t (&keys)[4]) {
  if (vec && j0 + 3 < cols) {
    float4 q = *reinterpret_cast<const float4*>(row + j0);
    keys[0] = key_of(q.x);
    keys[1] = key_of(q.y);
    keys[2] = key_of(q.z);
    keys[3] = key_of(q.w);
  } else {
#pragma unroll
    for (int it = 0; it < 4; it++) keys[it] = j0 + it < cols ? key_of(row[j0 + it]) : 0u;
  }
}

// Writes the kept entries of `cols` consecutive keys (4 per thread per tile, in order) at their
// closed-form slots. `run` is the packed count before the row; returns the packed count after it.
// Every thread of the block must call it (block scans inside).
template <int BLOCK>
__device__ unsigned long long compact_row(const float* row, int cols, bool vec, const unsigned char* mask, uint32_t T,
                                          unsigned long long take, unsigned long long run, int* out_col, float* out_val,
                                          unsigned long long* scratch) {
  for (int base = 0; base < cols; base += BLOCK * 4) {
    const int j0 = base + threadIdx.x * 4;
    uint32_t keys[4];
    load_keys4(row, j0, cols, vec, keys);
    unsigned long long local = 0;
#pragma unroll
    for (int it = 0; it < 4; it++) {
      if (mask != nullptr && j0 + it < cols && mask[j0 + it] == 0) keys[it] = 0u;
      local += packed_flag(keys[it], T);
    }
    unsigned long long tile_total;
    unsigned long long before = run + block_exclusive_scan<BLOCK>(local, &tile_total, scratch);
#pragma unroll
    for (int it = 0; it < 4; it++) {
      const unsigned long long flag = packed_flag(keys[it], T);
      if (flag == 1ull || (flag != 0ull && (before >> 32) < take)) {
        const unsigned long long slot = kept_before(before, take);
        out_col[slot] = j0 + it;
        out_val[slot] = __uint_as_float(keys[it]);
      }
      before += flag;
    }
    run += tile_total;
  }
  return run;
}

// Walks `bins` counters from the top bucket down (one block of BLOCK threads, each owning a
// contiguous run of bins/BLOCK buckets in descending order) and finds the bucket holding the
// `want`-th largest entry. Returns through the shared/global state pointers; `found_bin` = -1 when
// the buckets hold fewer than `want` entries. Ends with a barrier.
template <int BLOCK, typename Count>
__device__ void search_bins(const Count* hist, int bins, unsigned long long want, Count* scratch, int* found_bin,
                            unsigned long long* found_take) {
  const int per = bins / BLOCK;  // bins is a multiple of BLOCK here
  Count local = 0;
  for (int i = 0; i < per; i++) local += hist[bins - 1 - (threadIdx.x * per + i)];
  Count total;
  Count above = block_exclusive_scan<BLOCK>(local, &total, scratch);
  if (threadIdx.x == 0 && static_cast<unsigned long long>(total) < want) *found_bin = -1;
  if (static_cast<unsigned long long>(total) >= want) {
    unsigned long long run = above;
    for (int i = 0; i < per; i++) {
      const int bin = bins - 1 - (threadIdx.x * per + i);
      const unsigned long long c = hist[bin];
      if (run < want && run + c >= want) {
        *found_bin = bin;
        *found_take = want - run;
      }
      run += c;
    }
  }
  __syncthreads();
}

// ---------------------------------------------------------------------------------------------
// BatchTopK
// ---------------------------------------------------------------------------------------------

__global__ void init_state_kernel(SelectState* state, unsigned long long* hist, long long count) {
  for (int i = threadIdx.x; i < kMaxBins; i += blockDim.x) hist[i] = 0;
  if (threadIdx.x == 0) {
    state->prefix = count > 0 ? 0u : 0xffffffffu;  // 0 wanted: a threshold no positive float reaches
    state->done = count > 0 ? 0 : 1;
    state->take = count > 0 ? static_cast<unsigned long long>(count) : 0ull;
  }
}

// One radix pass: histogram of the next `width` bits of the keys whose higher bits equal the prefix.
// Grid-stride over the flattened matrix, 16-byte loads when aligned. Shared-memory atomics count
// within the block; each block adds its non-zero counters to the global histogram once.
template <int BLOCK>
__global__ void __launch_bounds__(BLOCK)
    radix_histogram_kernel(const float* values, long long n, bool vec, const SelectState* state,
                           unsigned long long* hist, int shift, int width) {
  __shared__ uint32_t counts[kMaxBins];
  if (state->done) return;  // uniform over the grid
  const int bins = 1 << width;
  const uint32_t high_mask = shift + width >= 32 ? 0u : ~((1u << (shift + width)) - 1u);
  const uint32_t prefix = state->prefix;
  for (int i = threadIdx.x; i < bins; i += BLOCK) counts[i] = 0;
  __syncthreads();
  auto add = [&](float v) {
    const uint32_t key = key_of(v);
    if (key != 0u && (key & high_mask) == prefix) atomicAdd(&counts[(key >> shift) & (bins - 1)], 1u);
  };
  const long long stride = static_cast<long long>(gridDim.x) * BLOCK;
  const long long first = static_cast<long long>(blockIdx.x) * BLOCK + threadIdx.x;
  if (vec) {
    const long long n4 = n / 4;
    const float4* v4 = reinterpret_cast<const float4*>(values);
    for (long long i = first; i < n4; i += stride) {
      const float4 q = v4[i];
      add(q.x);
      add(q.y);
      add(q.z);
      add(q.w);
    }
    for (long long i = n4 * 4 + first; i < n; i += stride) add(values[i]);
  } else {
    for (long long i = first; i < n; i += stride) add(values[i]);
  }
  __syncthreads();
  for (int i = threadIdx.x; i < bins; i += BLOCK) {
    if (counts[i] != 0u) atomicAdd(&hist[i], static_cast<unsigned long long>(counts[i]));
  }
}

// The small device-side bucket search after each pass: fixes the next digit of T, updates `take`,
// and clears the histogram for the next pass.
__global__ void __launch_bounds__(1024)
    radix_search_kernel(SelectState* state, unsigned long long* hist, int shift, int width) {
  __shared__ unsigned long long scratch[1024 / 32 + 1];
  __shared__ int found_bin;
  __shared__ unsigned long long found_take;
  if (state->done) return;
  const int bins = 1 << width;
  const unsigned long long want = state->take;
  search_bins<1024>(hist, bins, want, scratch, &found_bin, &found_take);
  for (int i = threadIdx.x; i < bins; i += 1024) hist[i] = 0;
  if (threadIdx.x == 0) {
    if (found_bin < 0) {
      // Fewer positive entries than wanted (only possible in the first pass): keep every one.
      state->prefix = 0u;
      state->take = 0ull;
      state->done = 1;
    } else {
      state->prefix |= static_cast<uint32_t>(found_bin) << shift;
      state->take = found_take;
    }
  }
}

// Packed (above, equal) counts of each row.
template <int BLOCK>
__global__ void __launch_bounds__(BLOCK)
    row_counts_kernel(const float* values, int cols, bool vec, const SelectState* state, unsigned long long* counts) {
  __shared__ unsigned long long scratch[BLOCK / 32];
  const uint32_t T = state->prefix;
  const float* row = values + static_cast<size_t>(blockIdx.x) * cols;
  unsigned long long local = 0;
  for (int j0 = threadIdx.x * 4; j0 < cols; j0 += BLOCK * 4) {
    uint32_t keys[4];
    load_keys4(row, j0, cols, vec, keys);
#pragma unroll
    for (int it = 0; it < 4; it++) local += packed_flag(keys[it], T);
  }
  const unsigned long long total = block_sum<BLOCK>(local, scratch);
  if (threadIdx.x == 0) counts[blockIdx.x] = total;
}

__global__ void row_offsets_kernel(const unsigned long long* before, const unsigned long long* total, int rows,
                                   const SelectState* state, int* row_ptr) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r > rows) return;
  row_ptr[r] = static_cast<int>(kept_before(r < rows ? before[r] : *total, state->take));
}

template <int BLOCK>
__global__ void __launch_bounds__(BLOCK)
    batch_compact_kernel(const float* values, int cols, bool vec, const SelectState* state,
                         const unsigned long long* before, int* out_col, float* out_val) {
  __shared__ unsigned long long scratch[BLOCK / 32 + 1];
  const float* row = values + static_cast<size_t>(blockIdx.x) * cols;
  compact_row<BLOCK>(row, cols, vec, nullptr, state->prefix, state->take, before[blockIdx.x], out_col, out_val,
                     scratch);
}

// ---------------------------------------------------------------------------------------------
// TopK per row: the same select, one block per row, histograms and search in shared memory.
// ---------------------------------------------------------------------------------------------

template <int BLOCK>
__global__ void __launch_bounds__(BLOCK)
    row_topk_kernel(const float* values, int cols, int k, bool vec, const unsigned char* mask, int* slot_col,
                    float* slot_val, int* counts) {
  __shared__ uint32_t hist[kMaxBins];
  __shared__ unsigned long long scratch[BLOCK / 32 + 1];
  __shared__ uint32_t s_prefix;
  __shared__ int s_done, found_bin;
  __shared__ unsigned long long s_take, found_take;
  __shared__ uint32_t scratch32[BLOCK / 32 + 1];
  const float* row = values + static_cast<size_t>(blockIdx.x) * cols;
  if (threadIdx.x == 0) {
    s_prefix = 0u;
    s_take = static_cast<unsigned long long>(k);
    s_done = 0;
  }
  for (int pass = 0; pass < kPasses; pass++) {
    const int shift = pass_shift(pass), width = pass_width(pass), bins = 1 << width;
    const uint32_t high_mask = shift + width >= 32 ? 0u : ~((1u << (shift + width)) - 1u);
    for (int i = threadIdx.x; i < bins; i += BLOCK) hist[i] = 0u;
    __syncthreads();
    if (s_done) break;  // uniform: read after the barrier
    const uint32_t prefix = s_prefix;
    for (int j = threadIdx.x; j < cols; j += BLOCK) {
      uint32_t key = key_of(row[j]);
      if (mask != nullptr && mask[j] == 0) key = 0u;
      if (key != 0u && (key & high_mask) == prefix) atomicAdd(&hist[(key >> shift) & (bins - 1)], 1u);
    }
    __syncthreads();
    const unsigned long long want = s_take;
    search_bins<BLOCK>(hist, bins, want, scratch32, &found_bin, &found_take);
    if (threadIdx.x == 0) {
      if (found_bin < 0) {
        s_prefix = 0u;
        s_take = 0ull;
        s_done = 1;
      } else {
        s_prefix |= static_cast<uint32_t>(found_bin) << shift;
        s_take = found_take;
      }
    }
    __syncthreads();
  }
  const unsigned long long take = s_take;
  const unsigned long long run =
      compact_row<BLOCK>(row, cols, vec, mask, s_prefix, take, 0ull, slot_col + static_cast<size_t>(blockIdx.x) * k,
                         slot_val + static_cast<size_t>(blockIdx.x) * k, scratch);
  if (threadIdx.x == 0) counts[blockIdx.x] = static_cast<int>(kept_before(run, take));
}

// Copies each row's slots into the CSR arrays.
__global__ void gather_slots_kernel(const int* row_ptr, int k, const int* slot_col, const float* slot_val, int* col,
                                    float* val) {
  const int r = blockIdx.x;
  const int begin = row_ptr[r], n = row_ptr[r + 1] - begin;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    col[begin + i] = slot_col[static_cast<size_t>(r) * k + i];
    val[begin + i] = slot_val[static_cast<size_t>(r) * k + i];
  }
}

constexpr int kBlock = 256;

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace

size_t batch_topk_workspace_bytes(int rows, int /*cols*/) {
  return align_up(sizeof(SelectState)) + align_up(kMaxBins * sizeof(unsigned long long)) +
         align_up(static_cast<size_t>(rows) * sizeof(unsigned long long)) + align_up(sizeof(unsigned long long));
}

cudaError_t batch_topk(const float* values, int rows, int cols, long long count, int* row_ptr, int* col, float* val,
                       void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  const long long n = static_cast<long long>(rows) * cols;
  if (rows <= 0 || cols <= 0 || n >= (1ll << 32) || count >= (1ll << 31)) return cudaErrorInvalidValue;
  if (workspace_bytes < batch_topk_workspace_bytes(rows, cols)) return cudaErrorInvalidValue;
  Carver carve{static_cast<char*>(workspace)};
  auto* state = carve.take<SelectState>(1);
  auto* hist = carve.take<unsigned long long>(kMaxBins);
  auto* before = carve.take<unsigned long long>(rows);
  auto* total = carve.take<unsigned long long>(1);

  init_state_kernel<<<1, 1024, 0, stream>>>(state, hist, count);
  // Enough blocks to fill the machine a few times over; each flushes one histogram.
  const bool flat_vec = aligned16(values);
  const int grid = static_cast<int>(std::min<long long>(4ll * sm_count(), std::max(1, ceil_div(n, kBlock * 16ll))));
  for (int pass = 0; pass < kPasses; pass++) {
    radix_histogram_kernel<kBlock>
        <<<grid, kBlock, 0, stream>>>(values, n, flat_vec, state, hist, pass_shift(pass), pass_width(pass));
    radix_search_kernel<<<1, 1024, 0, stream>>>(state, hist, pass_shift(pass), pass_width(pass));
  }
  const bool row_vec = flat_vec && cols % 4 == 0;
  row_counts_kernel<kBlock><<<rows, kBlock, 0, stream>>>(values, cols, row_vec, state, before);
  cudaError_t err = scan_in_place(before, rows, total, stream);
  if (err != cudaSuccess) return err;
  row_offsets_kernel<<<ceil_div(rows + 1, 256), 256, 0, stream>>>(before, total, rows, state, row_ptr);
  batch_compact_kernel<kBlock><<<rows, kBlock, 0, stream>>>(values, cols, row_vec, state, before, col, val);
  return cudaGetLastError();
}

size_t row_topk_workspace_bytes(int rows, int k) {
  const size_t slots = static_cast<size_t>(rows) * static_cast<size_t>(k > 0 ? k : 0);
  return align_up(slots * sizeof(int)) + align_up(slots * sizeof(float)) + 256;
}

cudaError_t row_topk(const float* values, int rows, int cols, int k, const unsigned char* column_mask, int* row_ptr,
                     int* col, float* val, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0 || k < 0 || static_cast<long long>(rows) * cols >= (1ll << 32) ||
      static_cast<long long>(rows) * k >= (1ll << 31)) {
    return cudaErrorInvalidValue;
  }
  if (k == 0) return cudaMemsetAsync(row_ptr, 0, (rows + 1) * sizeof(int), stream);
  if (workspace_bytes < row_topk_workspace_bytes(rows, k)) return cudaErrorInvalidValue;
  Carver carve{static_cast<char*>(workspace)};
  int* slot_col = carve.take<int>(static_cast<size_t>(rows) * k);
  float* slot_val = carve.take<float>(static_cast<size_t>(rows) * k);
  const bool vec = aligned16(values) && cols % 4 == 0;
  // Counts land in row_ptr[0 .. rows), and an exclusive scan in place turns them into offsets.
  row_topk_kernel<kBlock><<<rows, kBlock, 0, stream>>>(values, cols, k, vec, column_mask, slot_col, slot_val, row_ptr);
  cudaError_t err = scan_in_place(row_ptr, rows, row_ptr + rows, stream);
  if (err != cudaSuccess) return err;
  gather_slots_kernel<<<rows, 128, 0, stream>>>(row_ptr, k, slot_col, slot_val, col, val);
  return cudaGetLastError();
}

}  // namespace btk_cuda
