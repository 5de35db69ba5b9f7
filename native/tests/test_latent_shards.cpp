// Latent sharding through the C interface: 2 and 3 ranks (threads of this process, each holding its
// shard of the latents, joined by c10d/Gloo on 127.0.0.1) train the same SAE as one process on the
// same batches, for BatchTopK and TopK and a d_sae the ranks do not divide; and the misuses are clear
// errors.
#include <memory>

#include "free_port.h"
#include "run_ranks.h"
#include "test_util.h"

namespace {

constexpr int64_t kB = 48, kD = 24, kF = 161;  // 161 = 2 * 80 + 1 = 3 * 53 + 2: uneven shards
constexpr int kSteps = 20;
// Everything the gathered SAE holds that one process's holds too.
const char* kCompared[] = {"W_enc",        "b_enc",        "W_dec",        "b_dec",        "adam.m.W_enc",
                           "adam.v.W_enc", "adam.m.W_dec", "adam.v.W_dec", "adam.m.b_dec", "adam.v.b_dec"};

btk_config job_config(int32_t arch, int32_t dtype) {
  auto cfg = config_for(kD, kF, arch, 6);
  cfg.k_aux = 16;
  cfg.dead_after_tokens = kB;  // latents die within a few steps: AuxK runs too
  cfg.seed = 5;
  cfg.dtype = dtype;
  return cfg;
}

template <typename T>
std::vector<T> batch(int step) {
  return random_normal<T>(kB * kD, 700 + step, 0.3, 1.0);
}

struct Run {
  std::vector<btk_metrics> metrics;
  std::map<std::string, std::vector<double>> state;
};

Run record(const Sae& sae, std::vector<btk_metrics> metrics) {
  Run run{std::move(metrics), {}};
  for (const char* name : kCompared) run.state[name] = sae.state(name);
  for (const char* name : {"tokens_since_fired", "theta", "step"}) run.state[name] = sae.state(name);
  return run;
}

template <typename T>
Run one_process(int32_t arch, int32_t dtype) {
  Sae sae(job_config(arch, dtype));
  std::vector<btk_metrics> metrics;
  for (int step = 0; step < kSteps; step++) {
    auto x = batch<T>(step);
    auto v = view_of(x, kB, kD);
    btk_metrics m;
    REQUIRE_OK(btk_sae_train_step(sae.get(), &v, &m));
    metrics.push_back(m);
  }
  return record(sae, metrics);
}

btk_sae* create_shard(const btk_config& cfg, int rank, int world) {
  btk_sae* shard = nullptr;
  REQUIRE_OK(btk_sae_create_shard(&cfg, rank, world, &shard));
  return shard;
}

// Each rank's metrics and b_dec, and the SAE gathered on rank 0.
struct Sharded {
  std::vector<std::vector<btk_metrics>> metrics;
  std::vector<std::vector<double>> b_dec;
  Run gathered;
  std::vector<int64_t> bytes;
};

template <typename T>
Sharded latent_sharded(int world, int32_t arch, int32_t dtype) {
  const int port = free_port();
  Sharded out{std::vector<std::vector<btk_metrics>>(world),
              std::vector<std::vector<double>>(world),
              {},
              std::vector<int64_t>(world)};
  run_ranks(world, [&](int rank) {
    btk_dist* dist = nullptr;
    REQUIRE_OK(btk_dist_create(rank, world, "127.0.0.1", port, 30000, &dist));
    std::unique_ptr<btk_dist, void (*)(btk_dist*)> owner(dist, btk_dist_destroy);
    Sae shard(create_shard(job_config(arch, dtype), rank, world));
    for (int step = 0; step < kSteps; step++) {
      auto x = batch<T>(step);
      auto v = view_of(x, kB, kD);
      btk_metrics m;
      REQUIRE_OK(btk_sae_train_step_latent_sharded(shard.get(), dist, &v, &m));
      out.metrics[rank].push_back(m);
    }
    out.bytes[rank] = btk_dist_bytes_reduced(dist);
    out.b_dec[rank] = shard.state("b_dec");
    btk_sae* gathered = nullptr;
    REQUIRE_OK(btk_sae_gather_shards(shard.get(), dist, &gathered));
    if (rank != 0) {
      EXPECT_TRUE(gathered == nullptr) << "rank " << rank << " got the gathered SAE";
      btk_sae_destroy(gathered);
      return;
    }
    if (gathered == nullptr) throw std::runtime_error("rank 0 got no gathered SAE");
    Sae whole(gathered);
    btk_config cfg;
    REQUIRE_OK(btk_sae_config(whole.get(), &cfg));
    EXPECT_TRUE(cfg.d_sae == kF) << "the gathered SAE has " << cfg.d_sae << " latents";
    out.gathered = record(whole, out.metrics[0]);
  });
  return out;
}

template <typename T>
void check_equal_to_one_process(int world, int32_t arch, int32_t dtype, double tolerance) {
  const std::string where =
      std::to_string(world) + " shards, " + arch_name(arch) + (dtype == BTK_DTYPE_F64 ? " f64" : " f32");
  const Run single = one_process<T>(arch, dtype);
  const Sharded sharded = latent_sharded<T>(world, arch, dtype);
  for (int rank = 0; rank < world; rank++) {
    for (int step = 0; step < kSteps; step++) {
      const btk_metrics &m = sharded.metrics[rank][step], &e = single.metrics[step];
      const std::string at = where + ", rank " + std::to_string(rank) + ", step " + std::to_string(step);
      // Identical selections: every step's L0 and dead count.
      EXPECT_TRUE(m.l0 == e.l0) << at << ": l0 " << m.l0 << " vs " << e.l0;
      EXPECT_TRUE(m.dead == e.dead) << at << ": dead " << m.dead << " vs " << e.dead;
      EXPECT_TRUE(std::abs(m.loss - e.loss) <= tolerance * e.loss) << at << ": loss differs";
      EXPECT_TRUE(std::abs(m.aux_loss - e.aux_loss) <= tolerance * (1e-12 + e.aux_loss)) << at << ": aux loss differs";
      EXPECT_TRUE(std::abs(m.grad_norm - e.grad_norm) <= tolerance * e.grad_norm) << at << ": grad norm differs";
      EXPECT_TRUE(std::abs(m.theta - e.theta) <= tolerance * e.theta) << at << ": theta differs";
    }
    // b_dec is every rank's copy: the same bits everywhere.
    EXPECT_TRUE(sharded.b_dec[rank] == sharded.b_dec[0]) << where << ": rank " << rank << "'s b_dec differs";
    EXPECT_TRUE(sharded.bytes[rank] > 0) << where << ": no bytes counted";
  }
  const Run& gathered = sharded.gathered;
  EXPECT_TRUE(gathered.state.at("tokens_since_fired") == single.state.at("tokens_since_fired"))
      << where << ": dead-latent counters differ";
  EXPECT_TRUE(gathered.state.at("step") == single.state.at("step")) << where << ": step differs";
  EXPECT_TRUE(std::abs(gathered.state.at("theta")[0] - single.state.at("theta")[0]) <=
              tolerance * single.state.at("theta")[0])
      << where << ": theta differs";
  for (const char* name : kCompared) {
    double diff = relative_difference(gathered.state.at(name), single.state.at(name));
    EXPECT_TRUE(diff <= tolerance) << where << ": " << name << " differs from one process's by " << diff;
  }
  EXPECT_TRUE(single.metrics[kSteps - 1].dead > 0 || single.metrics[3].aux_loss > 0) << where << ": AuxK never ran";
}

}  // namespace

