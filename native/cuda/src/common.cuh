// Shared device helpers: warp/block scans and reductions with a fixed combination order.
//
// Every reduction here combines its operands in an order fixed by thread indices only (shuffle
// trees, then warp totals in warp order), never by arrival order, so a float sum gives the same
// bits on every run. Integer counters may use atomics (integer addition is associative).
#pragma once

#include <cuda_runtime.h>
#include <algorithm>
#include <cstdint>

namespace btk_cuda {
namespace detail {

constexpr unsigned kFullMask = 0xffffffffu;

inline int ceil_div(long long a, long long b) { return static_cast<int>((a + b - 1) / b); }

inline size_t align_up(size_t n) { return (n + 255) & ~size_t(255); }

// Carves consecutive 256-byte-aligned slices out of one workspace allocation.
struct Carver {
  char* base;
  size_t used = 0;
  template <typename T>
  T* take(size_t count) {
    T* p = reinterpret_cast<T*>(base + used);
    used += align_up(count * sizeof(T));
    return p;
  }
};

inline int sm_count() {
  int device = 0, sms = 0;
  if (cudaGetDevice(&device) != cudaSuccess) return 132;
  if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || sms <= 0) return 132;
  return sms;
}

// Positive floats order like their bit patterns read as unsigned integers, so a radix select over
// the bits needs no comparisons. Non-positive entries (and NaN) get key 0: never selected.
__device__ __forceinline__ uint32_t key_of(float v) { return v > 0.f ? __float_as_uint(v) : 0u; }

template <typename T>
__device__ __forceinline__ T warp_inclusive_scan(T x) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    T y = __shfl_up_sync(kFullMask, x, o);
    if (lane >= o) x += y;
  }
  return x;
}

template <typename T>
__device__ __forceinline__ T warp_sum(T x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(kFullMask, x, o);
  return x;
}

// Exclusive scan over a block of BLOCK threads (1-D). `scratch` holds BLOCK/32 + 1 values. Returns
// the thread's exclusive prefix and sets *total for every thread. Ends with a barrier, so scratch may
// be reused right away.
template <int BLOCK, typename T>
__device__ __forceinline__ T block_exclusive_scan(T x, T* total, T* scratch) {
  static_assert(BLOCK % 32 == 0 && BLOCK <= 1024, "block size");
  constexpr int kWarps = BLOCK / 32;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  T inclusive = warp_inclusive_scan(x);
  if (lane == 31) scratch[warp] = inclusive;
  __syncthreads();
  if (warp == 0) {
    T w = lane < kWarps ? scratch[lane] : T(0);
    T w_inclusive = warp_inclusive_scan(w);
    if (lane < kWarps) scratch[lane] = w_inclusive - w;
    if (lane == kWarps - 1) scratch[kWarps] = w_inclusive;
  }
  __syncthreads();
  T result = scratch[warp] + inclusive - x;
  *total = scratch[kWarps];
  __syncthreads();
  return result;
}

// Sum over a block, the same value returned to every thread; fixed tree order. `scratch` holds
// BLOCK/32 values. Ends with a barrier.
template <int BLOCK, typename T>
__device__ __forceinline__ T block_sum(T x, T* scratch) {
  constexpr int kWarps = BLOCK / 32;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  x = warp_sum(x);
  if (lane == 0) scratch[warp] = x;
  __syncthreads();
  T total = T(0);
#pragma unroll
  for (int w = 0; w < kWarps; w++) total += scratch[w];
  __syncthreads();
  return total;
}

// Exclusive scan of n values in place by one block of 1024 threads, each over a contiguous chunk
// (the arrays scanned here, per-row or per-latent counts, are at most a few hundred thousand long:
// one block is cheaper than a multi-kernel scan at that size). *total (may be null) gets the sum.
template <typename T>
__global__ void __launch_bounds__(1024) scan_in_place_kernel(T* data, long long n, T* total) {
  __shared__ T scratch[1024 / 32 + 1];
  const long long per = (n + 1023) / 1024;
  const long long begin = min(n, per * threadIdx.x), end = min(n, begin + per);
  T local = T(0);
  for (long long i = begin; i < end; i++) local += data[i];
  T sum;
  T run = block_exclusive_scan<1024>(local, &sum, scratch);
  for (long long i = begin; i < end; i++) {
    T v = data[i];
    data[i] = run;
    run += v;
  }
  if (total != nullptr && threadIdx.x == 0) *total = sum;
}

template <typename T>
inline cudaError_t scan_in_place(T* data, long long n, T* total, cudaStream_t stream) {
  scan_in_place_kernel<T><<<1, 1024, 0, stream>>>(data, n, total);
  return cudaGetLastError();
}

}  // namespace detail
}  // namespace btk_cuda
