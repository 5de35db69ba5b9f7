// CUDA kernels of the fused BatchTopK training step: host launch functions.
//
// Plain C++ header (no CUDA syntax): every function takes device pointers and a stream, enqueues its
// kernels and returns the launch status. None of them synchronises with the host, so a whole step
// can be enqueued back to back (and captured in a CUDA graph). Counts that are only known on the
// device (how many entries were selected, how many latents are active) stay on the device: kernels
// are launched for the host-known capacity and the surplus blocks return at once.
//
// Semantics are those of the CPU implementation in native/src (selection.cpp, fused_step.cpp,
// optimizer.cpp), float32 only. Index types are 32-bit: rows * cols must stay below 2^32 and the
// number of selected entries below 2^31.
#pragma once

#include <cuda_runtime_api.h>
#include <cstddef>

namespace btk_cuda {

// Sparse codes in row-major CSR form: row_ptr[rows + 1], then latent index and value of each entry.
// row_ptr[rows] is the number of entries (known on the device only).
struct Codes {
  const int* row_ptr;
  const int* col;
  const float* val;
};

// ---------------------------------------------------------------------------------------------
// selection.cu
// ---------------------------------------------------------------------------------------------

// Scratch bytes needed by batch_topk for a rows x cols matrix.
size_t batch_topk_workspace_bytes(int rows, int cols);

// BatchTopK: the `count` largest positive entries of the whole rows x cols matrix `values`
// (row-major). Ties at the threshold: the lowest flat index wins. Fewer positive entries than
// `count`: every positive entry. Output: row_ptr[rows + 1], col/val with room for
// min(count, rows * cols) entries, in row-major order.
cudaError_t batch_topk(const float* values, int rows, int cols, long long count, int* row_ptr, int* col, float* val,
                       void* workspace, size_t workspace_bytes, cudaStream_t stream);

// Scratch bytes needed by row_topk.
size_t row_topk_workspace_bytes(int rows, int k);

// TopK per row: the k largest positive entries of each row (same tie rule), restricted to the
// columns whose column_mask byte is non-zero when column_mask is not null (AuxK over dead latents;
// the output column is the latent index itself). Output: row_ptr[rows + 1], col/val with room for
// rows * k entries, each row's entries in increasing column order.
cudaError_t row_topk(const float* values, int rows, int cols, int k, const unsigned char* column_mask, int* row_ptr,
                     int* col, float* val, void* workspace, size_t workspace_bytes, cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// decode.cu
// ---------------------------------------------------------------------------------------------

// out[b] = bias + sum over row b's codes of value * W_dec[latent]; bias may be null (zero: AuxK).
// W_dec is [F, d] row-major, out is [rows, d].
cudaError_t decode(Codes codes, int rows, const float* W_dec, int d, const float* bias, float* out,
                   cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// backward.cu
// ---------------------------------------------------------------------------------------------

// One set of codes and the gradient dL/dx_hat [rows, d] of the reconstruction they feed.
struct CodeGrad {
  Codes codes;
  int capacity;           // host-known upper bound on the number of entries
  const float* grad_out;  // [rows, d]
};

// Gradients of the active latents, in the layout of the CPU Gradients struct: slot s (0 <= s <
// *n_active) holds latent active[s], latents in increasing order.
struct SparseGrads {
  int* active;    // [F]   latent of each slot
  int* slot_of;   // [F]   slot of each latent, -1 when inactive this step
  int* n_active;  // [1]   device scalar
  float* W_dec;   // [F, d] rows 0 .. n_active-1 written
  float* W_encT;  // [F, d]
  float* b_enc;   // [F]
  float* b_dec;   // [d]
};

size_t backward_workspace_bytes(int rows, int F, int d, int max_pairs);

// Explicit backward of the sparse step. `main` are the selected codes with g = dL/dx_hat; `aux` (may
// be null) the AuxK codes with their g_aux. xc = x - b_dec [rows, d]; W_encT [F, d] is W_enc
// transposed. Per latent f: dW_dec[f] = sum z g[b], dW_encT[f] = sum gpre xc[b], db_enc[f] = sum gpre
// with gpre = g[b] . W_dec[f], summed in a fixed order (main pairs by row, then aux pairs by row).
// db_dec = sum_b g_main[b] - W_encT^T db_enc.
cudaError_t backward(const CodeGrad* main, const CodeGrad* aux, int rows, int F, int d, const float* xc,
                     const float* W_dec, const float* W_encT, SparseGrads grads, void* workspace,
                     size_t workspace_bytes, cudaStream_t stream);

// ---------------------------------------------------------------------------------------------
// optimizer.cu
// ---------------------------------------------------------------------------------------------

struct AdamConfig {
  double lr, beta1, beta2, eps;
  double max_grad_norm;  // <= 0: no clipping (torch.nn.utils.clip_grad_norm_ factor otherwise)
  long long step;        // 1-based step number t of this update (bias corrections)
};

struct Params {
  float *W_encT, *m_W_encT, *v_W_encT;  // [F, d]
  float *W_dec, *m_W_dec, *v_W_dec;     // [F, d]
  float *b_enc, *m_b_enc, *v_b_enc;     // [F]
  float *b_dec, *m_b_dec, *v_b_dec;     // [d]
};

size_t optimizer_workspace_bytes(int F);

// One fused update: projects the decoder-row gradients (in place, like the CPU), reduces the global
// gradient norm (written to *norm_out, a device double) and the clip scale (*scale_out, a device
// float), then one pass per latent row: Adam on W_encT, W_dec (renormalised to unit length) and
// b_enc (zero gradient for inactive latents: the moments still decay), and Adam on b_dec.
// `grad_capacity` is the host-known bound on n_active (min(F, number of pairs)).
cudaError_t optimizer_step(Params params, SparseGrads grads, int F, int d, int grad_capacity, AdamConfig config,
                           double* norm_out, float* scale_out, void* workspace, size_t workspace_bytes,
                           cudaStream_t stream);

}  // namespace btk_cuda
