#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include "data_parallel.h"
#include "distributed_selection.h"
#include "latent_shards.h"
#include "normalize.h"
#include "selection.h"
#include "step.h"

namespace btk {

namespace {

// Eight partial sums: the compiler may not reorder a floating-point sum, so the vector lanes are
// spelled out.
template <typename T>
inline T dot(const T* __restrict a, const T* __restrict b, int64_t n) {
  T part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; j++) part[j] += a[i + j] * b[i + j];
  }
  T sum = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
  for (; i < n; i++) sum += a[i] * b[i];
  return sum;
}

template <typename T>
inline void axpy(T alpha, const T* __restrict x, T* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

// A [rows, cols] buffer of the workspace, reallocated only when it is too small or of another type.
torch::Tensor& reuse(torch::Tensor& buffer, int64_t rows, int64_t cols, const torch::TensorOptions& options) {
  if (!buffer.defined() || buffer.size(0) != rows || buffer.size(1) != cols ||
      buffer.scalar_type() != options.dtype()) {
    buffer = torch::empty({rows, cols}, options);
  }
  return buffer;
}

// out[b] += sum over row b's codes of value * W_dec[latent]: a gather of the active decoder rows.
template <typename T>
void sparse_decode(const SparseRows<T>& codes, const T* W_dec, int64_t d, T* out) {
  at::parallel_for(0, codes.rows(), 8, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; b++) {
      for (int64_t p = codes.row_ptr[b]; p < codes.row_ptr[b + 1]; p++) {
        axpy(codes.val[p], W_dec + codes.col[p] * d, out + b * d, d);
      }
    }
  });
}

// One active (token, latent) pair and the gradient that reaches it.
template <typename T>
struct Pair {
  int64_t row;
  int64_t latent;
  T code;             // the selected activation
  T grad_pre;         // dL/dpre: g[row] . W_dec[latent] (the pre-activation is positive)
  const T* grad_out;  // dL/dx_hat row it came from: the main or the AuxK reconstruction
};

template <typename T>
void append_pairs(const SparseRows<T>& codes, const T* grad_out, int64_t d, std::vector<Pair<T>>& pairs) {
  size_t first = pairs.size();
  pairs.resize(first + codes.nnz());
  for (int64_t b = 0; b < codes.rows(); b++) {
    for (int64_t p = codes.row_ptr[b]; p < codes.row_ptr[b + 1]; p++) {
      pairs[first + p] = {b, codes.col[p], codes.val[p], T(0), grad_out + b * d};
    }
  }
}

// Matryoshka: the gather decode of sparse_decode, emitting each prefix's reconstruction as a row's
// latents (ascending) cross a width. Row b's prefix i (x_0 = b_dec, ..., x_G the full reconstruction)
// leaves its error x_i - x in prefix[i][b] and its squared sum in squares[b][i]; the full error goes to
// `error` too. With want_gradients, prefix[i][b] then becomes the gradient that reaches a latent of
// group i: the suffix sum over j >= i of dL/dx_j = scale (x_j - x), so that a pair needs one pointer,
// as for BatchTopK, and prefix[0] is what reaches b_dec.
template <typename T>
void prefix_decode(const SparseRows<T>& codes, const std::vector<int64_t>& bounds, const T* W_dec, const T* b_dec,
                   const T* x, int64_t d, bool want_gradients, T scale, T* prefix, T* error, double* squares) {
  const int64_t B = codes.rows(), G = static_cast<int64_t>(bounds.size()) - 1;
  at::parallel_for(0, B, 8, [&](int64_t begin, int64_t end) {
    std::vector<T> running(d);
    for (int64_t b = begin; b < end; b++) {
      std::copy(b_dec, b_dec + d, running.begin());
      const T* xb = x + b * d;
      int64_t p = codes.row_ptr[b];
      for (int64_t i = 0; i <= G; i++) {
        for (; i > 0 && p < codes.row_ptr[b + 1] && codes.col[p] < bounds[i]; p++) {
          axpy(codes.val[p], W_dec + codes.col[p] * d, running.data(), d);
        }
        T* e = prefix + (i * B + b) * d;
        double sum = 0;
        for (int64_t j = 0; j < d; j++) {
          e[j] = running[j] - xb[j];
          sum += double(e[j]) * double(e[j]);
        }
        squares[b * (G + 1) + i] = sum;
      }
      std::copy(prefix + (G * B + b) * d, prefix + (G * B + b + 1) * d, error + b * d);
      if (!want_gradients) continue;
      for (int64_t i = G; i >= 0; i--) {
        T* e = prefix + (i * B + b) * d;
        const T* later = i < G ? prefix + ((i + 1) * B + b) * d : nullptr;
        for (int64_t j = 0; j < d; j++) e[j] = scale * e[j] + (later ? later[j] : T(0));
      }
    }
  });
}

