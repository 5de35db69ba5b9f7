// Gather decode: x_hat[b] = bias + sum over row b's codes of value * W_dec[latent].
//
// One block per token row; each thread owns columns i, i + blockDim, ... of the output and adds the
// active decoder rows in code order, so loads of a W_dec row are coalesced across the block and the
// sum for an element is formed in the same order as on the CPU (bias first, then the codes of the
// row in increasing latent order): no atomics, no dense B x F by F x d product.
#include "btk_cuda.h"
#include "common.cuh"

namespace btk_cuda {

using namespace detail;

namespace {

constexpr int kDecodeBlock = 128;
constexpr int kCodeTile = 256;  // codes of a row staged in shared memory per round

__global__ void __launch_bounds__(kDecodeBlock) decode_kernel(Codes codes, const float* __restrict__ W_dec, int d,
                                                              const float* __restrict__ bias, float* __restrict__ out) {
  __shared__ int s_col[kCodeTile];
  __shared__ float s_val[kCodeTile];
  const int b = blockIdx.x;
  const int begin = codes.row_ptr[b], end = codes.row_ptr[b + 1];
  float* o = out + static_cast<size_t>(b) * d;
  // Columns in chunks of 4 per thread held in registers, so each code is read from shared memory
  // once per chunk rather than once per column.
  constexpr int kPer = 4;
  for (int c0 = 0; c0 < d; c0 += kDecodeBlock * kPer) {
    float acc[kPer];
#pragma unroll
    for (int u = 0; u < kPer; u++) {
      const int i = c0 + u * kDecodeBlock + threadIdx.x;
      acc[u] = (bias != nullptr && i < d) ? bias[i] : 0.f;
    }
    for (int t0 = begin; t0 < end; t0 += kCodeTile) {
      const int n = min(kCodeTile, end - t0);
      __syncthreads();
      for (int t = threadIdx.x; t < n; t += kDecodeBlock) {
        s_col[t] = codes.col[t0 + t];
        s_val[t] = codes.val[t0 + t];
      }
      __syncthreads();
      for (int t = 0; t < n; t++) {
        const float* w = W_dec + static_cast<size_t>(s_col[t]) * d;
        const float z = s_val[t];
#pragma unroll
        for (int u = 0; u < kPer; u++) {
          const int i = c0 + u * kDecodeBlock + threadIdx.x;
          if (i < d) acc[u] += z * w[i];
        }
      }
    }
#pragma unroll
    for (int u = 0; u < kPer; u++) {
      const int i = c0 + u * kDecodeBlock + threadIdx.x;
      if (i < d) o[i] = acc[u];
    }
  }
}

}  // namespace

cudaError_t decode(Codes codes, int rows, const float* W_dec, int d, const float* bias, float* out,
                   cudaStream_t stream) {
  if (rows <= 0 || d <= 0) return cudaErrorInvalidValue;
  decode_kernel<<<rows, kDecodeBlock, 0, stream>>>(codes, W_dec, d, bias, out);
  return cudaGetLastError();
}

}  // namespace btk_cuda
