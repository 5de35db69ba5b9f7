// Latent sharding: each rank holds a block of the latents (their encoder and decoder rows, biases,
// Adam moments and counters) and sees the whole batch; what a step sums over the latents is summed
// over the ranks.
#pragma once

#include "collective.h"
#include "sae.h"

namespace btk {

// The block of latents rank `rank` of `world` owns: d_sae / world each, the first d_sae % world ranks
// one more. Every rank needs at least one latent.
ShardPlace shard_place(int64_t d_sae, int32_t rank, int32_t world);

// Refuses a group that is not the one the shard was made for.
void require_shard_group(const ShardPlace& place, const Collective& group);

struct LatentShards {
  Collective& group;

  // Replaces t, on every rank, by its sum over the ranks.
  void sum(torch::Tensor& t) const;
  double sum(double local) const;
  int64_t sum(int64_t local) const;
  double min(double local) const;
};

// The whole SAE the shards of `group` make up, on rank 0 (an ordinary SAE); nullptr on the others.
// The per-latent tensors travel in blocks of latents, so no other rank ever holds more than a block.
btk_sae* gather_shards(const btk_sae& shard, Collective& group);

}  // namespace btk