// As append_pairs, each pair pointing at the gradient of its latent's group (see prefix_decode).
template <typename T>
void append_prefix_pairs(const SparseRows<T>& codes, const std::vector<int64_t>& bounds, const T* prefix_grads,
                         int64_t d, std::vector<Pair<T>>& pairs) {
  const int64_t B = codes.rows();
  size_t first = pairs.size();
  pairs.resize(first + codes.nnz());
  for (int64_t b = 0; b < B; b++) {
    size_t group = 1;
    for (int64_t p = codes.row_ptr[b]; p < codes.row_ptr[b + 1]; p++) {
      while (codes.col[p] >= bounds[group]) group++;
      pairs[first + p] = {b, codes.col[p], codes.val[p], T(0), prefix_grads + (int64_t(group) * B + b) * d};
    }
  }
}

template <typename T>
Gradients sparse_backward(const btk_sae& sae, std::vector<Pair<T>>& pairs, const torch::Tensor& xc,
                          const torch::Tensor& grad_out, const LatentShards* shards) {
  const int64_t d = sae.cfg.d_in, F = sae.cfg.d_sae;
  const T* W_dec = sae.W_dec.data_ptr<T>();
  const T* x = xc.data_ptr<T>();
  at::parallel_for(0, static_cast<int64_t>(pairs.size()), 1024, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) {
      pairs[i].grad_pre = dot(pairs[i].grad_out, W_dec + pairs[i].latent * d, d);
    }
  });

  // Group the pairs by latent (a stable counting sort) so each latent's rows are summed by one
  // thread, in a fixed order: no atomics, and the same result on every run.
  std::vector<int64_t> start(F + 1, 0);
  for (const auto& p : pairs) start[p.latent + 1]++;
  std::vector<int64_t> slot_of(F, -1), active;
  for (int64_t f = 0; f < F; f++) {
    if (start[f + 1] > 0) {
      slot_of[f] = static_cast<int64_t>(active.size());
      active.push_back(f);
    }
    start[f + 1] += start[f];
  }
  std::vector<int64_t> order(pairs.size());
  {
    std::vector<int64_t> next(start.begin(), start.end() - 1);
    for (size_t i = 0; i < pairs.size(); i++) order[next[pairs[i].latent]++] = static_cast<int64_t>(i);
  }

  const int64_t n = static_cast<int64_t>(active.size());
  Gradients g;
  g.rows = torch::tensor(active, torch::kInt64);
  g.W_dec = reuse(sae.workspace.grad_W_dec, F, d, sae.options).narrow(0, 0, n).zero_();
  g.W_encT = reuse(sae.workspace.grad_W_encT, F, d, sae.options).narrow(0, 0, n).zero_();
  g.b_enc = torch::zeros({n}, sae.options);
  T* gW_dec = g.W_dec.data_ptr<T>();
  T* gW_encT = g.W_encT.data_ptr<T>();
  T* gb_enc = g.b_enc.data_ptr<T>();
  at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; s++) {
      int64_t f = active[s];
      for (int64_t o = start[f]; o < start[f + 1]; o++) {
        const Pair<T>& p = pairs[order[o]];
        axpy(p.code, p.grad_out, gW_dec + s * d, d);
        axpy(p.grad_pre, x + p.row * d, gW_encT + s * d, d);
        gb_enc[s] += p.grad_pre;
      }
    }
  });
  // b_dec: directly through the decoder, and through the encoder's input x - b_dec: a matrix-vector
  // product over the active latents only (of every shard).
  auto through_encoder = torch::matmul(g.b_enc, sae.W_encT.index_select(0, g.rows));
  if (shards) shards->sum(through_encoder);
  g.b_dec = grad_out.sum(0) - through_encoder;
  return g;
}