TEST(latent_shards, two_shards_equal_one_process_f64) {
  SKIP_WITHOUT_DISTRIBUTED();
  check_equal_to_one_process<double>(2, BTK_ARCH_BATCHTOPK, BTK_DTYPE_F64, 1e-10);
}

TEST(latent_shards, three_shards_equal_one_process_f64) {
  SKIP_WITHOUT_DISTRIBUTED();
  check_equal_to_one_process<double>(3, BTK_ARCH_BATCHTOPK, BTK_DTYPE_F64, 1e-10);
}

TEST(latent_shards, two_and_three_shards_equal_one_process_f32) {
  SKIP_WITHOUT_DISTRIBUTED();
  check_equal_to_one_process<float>(2, BTK_ARCH_BATCHTOPK, BTK_DTYPE_F32, 2e-5);
  check_equal_to_one_process<float>(3, BTK_ARCH_BATCHTOPK, BTK_DTYPE_F32, 2e-5);
}

TEST(latent_shards, topk_two_and_three_shards_equal_one_process) {
  SKIP_WITHOUT_DISTRIBUTED();
  check_equal_to_one_process<double>(2, BTK_ARCH_TOPK, BTK_DTYPE_F64, 1e-10);
  check_equal_to_one_process<double>(3, BTK_ARCH_TOPK, BTK_DTYPE_F64, 1e-10);
}

// A shard draws its slice of the very numbers the whole SAE draws, without a group.
TEST(latent_shards, shards_start_as_slices_of_the_whole_sae) {
  SKIP_WITHOUT_DISTRIBUTED();
  const auto cfg = job_config(BTK_ARCH_BATCHTOPK, BTK_DTYPE_F32);
  Sae whole(cfg);
  const auto W_enc = whole.state("W_enc"), W_dec = whole.state("W_dec");
  for (int rank = 0; rank < 3; rank++) {
    Sae shard(create_shard(cfg, rank, 3));
    btk_shard place;
    REQUIRE_OK(btk_sae_shard(shard.get(), &place));
    EXPECT_TRUE(place.rank == rank && place.world_size == 3 && place.d_sae == kF) << "wrong place";
    EXPECT_TRUE(place.latents == (rank < 2 ? 54 : 53)) << "rank " << rank << " holds " << place.latents;
    EXPECT_TRUE(place.first_latent == (rank == 0   ? 0
                                       : rank == 1 ? 54
                                                   : 108))
        << "rank " << rank << " starts at " << place.first_latent;
    const auto mine_enc = shard.state("W_enc"), mine_dec = shard.state("W_dec");
    bool same = true;
    for (int64_t i = 0; i < kD; i++) {
      for (int64_t j = 0; j < place.latents; j++) {
        same = same && mine_enc[i * place.latents + j] == W_enc[i * kF + place.first_latent + j];
        same = same && mine_dec[j * kD + i] == W_dec[(place.first_latent + j) * kD + i];
      }
    }
    EXPECT_TRUE(same) << "shard " << rank << " does not start as its slice of the whole SAE";
    btk_config reported;
    REQUIRE_OK(btk_sae_config(shard.get(), &reported));
    EXPECT_TRUE(reported.d_sae == kF) << "a shard reports d_sae " << reported.d_sae;
  }
  btk_shard place;
  REQUIRE_OK(btk_sae_shard(whole.get(), &place));
  EXPECT_TRUE(place.world_size == 1 && place.latents == kF) << "an ordinary SAE is not rank 0 of 1";
}

