#include "latent_shards.h"

#include <memory>

#include "errors.h"
#include "state.h"

namespace btk {

ShardPlace shard_place(int64_t d_sae, int32_t rank, int32_t world) {
  if (world < 1) fail(BTK_ERR_INVALID_ARGUMENT, "world size must be at least 1, got " + std::to_string(world));
  if (rank < 0 || rank >= world) {
    fail(BTK_ERR_INVALID_ARGUMENT, "rank " + std::to_string(rank) + " is outside 0.." + std::to_string(world - 1) +
                                       " of a world of " + std::to_string(world));
  }
  if (d_sae < world) {
    fail(BTK_ERR_INVALID_ARGUMENT, "d_sae = " + std::to_string(d_sae) + " latents cannot be sharded over " +
                                       std::to_string(world) + " ranks: each rank needs at least one latent");
  }
  ShardPlace place;
  place.rank = rank;
  place.world = world;
  place.d_sae = d_sae;
  const int64_t each = d_sae / world, extra = d_sae % world;
  place.first = rank * each + std::min<int64_t>(rank, extra);
  place.latents = each + (rank < extra ? 1 : 0);
  return place;
}

void require_shard_group(const ShardPlace& place, const Collective& group) {
  if (group.size() != place.world || group.rank() != place.rank) {
    fail(BTK_ERR_INVALID_ARGUMENT, "this SAE is shard " + std::to_string(place.rank) + " of " +
                                       std::to_string(place.world) + ", but the group given is rank " +
                                       std::to_string(group.rank()) + " of " + std::to_string(group.size()));
  }
}

void LatentShards::sum(torch::Tensor& t) const { group.all_reduce(t, Reduction::kSum); }

double LatentShards::sum(double local) const {
  auto t = torch::tensor({local}, torch::kFloat64);
  group.all_reduce(t, Reduction::kSum);
  return t.item<double>();
}

int64_t LatentShards::sum(int64_t local) const {
  auto t = torch::tensor({local}, torch::kInt64);
  group.all_reduce(t, Reduction::kSum);
  return t.item<int64_t>();
}

double LatentShards::min(double local) const {
  auto t = torch::tensor({local}, torch::kFloat64);
  group.all_reduce(t, Reduction::kMin);
  return t.item<double>();
}

namespace {

// Elements per all-reduce while gathering: bounds what a rank other than 0 holds at once.
constexpr int64_t kGatherBlock = int64_t(1) << 22;

// Copies one per-latent tensor (latents along dimension 0) of every shard into `whole` on rank 0.
void gather_rows(const torch::Tensor& mine, const ShardPlace& place, torch::Tensor* whole, Collective& group) {
  const int64_t width = mine.dim() > 1 ? mine.size(1) : 1;
  const int64_t block = std::max<int64_t>(1, kGatherBlock / width);
  for (int64_t start = 0; start < place.d_sae; start += block) {
    const int64_t count = std::min(block, place.d_sae - start);
    auto shape = mine.sizes().vec();
    shape[0] = count;
    auto buffer = torch::zeros(shape, mine.options());
    // The overlap of this block with this rank's latents.
    const int64_t from = std::max(start, place.first), to = std::min(start + count, place.first + place.latents);
    if (from < to) buffer.narrow(0, from - start, to - from).copy_(mine.narrow(0, from - place.first, to - from));
    group.all_reduce(buffer, Reduction::kSum);
    if (whole != nullptr) whole->narrow(0, start, count).copy_(buffer);
  }
}

}  // namespace

btk_sae* gather_shards(const btk_sae& shard, Collective& group) {
  require_shard_group(*shard.shard, group);
  const ShardPlace& place = *shard.shard;
  std::unique_ptr<btk_sae> whole;
  if (group.rank() == 0) {
    whole = std::make_unique<btk_sae>();
    whole->cfg = shard.cfg;
    whole->cfg.d_sae = place.d_sae;
    whole->options = shard.options;
  }
  auto gather = [&](const torch::Tensor& mine, torch::Tensor* into) {
    if (into != nullptr) {
      auto shape = mine.sizes().vec();
      shape[0] = place.d_sae;
      *into = torch::empty(shape, mine.options());
    }
    gather_rows(mine, place, into, group);
  };
  for (const auto& p : params_of(shard)) {
    for (auto field : {p.value, p.m, p.v}) {
      torch::Tensor* into = whole ? &(whole.get()->*field) : nullptr;
      if (p.per_latent) {
        gather(shard.*field, into);
      } else if (into != nullptr) {
        *into = (shard.*field).clone();  // the same on every rank
      }
    }
  }
  gather(shard.tokens_since_fired, whole ? &whole->tokens_since_fired : nullptr);
  if (!whole) return nullptr;
  whole->theta = shard.theta;
  whole->step = shard.step;
  whole->state_names = state_names_of(*whole);
  return whole.release();
}

}  // namespace btk