torch::Tensor updated_counters(const btk_sae& sae, const torch::Tensor& fired, int64_t tokens) {
  return torch::where(fired, torch::zeros_like(sae.tokens_since_fired), sae.tokens_since_fired + tokens);
}

template <typename T>
torch::Tensor fired_latents(const SparseRows<T>& codes, int64_t F) {
  auto fired = torch::zeros({F}, torch::kBool);
  bool* f = fired.data_ptr<bool>();
  for (int64_t c : codes.col) f[c] = true;
  return fired;
}

// The step's selection, over the batch (BatchTopK) or per row (TopK); across the ranks with `dp` (rows
// spread) or `shards` (latents spread).
template <typename T>
SparseRows<T> select_codes(const btk_config& c, const T* pre, int64_t B, int64_t F, const DataParallel* dp,
                           const LatentShards* shards) {
  const int64_t k = c.k;
  if (shards) {
    return selects_over_batch(c) ? select_batch_topk_across(pre, B, F, k * B, shards->group, Split::kColumns)
                                 : select_row_topk_across(pre, B, F, k, shards->group);
  }
  if (!selects_over_batch(c)) return select_row_topk(pre, B, F, k);
  return dp ? select_batch_topk_across(pre, B, F, k * dp->global_rows, dp->group) : select_batch_topk(pre, B, F, k * B);
}

