// What a training step needs from the other ranks of a distributed group, independent of how they
// are reached (c10d's ProcessGroupGloo in this build). Every rank makes the same calls in the same
// order: a collective is a meeting point.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace btk {

enum class Reduction { kSum, kMin, kMax };

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Replaces the contiguous CPU tensor t, on every rank, by its reduction over the ranks.
  virtual void all_reduce(torch::Tensor& t, Reduction op) = 0;
  // Payload bytes passed to all_reduce so far (what a step costs in communication).
  virtual int64_t bytes_reduced() const = 0;
};

}  // namespace btk
