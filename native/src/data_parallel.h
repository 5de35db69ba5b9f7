// Data parallelism: the sums a step takes over its batch, taken over the global batch instead.
#pragma once

#include "collective.h"
#include "sae.h"

namespace btk {

// One rank's share of a global batch: the ranks hold consecutive row blocks in rank order.
struct DataParallel {
  Collective& group;
  int64_t global_rows;

  double sum(double local) const;
  int64_t sum(int64_t local) const;
  double min(double local) const;
  // Elementwise logical or of a bool vector over the ranks.
  torch::Tensor any(const torch::Tensor& local) const;
  // sum over the global batch of (x - column mean)^2, the mean taken over the global batch.
  double total_variance(const torch::Tensor& x) const;
  // Replaces this rank's gradients by their sum over the ranks, keeping the rows of the latents any
  // rank touched (sparse rows move fewer bytes than dense buffers whenever some latent is idle).
  void sum_gradients(Gradients& g, int64_t d_sae) const;
};

// Meets the other ranks to learn the global batch size.
DataParallel data_parallel_layout(Collective& group, int64_t local_rows);

}  // namespace btk