// BatchTopK and TopK: the sparse path. With `dp`, the batch is this rank's rows of a global batch
// (B_all rows): selection, sums and gradients are taken over the global batch. With `shards`, the
// SAE is this rank's latents: selection, reconstruction and sums are taken over every shard's.
template <typename T>
StepResult sparse_step(const btk_sae& sae, const torch::Tensor& batch, bool want_gradients, const DataParallel* dp,
                       const LatentShards* shards) {
  const auto& c = sae.cfg;
  const int64_t B = batch.size(0), d = c.d_in, F = c.d_sae;
  const int64_t B_all = dp ? dp->global_rows : B;
  auto normalized = normalize_input(c, batch);
  auto xn = normalized.x.contiguous();
  auto xc = (xn - sae.b_dec).contiguous();
  // The only dense matrix product of the step.
  auto& pre = reuse(sae.workspace.pre, B, F, sae.options);
  torch::addmm_out(pre, sae.b_enc, xc, sae.W_encT.t());
  const T* pre_data = pre.data_ptr<T>();

  // Matryoshka never gets here with `dp` or `shards`: btk_sae_train_step_data_parallel and
  // btk_sae_create_shard refuse it.
  SparseRows<T> codes = select_codes(c, pre_data, B, F, dp, shards);
  StepResult r;
  double squared_error = 0, reconstruction_loss = 0;
  torch::Tensor error, grad_out, prefix_grads;
  const bool matryoshka = c.architecture == BTK_ARCH_MATRYOSHKA_BATCHTOPK;
  const auto bounds = prefix_bounds(c);
  if (matryoshka) {
    // L = mean over the G + 1 prefixes (b_dec alone included) of their MSEs, the Matryoshka authors'
    // weighting; dL/dx_i = 2 (x_i - x) / ((G + 1) B d).
    const int64_t G = static_cast<int64_t>(bounds.size()) - 1;
    prefix_grads = reuse(sae.workspace.prefixes, (G + 1) * B, d, sae.options).view({G + 1, B, d});
    error = torch::empty({B, d}, sae.options);
    std::vector<double> squares(B * (G + 1));
    prefix_decode(codes, bounds, sae.W_dec.data_ptr<T>(), sae.b_dec.data_ptr<T>(), xn.data_ptr<T>(), d, want_gradients,
                  T(2.0 / double((G + 1) * B * d)), prefix_grads.data_ptr<T>(), error.data_ptr<T>(), squares.data());
    for (int64_t b = 0; b < B; b++) {
      for (int64_t i = 0; i <= G; i++) reconstruction_loss += squares[b * (G + 1) + i];
      squared_error += squares[b * (G + 1) + G];
    }
    reconstruction_loss /= double((G + 1) * B * d);
    grad_out = prefix_grads[0];
  } else {
    // repeat, not expand().contiguous(): at B = 1 the latter is b_dec itself, and the decode below
    // would write into the parameter.
    torch::Tensor x_hat;
    if (shards) {
      // Each shard decodes its own latents; the reconstruction is their sum, plus b_dec.
      x_hat = torch::zeros({B, d}, sae.options);
      sparse_decode(codes, sae.W_dec.data_ptr<T>(), d, x_hat.data_ptr<T>());
      shards->sum(x_hat);
      x_hat += sae.b_dec;
    } else {
      x_hat = sae.b_dec.repeat({B, 1});
      sparse_decode(codes, sae.W_dec.data_ptr<T>(), d, x_hat.data_ptr<T>());
    }
    error = x_hat - xn;
    squared_error = error.pow(2).sum().item<double>();
    if (dp) squared_error = dp->sum(squared_error);
    reconstruction_loss = squared_error / double(B_all * d);
  }

  if (!dp) {
    r.mse = squared_error / double(B * d);
    r.nmse = squared_error / total_variance(xn).item<double>();
    r.l0 = static_cast<double>(shards ? shards->sum(codes.nnz()) : codes.nnz()) / static_cast<double>(B);
    double smallest = codes.nnz() > 0 ? static_cast<double>(*std::min_element(codes.val.begin(), codes.val.end()))
                                      : std::numeric_limits<double>::infinity();
    if (shards) smallest = shards->min(smallest);
    if (std::isfinite(smallest)) r.smallest_selected = smallest;
    // A shard counts for its own latents only.
    r.tokens_since_fired = updated_counters(sae, fired_latents(codes, F), B);
  } else {
    r.mse = squared_error / double(B_all * d);
    r.nmse = squared_error / dp->total_variance(xn);
    r.l0 = static_cast<double>(dp->sum(codes.nnz())) / static_cast<double>(B_all);
    double smallest = codes.nnz() > 0 ? static_cast<double>(*std::min_element(codes.val.begin(), codes.val.end()))
                                      : std::numeric_limits<double>::infinity();
    smallest = dp->min(smallest);
    if (std::isfinite(smallest)) r.smallest_selected = smallest;
    r.tokens_since_fired = updated_counters(sae, dp->any(fired_latents(codes, F)), B_all);
  }

  // AuxK: the dead latents' own top activations reconstruct what the live ones missed.
  SparseRows<T> aux_codes;
  torch::Tensor aux_grad_out;
  if (uses_aux_loss(c)) {
    auto dead_mask = r.tokens_since_fired >= c.dead_after_tokens;
    auto dead_index = dead_mask.nonzero().flatten().contiguous();
    // With shards, every rank takes part in AuxK when any shard has a dead latent.
    const int64_t dead_count = shards ? shards->sum(dead_index.numel()) : dead_index.numel();
    if (dead_count > 0) {
      const int64_t* dead = dead_index.data_ptr<int64_t>();
      int64_t k_aux = std::min<int64_t>(c.k_aux, dead_count);
      auto pre_dead = pre.index_select(1, dead_index).contiguous();
      aux_codes = shards ? select_row_topk_across(pre_dead.data_ptr<T>(), B, dead_index.numel(), k_aux, shards->group)
                         : select_row_topk(pre_dead.data_ptr<T>(), B, dead_index.numel(), k_aux);
      for (auto& col : aux_codes.col) col = dead[col];
      auto x_hat_aux = torch::zeros({B, d}, sae.options);
      sparse_decode(aux_codes, sae.W_dec.data_ptr<T>(), d, x_hat_aux.data_ptr<T>());
      if (shards) shards->sum(x_hat_aux);
      // The residual x - x_hat is a constant target, so x_hat_aux - residual = x_hat_aux + error.
      auto aux_error = x_hat_aux + error;
      r.aux_loss = c.aux_coeff * (dp ? dp->sum(aux_error.pow(2).sum().item<double>()) / double(B_all * d)
                                     : aux_error.pow(2).mean().item<double>());
      aux_grad_out = (aux_error * (2.0 * c.aux_coeff / double(B_all * d))).contiguous();
    }
  }
  r.loss = reconstruction_loss + r.aux_loss;

  if (want_gradients) {
    std::vector<Pair<T>> pairs;
    pairs.reserve(codes.nnz() + aux_codes.col.size());
    if (matryoshka) {
      append_prefix_pairs(codes, bounds, prefix_grads.data_ptr<T>(), d, pairs);
    } else {
      grad_out = (error * (2.0 / double(B_all * d))).contiguous();
      append_pairs(codes, grad_out.data_ptr<T>(), d, pairs);
    }
    if (aux_grad_out.defined()) append_pairs(aux_codes, aux_grad_out.data_ptr<T>(), d, pairs);
    r.gradients = sparse_backward(sae, pairs, xc, grad_out, shards);
    if (dp) dp->sum_gradients(r.gradients, F);
  }
  return r;
}