TEST(latent_shards, fewer_latents_than_ranks_is_refused) {
  SKIP_WITHOUT_DISTRIBUTED();
  auto cfg = config_for(kD, 2, BTK_ARCH_BATCHTOPK, 1);
  btk_sae* shard = nullptr;
  EXPECT_TRUE(btk_sae_create_shard(&cfg, 0, 3, &shard) == BTK_ERR_INVALID_ARGUMENT) << "2 latents over 3 ranks";
  std::string message = btk_last_error();
  EXPECT_TRUE(message.find("d_sae = 2 latents cannot be sharded over 3 ranks") != std::string::npos) << message;
  EXPECT_TRUE(shard == nullptr) << "a handle came back from a failure";
  cfg = config_for(kD, kF, BTK_ARCH_BATCHTOPK, 6);
  EXPECT_TRUE(btk_sae_create_shard(&cfg, 3, 3, &shard) == BTK_ERR_INVALID_ARGUMENT) << "rank 3 of 3 accepted";
  EXPECT_TRUE(std::string(btk_last_error()).find("rank 3 is outside 0..2") != std::string::npos) << btk_last_error();
}

TEST(latent_shards, other_architectures_are_refused) {
  SKIP_WITHOUT_DISTRIBUTED();
  for (int32_t arch : {BTK_ARCH_MATRYOSHKA_BATCHTOPK, BTK_ARCH_JUMPRELU, BTK_ARCH_RELU}) {
    auto cfg = config_for(kD, kF, arch, 6);
    btk_sae* shard = nullptr;
    EXPECT_TRUE(btk_sae_create_shard(&cfg, 0, 2, &shard) == BTK_ERR_INVALID_ARGUMENT) << arch_name(arch) << " sharded";
    EXPECT_TRUE(std::string(btk_last_error()).find("batchtopk and topk architectures only") != std::string::npos)
        << btk_last_error();
  }
}

// A shard trains only with its own group, and refuses what needs every latent.
TEST(latent_shards, misuse_is_a_clear_error) {
  SKIP_WITHOUT_DISTRIBUTED();
  Sae shard(create_shard(job_config(BTK_ARCH_BATCHTOPK, BTK_DTYPE_F32), 1, 2));
  auto x = batch<float>(0);
  auto v = view_of(x, kB, kD);
  btk_metrics m;
  EXPECT_TRUE(btk_sae_train_step(shard.get(), &v, &m) == BTK_ERR_INVALID_ARGUMENT) << "a shard trained alone";
  std::string message = btk_last_error();
  EXPECT_TRUE(message.find("this SAE is shard 1 of 2 of a latent-sharded SAE (latents 81..160 of 161)") !=
              std::string::npos)
      << message;
  std::vector<float> out(kB * kD);
  auto o = view_of(out, kB, kD);
  EXPECT_TRUE(btk_sae_reconstruct(shard.get(), &v, BTK_SELECT_INFERENCE, &o) == BTK_ERR_INVALID_ARGUMENT)
      << "a shard reconstructed alone";

  btk_dist* dist = nullptr;
  REQUIRE_OK(btk_dist_create(0, 1, "127.0.0.1", free_port(), 5000, &dist));
  std::unique_ptr<btk_dist, void (*)(btk_dist*)> owner(dist, btk_dist_destroy);
  EXPECT_TRUE(btk_sae_train_step_latent_sharded(shard.get(), dist, &v, &m) == BTK_ERR_INVALID_ARGUMENT)
      << "shard 1 of 2 trained in a group of 1";
  message = btk_last_error();
  EXPECT_TRUE(message.find("this SAE is shard 1 of 2, but the group given is rank 0 of 1") != std::string::npos)
      << message;
  Sae whole(job_config(BTK_ARCH_BATCHTOPK, BTK_DTYPE_F32));
  EXPECT_TRUE(btk_sae_train_step_latent_sharded(whole.get(), dist, &v, &m) == BTK_ERR_INVALID_ARGUMENT)
      << "a whole SAE trained as a shard";
  EXPECT_TRUE(std::string(btk_last_error()).find("not a shard") != std::string::npos) << btk_last_error();
}
