// Explicit backward of the sparse step, over the active (token, latent) pairs only.
//
// 1. Expand the CSR codes (main, then AuxK) into pairs (row, latent, value) and compute each pair's
//    gpre = g[row] . W_dec[latent] (one warp per pair, shuffle-tree dot product).
// 2. Group the pairs by latent with a stable counting sort: a least-significant-digit radix sort on
//    the latent index, 8 bits per pass (two passes up to F = 65536). Each pass is a per-tile digit
//    histogram, an exclusive scan (digit-major, tile-minor) and a stable scatter in which a pair's
//    rank within its tile comes from __match_any_sync (peers with the same digit in the warp) plus
//    per-warp digit counts in shared memory. Stable, so each latent's pairs stay in pair order: main
//    pairs by row, then aux pairs by row, exactly the CPU order.
// 3. One block per active latent sums its pairs in that order into dW_dec, dW_encT and db_enc. No
//    global atomics on the gradient rows: float atomics would add in arrival order and make the
//    gradients (and everything trained from them) differ from run to run.
// 4. db_dec = sum_b g[b] - W_encT^T db_enc: column sums and a matrix-vector product over the active
//    latents, reduced in a fixed order.
#include "btk_cuda.h"
#include "common.cuh"

namespace btk_cuda {

using namespace detail;

namespace {

constexpr int kSortTile = 256;  // pairs per tile, one per thread
constexpr int kDigitBits = 8;
constexpr int kDigits = 1 << kDigitBits;
constexpr unsigned long long kLow = 0xffffffffull;

__device__ __forceinline__ int row_of(const int* row_ptr, int rows, int p) {
  // Last row r with row_ptr[r] <= p (rows may be empty, so the first such row is not enough).
  int lo = 0, hi = rows - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (row_ptr[mid] <= p)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

__global__ void expand_pairs_kernel(Codes main, Codes aux, bool has_aux, int rows, int capacity, int F, int* pair_row,
                                    float* pair_val, uint32_t* keys, int* order, unsigned long long* latent_counts) {
  const int p = blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= capacity) return;
  const int n_main = main.row_ptr[rows];
  const int n_aux = has_aux ? aux.row_ptr[rows] : 0;
  // Unused slots get the last latent: their pair index is above every real pair, so the stable sort
  // puts them after that latent's real pairs, where its group (sized by the real count) ends.
  uint32_t latent = static_cast<uint32_t>(F - 1);
  bool real = true;
  int row = 0;
  float value = 0.f;
  if (p < n_main) {
    row = row_of(main.row_ptr, rows, p);
    latent = main.col[p];
    value = main.val[p];
  } else if (p < n_main + n_aux) {
    const int q = p - n_main;
    row = row_of(aux.row_ptr, rows, q);
    latent = aux.col[q];
    value = aux.val[q];
  } else {
    real = false;
  }
  pair_row[p] = row;
  pair_val[p] = value;
  keys[p] = latent;
  order[p] = p;
  if (real) atomicAdd(&latent_counts[latent], 1ull);  // integer: order-free
}

__global__ void pair_grad_pre_kernel(const int* main_row_ptr, const int* aux_row_ptr, int rows, int capacity, int d,
                                     const float* __restrict__ g_main, const float* __restrict__ g_aux,
                                     const float* __restrict__ W_dec, const int* pair_row, const uint32_t* keys,
                                     float* gpre) {
  const int warps_per_block = blockDim.x / 32;
  const int p = blockIdx.x * warps_per_block + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (p >= capacity) return;  // whole warp leaves together
  const int n_main = main_row_ptr[rows];
  const int n_total = n_main + (aux_row_ptr != nullptr ? aux_row_ptr[rows] : 0);
  if (p >= n_total) return;
  const float* g = (p < n_main ? g_main : g_aux) + static_cast<size_t>(pair_row[p]) * d;
  const float* w = W_dec + static_cast<size_t>(keys[p]) * d;
  float part = 0.f;
  for (int i = lane; i < d; i += 32) part += g[i] * w[i];
  part = warp_sum(part);
  if (lane == 0) gpre[p] = part;
}

// Radix pass, step 1: digit histogram of each tile, stored digit-major so that one exclusive scan
// gives every (digit, tile) its first output slot.
__global__ void __launch_bounds__(kSortTile)
    digit_histogram_kernel(const uint32_t* keys, int n, int shift, int tiles, int* tile_hist) {
  __shared__ int h[kDigits];
  for (int i = threadIdx.x; i < kDigits; i += kSortTile) h[i] = 0;
  __syncthreads();
  const int i = blockIdx.x * kSortTile + threadIdx.x;
  if (i < n) atomicAdd(&h[(keys[i] >> shift) & (kDigits - 1)], 1);
  __syncthreads();
  for (int dgt = threadIdx.x; dgt < kDigits; dgt += kSortTile) tile_hist[dgt * tiles + blockIdx.x] = h[dgt];
}

// Radix pass, step 2: stable scatter. Rank within the tile = (same-digit pairs in earlier warps) +
// (same-digit lanes before this one in the warp).
__global__ void __launch_bounds__(kSortTile)
    digit_scatter_kernel(const uint32_t* keys_in, const int* order_in, int n, int shift, int tiles,
                         const int* tile_offsets, uint32_t* keys_out, int* order_out) {
  constexpr int kWarps = kSortTile / 32;
  __shared__ int warp_counts[kWarps][kDigits];
  for (int i = threadIdx.x; i < kWarps * kDigits; i += kSortTile) (&warp_counts[0][0])[i] = 0;
  __syncthreads();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int i = blockIdx.x * kSortTile + threadIdx.x;
  const bool valid = i < n;
  const uint32_t key = valid ? keys_in[i] : 0u;
  const uint32_t digit = valid ? (key >> shift) & (kDigits - 1) : 0xffffffffu;  // invalid lanes group apart
  const unsigned peers = __match_any_sync(kFullMask, digit);
  const int rank_in_warp = __popc(peers & ((1u << lane) - 1u));
  if (valid && rank_in_warp == 0) warp_counts[warp][digit] = __popc(peers);
  __syncthreads();
  for (int dgt = threadIdx.x; dgt < kDigits; dgt += kSortTile) {
    int run = 0;
    for (int w = 0; w < kWarps; w++) {
      const int c = warp_counts[w][dgt];
      warp_counts[w][dgt] = run;
      run += c;
    }
  }
  __syncthreads();
  if (valid) {
    const int slot = tile_offsets[digit * tiles + blockIdx.x] + warp_counts[warp][digit] + rank_in_warp;
    keys_out[slot] = key;
    order_out[slot] = order_in[i];
  }
}

// Per-latent (count, active) packed for one scan: count in the low half, 1 in the high half when
// the latent has any pair (its slot is then the scan of the high halves).
__global__ void mark_active_kernel(unsigned long long* latent_counts, int F) {
  const int f = blockIdx.x * blockDim.x + threadIdx.x;
  if (f < F && latent_counts[f] != 0ull) latent_counts[f] |= 1ull << 32;
}

__global__ void groups_kernel(const unsigned long long* before, const unsigned long long* total, int F,
                              int* group_start, SparseGrads grads) {
  const int f = blockIdx.x * blockDim.x + threadIdx.x;
  if (f > F) return;
  if (f == F) {
    *grads.n_active = static_cast<int>(*total >> 32);
    group_start[*total >> 32] = static_cast<int>(*total & kLow);
    return;
  }
  const unsigned long long here = before[f], next = f + 1 < F ? before[f + 1] : *total;
  if ((next >> 32) != (here >> 32)) {
    const int slot = static_cast<int>(here >> 32);
    grads.slot_of[f] = slot;
    grads.active[slot] = f;
    group_start[slot] = static_cast<int>(here & kLow);
  } else {
    grads.slot_of[f] = -1;
  }
}

constexpr int kGradBlock = 128;
constexpr int kGradPer = 4;  // columns per thread per chunk, held in registers

// One block per active latent: its pairs in sorted (= stable) order, summed in registers.
__global__ void __launch_bounds__(kGradBlock)
    latent_grads_kernel(const int* main_row_ptr, int rows, int d, const float* __restrict__ g_main,
                        const float* __restrict__ g_aux, const float* __restrict__ xc, const int* group_start,
                        const int* sorted_pairs, const int* pair_row, const float* pair_val, const float* gpre,
                        SparseGrads grads) {
  const int s = blockIdx.x;
  if (s >= *grads.n_active) return;
  const int n_main = main_row_ptr[rows];
  const int begin = group_start[s], end = group_start[s + 1];
  for (int c0 = 0; c0 < d; c0 += kGradBlock * kGradPer) {
    float acc_dec[kGradPer], acc_enc[kGradPer];
#pragma unroll
    for (int u = 0; u < kGradPer; u++) acc_dec[u] = acc_enc[u] = 0.f;
    for (int o = begin; o < end; o++) {
      const int p = sorted_pairs[o];
      const size_t r = static_cast<size_t>(pair_row[p]) * d;
      const float z = pair_val[p], gp = gpre[p];
      const float* g = (p < n_main ? g_main : g_aux) + r;
      const float* x = xc + r;
#pragma unroll
      for (int u = 0; u < kGradPer; u++) {
        const int i = c0 + u * kGradBlock + threadIdx.x;
        if (i < d) {
          acc_dec[u] += z * g[i];
          acc_enc[u] += gp * x[i];
        }
      }
    }
#pragma unroll
    for (int u = 0; u < kGradPer; u++) {
      const int i = c0 + u * kGradBlock + threadIdx.x;
      if (i < d) {
        grads.W_dec[static_cast<size_t>(s) * d + i] = acc_dec[u];
        grads.W_encT[static_cast<size_t>(s) * d + i] = acc_enc[u];
      }
    }
  }
  if (threadIdx.x == 0) {
    float sum = 0.f;
    for (int o = begin; o < end; o++) sum += gpre[sorted_pairs[o]];
    grads.b_enc[s] = sum;
  }
}

// db_dec[c] = sum_b g[b, c] - sum_s db_enc[s] W_encT[active[s], c]. A 32 x 32 block per 32
// columns: coalesced row reads, then a fixed-order reduction over the 32 partial sums.
__global__ void __launch_bounds__(1024) b_dec_grad_kernel(const float* __restrict__ g, int rows, int d,
                                                          const float* __restrict__ W_encT, SparseGrads grads) {
  __shared__ float part_g[32][33], part_w[32][33];
  const int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;
  const int c = blockIdx.x * 32 + tx;
  const int n_active = *grads.n_active;
  float sg = 0.f, sw = 0.f;
  if (c < d) {
    for (int b = ty; b < rows; b += 32) sg += g[static_cast<size_t>(b) * d + c];
    for (int s = ty; s < n_active; s += 32) sw += grads.b_enc[s] * W_encT[static_cast<size_t>(grads.active[s]) * d + c];
  }
  part_g[ty][tx] = sg;
  part_w[ty][tx] = sw;
  __syncthreads();
  if (ty == 0 && c < d) {
    float tg = 0.f, tw = 0.f;
    for (int k = 0; k < 32; k++) {
      tg += part_g[k][tx];
      tw += part_w[k][tx];
    }
    grads.b_dec[c] = tg - tw;
  }
}

struct BackwardWorkspace {
  int* pair_row;
  float* pair_val;
  float* gpre;
  uint32_t* keys[2];
  int* order[2];
  int* tile_hist;
  unsigned long long* latent_counts;  // [F]
  unsigned long long* latent_total;
  int* group_start;  // [F + 1]
};

BackwardWorkspace carve_backward(void* base, int F, int max_pairs, size_t* used) {
  Carver c{static_cast<char*>(base)};
  const int tiles = std::max(1, ceil_div(max_pairs, kSortTile));
  BackwardWorkspace w;
  w.pair_row = c.take<int>(max_pairs);
  w.pair_val = c.take<float>(max_pairs);
  w.gpre = c.take<float>(max_pairs);
  for (int i = 0; i < 2; i++) {
    w.keys[i] = c.take<uint32_t>(max_pairs);
    w.order[i] = c.take<int>(max_pairs);
  }
  w.tile_hist = c.take<int>(static_cast<size_t>(kDigits) * tiles);
  w.latent_counts = c.take<unsigned long long>(F);
  w.latent_total = c.take<unsigned long long>(1);
  w.group_start = c.take<int>(static_cast<size_t>(F) + 1);
  *used = c.used;
  return w;
}

}  // namespace

size_t backward_workspace_bytes(int /*rows*/, int F, int /*d*/, int max_pairs) {
  size_t used = 0;
  carve_backward(nullptr, F, max_pairs, &used);
  return used;
}

cudaError_t backward(const CodeGrad* main, const CodeGrad* aux, int rows, int F, int d, const float* xc,
                     const float* W_dec, const float* W_encT, SparseGrads grads, void* workspace,
                     size_t workspace_bytes, cudaStream_t stream) {
  if (main == nullptr || rows <= 0 || F <= 0 || d <= 0) return cudaErrorInvalidValue;
  const long long capacity_ll = static_cast<long long>(main->capacity) + (aux != nullptr ? aux->capacity : 0);
  if (capacity_ll <= 0 || capacity_ll >= (1ll << 31)) return cudaErrorInvalidValue;
  const int capacity = static_cast<int>(capacity_ll);
  size_t needed = 0;
  BackwardWorkspace w = carve_backward(workspace, F, capacity, &needed);
  if (workspace_bytes < needed) return cudaErrorInvalidValue;
  const Codes aux_codes = aux != nullptr ? aux->codes : Codes{nullptr, nullptr, nullptr};
  const float* g_aux = aux != nullptr ? aux->grad_out : nullptr;

  cudaError_t err = cudaMemsetAsync(w.latent_counts, 0, sizeof(unsigned long long) * F, stream);
  if (err != cudaSuccess) return err;
  expand_pairs_kernel<<<ceil_div(capacity, 256), 256, 0, stream>>>(main->codes, aux_codes, aux != nullptr, rows,
                                                                   capacity, F, w.pair_row, w.pair_val, w.keys[0],
                                                                   w.order[0], w.latent_counts);
  pair_grad_pre_kernel<<<ceil_div(capacity, 8), 256, 0, stream>>>(main->codes.row_ptr, aux_codes.row_ptr, rows,
                                                                  capacity, d, main->grad_out, g_aux, W_dec, w.pair_row,
                                                                  w.keys[0], w.gpre);

  // Stable LSD radix sort of (latent, pair index) over the whole capacity (the real count is known
  // on the device only); unused slots carry the key F - 1 and sort after its real pairs.
  const int tiles = ceil_div(capacity, kSortTile);
  int key_bits = 1;
  while ((1ll << key_bits) < F) key_bits++;  // keys 0 .. F - 1
  int cur = 0;
  for (int shift = 0; shift < key_bits; shift += kDigitBits) {
    digit_histogram_kernel<<<tiles, kSortTile, 0, stream>>>(w.keys[cur], capacity, shift, tiles, w.tile_hist);
    err = scan_in_place(w.tile_hist, static_cast<long long>(kDigits) * tiles, static_cast<int*>(nullptr), stream);
    if (err != cudaSuccess) return err;
    digit_scatter_kernel<<<tiles, kSortTile, 0, stream>>>(w.keys[cur], w.order[cur], capacity, shift, tiles,
                                                          w.tile_hist, w.keys[1 - cur], w.order[1 - cur]);
    cur = 1 - cur;
  }

  mark_active_kernel<<<ceil_div(F, 256), 256, 0, stream>>>(w.latent_counts, F);
  err = scan_in_place(w.latent_counts, F, w.latent_total, stream);
  if (err != cudaSuccess) return err;
  groups_kernel<<<ceil_div(F + 1, 256), 256, 0, stream>>>(w.latent_counts, w.latent_total, F, w.group_start, grads);

  const int max_active = static_cast<int>(std::min<long long>(F, capacity));
  latent_grads_kernel<<<max_active, kGradBlock, 0, stream>>>(main->codes.row_ptr, rows, d, main->grad_out, g_aux, xc,
                                                             w.group_start, w.order[cur], w.pair_row, w.pair_val,
                                                             w.gpre, grads);
  b_dec_grad_kernel<<<ceil_div(d, 32), 1024, 0, stream>>>(main->grad_out, rows, d, W_encT, grads);
  return cudaGetLastError();
}

}  // namespace btk_cuda