// JumpReLU and ReLU: every latent may fire, so the explicit backward is written with dense products.
StepResult dense_step(const btk_sae& sae, const torch::Tensor& batch, bool want_gradients) {
  const auto& c = sae.cfg;
  const int64_t B = batch.size(0), d = c.d_in;
  auto normalized = normalize_input(c, batch);
  auto xn = normalized.x;
  auto xc = xn - sae.b_dec;
  auto pre = torch::addmm(sae.b_enc, xc, sae.W_encT.t());
  auto acts = torch::relu(pre);
  torch::Tensor threshold, mask;
  if (c.architecture == BTK_ARCH_JUMPRELU) {
    threshold = sae.log_threshold.exp();
    mask = acts > threshold;
  } else {
    mask = pre > 0;
  }
  auto codes = acts * mask;
  auto x_hat = torch::addmm(sae.b_dec, codes, sae.W_dec);
  auto error = x_hat - xn;

  StepResult r;
  const double squared_error = error.pow(2).sum().item<double>();
  r.mse = squared_error / double(B * d);
  r.nmse = squared_error / total_variance(xn).item<double>();
  r.l0 = mask.sum().item<double>() / double(B);
  r.sparsity_loss =
      c.architecture == BTK_ARCH_JUMPRELU ? c.l0_coeff * r.l0 : c.l1_coeff * codes.sum(1).mean().item<double>();
  r.loss = r.mse + r.sparsity_loss;
  r.tokens_since_fired = updated_counters(sae, mask.any(0), B);

  if (want_gradients) {
    auto grad_out = error * (2.0 / double(B * d));
    auto grad_codes = torch::mm(grad_out, sae.W_dec.t());
    if (c.architecture == BTK_ARCH_RELU) grad_codes += c.l1_coeff / double(B);
    auto grad_pre = grad_codes * mask;
    Gradients g;
    g.W_dec = torch::mm(codes.t(), grad_out);
    g.W_encT = torch::mm(grad_pre.t(), xc);
    g.b_enc = grad_pre.sum(0);
    g.b_dec = grad_out.sum(0) - torch::mv(sae.W_encT.t(), g.b_enc);
    if (c.architecture == BTK_ARCH_JUMPRELU) {
      // Straight-through estimator: a rectangle kernel of width `bandwidth` around each threshold.
      double bw = c.jumprelu_bandwidth;
      auto near = (((acts - threshold) / bw).abs() < 0.5).to(sae.options.dtype());
      auto grad_threshold =
          -(threshold / bw) * (grad_codes * near).sum(0) - (c.l0_coeff / (double(B) * bw)) * near.sum(0);
      g.log_threshold = grad_threshold * threshold;
    }
    r.gradients = g;
  }
  return r;
}

}  // namespace

StepResult fused_forward_backward(const btk_sae& sae, const torch::Tensor& batch, bool want_gradients,
                                  const DataParallel* dp, const LatentShards* shards) {
  if (sae.cfg.architecture == BTK_ARCH_JUMPRELU || sae.cfg.architecture == BTK_ARCH_RELU) {
    return dense_step(sae, batch, want_gradients);
  }
  StepResult result;
  AT_DISPATCH_FLOATING_TYPES(batch.scalar_type(), "fused_forward_backward",
                             [&] { result = sparse_step<scalar_t>(sae, batch, want_gradients, dp, shards); });
  return result;
}

torch::Tensor total_variance(const torch::Tensor& x) { return (x - x.mean(0, true)).pow(2).sum(); }

}  // namespace btk
