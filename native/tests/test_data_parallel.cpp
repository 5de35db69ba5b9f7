// Data-parallel training through the C interface: 2 and 3 ranks (threads of this process, each
// with its own btk_sae, joined by c10d/Gloo on 127.0.0.1) train the same SAE as one process on
// the same global batches, and as the naive step (the reference's way) does; and the group's failures
// are clear errors, never a hang.
#include <chrono>
#include <memory>
#include <thread>

#include "free_port.h"
#include "run_ranks.h"
#include "test_util.h"

namespace {

constexpr int64_t kB = 48, kD = 24, kF = 160;
constexpr int kSteps = 20;
const char* kParams[] = {"W_enc", "b_enc", "W_dec", "b_dec"};

btk_config job_config(int32_t arch, int32_t dtype) {
  auto cfg = config_for(kD, kF, arch, 6);
  cfg.k_aux = 16;
  cfg.dead_after_tokens = kB;  // latents die within a few steps: AuxK runs too
  cfg.seed = 5;
  cfg.dtype = dtype;
  return cfg;
}

template <typename T>
std::vector<T> global_batch(int step) {
  return random_normal<T>(kB * kD, 900 + step, 0.3, 1.0);
}

// Rows of the global batch rank r holds: uneven blocks, in rank order.
std::pair<int64_t, int64_t> block(int rank, int world) {
  std::vector<int64_t> cuts{0};
  for (int r = 1; r < world; r++) cuts.push_back(kB * r / world + (r % 2 == 0 ? 1 : -1));
  cuts.push_back(kB);
  return {cuts[rank], cuts[rank + 1]};
}

struct Run {
  std::vector<btk_metrics> metrics;
  std::map<std::string, std::vector<double>> state;
};

Run record(Sae& sae, std::vector<btk_metrics> metrics) {
  Run run{std::move(metrics), {}};
  for (const char* name : kParams) run.state[name] = sae.state(name);
  run.state["tokens_since_fired"] = sae.state("tokens_since_fired");
  run.state["theta"] = sae.state("theta");
  return run;
}

template <typename T>
Run one_process(int32_t arch, int32_t dtype, int32_t path) {
  auto cfg = job_config(arch, dtype);
  cfg.path = path;
  Sae sae(cfg);
  std::vector<btk_metrics> metrics;
  for (int step = 0; step < kSteps; step++) {
    auto x = global_batch<T>(step);
    auto v = view_of(x, kB, kD);
    btk_metrics m;
    REQUIRE_OK(btk_sae_train_step(sae.get(), &v, &m));
    metrics.push_back(m);
  }
  return record(sae, metrics);
}

template <typename T>
std::vector<Run> data_parallel(int world, int32_t arch, int32_t dtype) {
  const int port = free_port();
  std::vector<Run> runs(world);
  run_ranks(world, [&](int rank) {
    btk_dist* dist = nullptr;
    REQUIRE_OK(btk_dist_create(rank, world, "127.0.0.1", port, 30000, &dist));
    std::unique_ptr<btk_dist, void (*)(btk_dist*)> owner(dist, btk_dist_destroy);
    Sae sae(job_config(arch, dtype));
    std::vector<btk_metrics> metrics;
    auto [begin, end] = block(rank, world);
    for (int step = 0; step < kSteps; step++) {
      auto x = global_batch<T>(step);
      std::vector<T> mine(x.begin() + begin * kD, x.begin() + end * kD);
      auto v = view_of(mine, end - begin, kD);
      btk_metrics m;
      REQUIRE_OK(btk_sae_train_step_data_parallel(sae.get(), dist, &v, &m));
      metrics.push_back(m);
    }
    EXPECT_TRUE(btk_dist_bytes_reduced(dist) > 0) << "no bytes counted";
    runs[rank] = record(sae, metrics);
  });
  return runs;
}

// The same selections (every step's L0 and dead count, and the counters they leave behind), losses and
// parameters as the reference run, within tolerance.
void expect_same_run(const Run& run, const Run& reference, double tolerance, const std::string& where) {
  for (int step = 0; step < kSteps; step++) {
    EXPECT_TRUE(run.metrics[step].l0 == reference.metrics[step].l0)
        << where + ": l0 differs at step " + std::to_string(step);
    EXPECT_TRUE(run.metrics[step].dead == reference.metrics[step].dead)
        << where + ": dead differs at step " + std::to_string(step);
    EXPECT_TRUE(std::abs(run.metrics[step].loss - reference.metrics[step].loss) <=
                tolerance * reference.metrics[step].loss)
        << where + ": loss differs at step " + std::to_string(step);
    EXPECT_TRUE(std::abs(run.metrics[step].aux_loss - reference.metrics[step].aux_loss) <=
                tolerance * (1e-12 + reference.metrics[step].aux_loss))
        << where + ": aux loss differs at step " + std::to_string(step);
    EXPECT_TRUE(std::abs(run.metrics[step].nmse - reference.metrics[step].nmse) <=
                tolerance * reference.metrics[step].nmse)
        << where + ": nmse differs at step " + std::to_string(step);
  }
  EXPECT_TRUE(run.state.at("tokens_since_fired") == reference.state.at("tokens_since_fired"))
      << where + ": dead-latent counters differ";
  EXPECT_TRUE(std::abs(run.state.at("theta")[0] - reference.state.at("theta")[0]) <=
              tolerance * reference.state.at("theta")[0])
      << where + ": theta differs";
  for (const char* name : kParams) {
    double diff = relative_difference(run.state.at(name), reference.state.at(name));
    EXPECT_TRUE(diff <= tolerance) << where + ": " + name + " differs by " + std::to_string(diff);
  }
}

// tolerance: against one process's fused step; naive_tolerance: against its naive step, which rounds
// differently (float32 Adam magnifies that where a gradient is as small as eps, see test_fused_vs_naive).
template <typename T>
void check_equal_to_one_process(int world, int32_t arch, int32_t dtype, double tolerance, double naive_tolerance) {
  const std::string where =
      std::to_string(world) + " ranks, " + arch_name(arch) + (dtype == BTK_DTYPE_F64 ? " f64" : " f32");
  Run single = one_process<T>(arch, dtype, BTK_PATH_FUSED);
  Run naive = one_process<T>(arch, dtype, BTK_PATH_NAIVE);
  auto ranks = data_parallel<T>(world, arch, dtype);
  for (int rank = 0; rank < world; rank++) {
    expect_same_run(ranks[rank], single, tolerance, where + ", rank " + std::to_string(rank) + " vs one process");
    // Every rank holds the very same parameters.
    for (const char* name : kParams) {
      EXPECT_TRUE(ranks[rank].state.at(name) == ranks[0].state.at(name))
          << where + ": rank " + std::to_string(rank) + "'s " + name + " differs from rank 0's";
    }
  }
  expect_same_run(ranks[0], naive, naive_tolerance, where + " vs one process's naive step");
  EXPECT_TRUE(ranks[0].metrics[kSteps - 1].dead > 0 || ranks[0].metrics[3].aux_loss > 0) << where + ": AuxK never ran";
}

int32_t create_alone(int rank, int world, int port, int64_t timeout_ms, btk_dist** out) {
  return btk_dist_create(rank, world, "127.0.0.1", port, timeout_ms, out);
}

}  // namespace

TEST(data_parallel, two_ranks_equal_one_process_f64) {
  SKIP_WITHOUT_DISTRIBUTED();
  check_equal_to_one_process<double>(2, BTK_ARCH_BATCHTOPK, BTK_DTYPE_F64, 1e-10, 1e-10);
}

TEST(data_parallel, three_ranks_equal_one_process_f64) {
  SKIP_WITHOUT_DISTRIBUTED();
  check_equal_to_one_process<double>(3, BTK_ARCH_BATCHTOPK, BTK_DTYPE_F64, 1e-10, 1e-10);
}

TEST(data_parallel, two_and_three_ranks_equal_one_process_f32) {
  SKIP_WITHOUT_DISTRIBUTED();
  check_equal_to_one_process<float>(2, BTK_ARCH_BATCHTOPK, BTK_DTYPE_F32, 2e-5, 2e-3);
  check_equal_to_one_process<float>(3, BTK_ARCH_BATCHTOPK, BTK_DTYPE_F32, 2e-5, 2e-3);
}

TEST(data_parallel, topk_three_ranks_equal_one_process) {
  SKIP_WITHOUT_DISTRIBUTED();
  check_equal_to_one_process<double>(3, BTK_ARCH_TOPK, BTK_DTYPE_F64, 1e-10, 1e-10);
}

TEST(data_parallel, bad_rank_and_world_size) {
  SKIP_WITHOUT_DISTRIBUTED();
  btk_dist* dist = nullptr;
  EXPECT_TRUE(create_alone(2, 2, free_port(), 1000, &dist) == BTK_ERR_INVALID_ARGUMENT) << "rank 2 of 2 accepted";
  EXPECT_TRUE(std::string(btk_last_error()).find("rank 2 is outside 0..1") != std::string::npos) << btk_last_error();
  EXPECT_TRUE(create_alone(0, 0, free_port(), 1000, &dist) == BTK_ERR_INVALID_ARGUMENT) << "world size 0 accepted";
  EXPECT_TRUE(create_alone(0, 1, 70000, 1000, &dist) == BTK_ERR_INVALID_ARGUMENT) << "port 70000 accepted";
  EXPECT_TRUE(btk_dist_create(0, 1, nullptr, free_port(), 1000, &dist) == BTK_ERR_INVALID_ARGUMENT)
      << "NULL address accepted";
  EXPECT_TRUE(dist == nullptr) << "a handle came back from a failure";
}

// Matryoshka's prefix losses are not summed across ranks: a data-parallel step refuses it by name
// rather than training something other than what one process would.
TEST(data_parallel, matryoshka_is_refused) {
  SKIP_WITHOUT_DISTRIBUTED();
  btk_dist* dist = nullptr;
  REQUIRE_OK(create_alone(0, 1, free_port(), 5000, &dist));
  std::unique_ptr<btk_dist, void (*)(btk_dist*)> owner(dist, btk_dist_destroy);
  auto cfg = config_for(kD, kF, BTK_ARCH_MATRYOSHKA_BATCHTOPK, 6);
  cfg.matryoshka_count = 2;
  cfg.matryoshka_widths[0] = kF / 4;
  cfg.matryoshka_widths[1] = kF;
  Sae sae(cfg);
  auto x = global_batch<float>(0);
  auto v = view_of(x, kB, kD);
  btk_metrics m;
  EXPECT_TRUE(btk_sae_train_step_data_parallel(sae.get(), dist, &v, &m) == BTK_ERR_INVALID_ARGUMENT)
      << "a Matryoshka SAE trained data parallel";
  std::string message = btk_last_error();
  EXPECT_TRUE(message.find("matryoshka") != std::string::npos) << message;
}

TEST(data_parallel, port_in_use) {
  SKIP_WITHOUT_DISTRIBUTED();
  const int port = free_port();
  btk_dist* first = nullptr;
  REQUIRE_OK(create_alone(0, 1, port, 5000, &first));
  btk_dist* second = nullptr;
  int32_t rc = create_alone(0, 1, port, 2000, &second);
  btk_dist_destroy(first);
  EXPECT_TRUE(rc == BTK_ERR_COMMUNICATION) << "a second store on a port in use was accepted";
  std::string message = btk_last_error();
  EXPECT_TRUE(message.find("cannot host the rendezvous store on 127.0.0.1:" + std::to_string(port)) !=
              std::string::npos)
      << message;
}

TEST(data_parallel, missing_rank_times_out) {
  SKIP_WITHOUT_DISTRIBUTED();
  btk_dist* dist = nullptr;
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(create_alone(1, 2, free_port(), 1500, &dist) == BTK_ERR_COMMUNICATION)
      << "a rank without a group was accepted";
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string message = btk_last_error();
  EXPECT_TRUE(message.find("rank 1 could not meet the group of 2") != std::string::npos) << message;
  EXPECT_TRUE(seconds < 30) << "waited " + std::to_string(seconds) + " s for a 1.5 s timeout";
}

TEST(data_parallel, lost_rank_is_an_error_not_a_hang) {
  SKIP_WITHOUT_DISTRIBUTED();
  const int port = free_port();
  run_ranks(2, [&](int rank) {
    btk_dist* dist = nullptr;
    REQUIRE_OK(btk_dist_create(rank, 2, "127.0.0.1", port, 5000, &dist));
    if (rank == 1) {
      btk_dist_destroy(dist);  // leaves the group without a word
      return;
    }
    std::unique_ptr<btk_dist, void (*)(btk_dist*)> owner(dist, btk_dist_destroy);
    Sae sae(job_config(BTK_ARCH_BATCHTOPK, BTK_DTYPE_F32));
    auto x = global_batch<float>(0);
    auto v = view_of(x, kB / 2, kD);
    btk_metrics m;
    int32_t rc = BTK_OK;
    for (int step = 0; step < 3 && rc == BTK_OK; step++) rc = btk_sae_train_step_data_parallel(sae.get(), dist, &v, &m);
    EXPECT_TRUE(rc == BTK_ERR_COMMUNICATION) << "a step without its peer did not fail";
    std::string message = btk_last_error();
    EXPECT_TRUE(message.find("rank 0 lost the group of 2") != std::string::npos) << message;
  });
}

TEST(data_parallel, sum_over_ranks) {
  SKIP_WITHOUT_DISTRIBUTED();
  const int port = free_port();
  run_ranks(3, [&](int rank) {
    btk_dist* dist = nullptr;
    REQUIRE_OK(btk_dist_create(rank, 3, "127.0.0.1", port, 10000, &dist));
    std::unique_ptr<btk_dist, void (*)(btk_dist*)> owner(dist, btk_dist_destroy);
    double values[2] = {double(rank), 1.5};
    REQUIRE_OK(btk_dist_sum(dist, values, 2));
    EXPECT_TRUE(values[0] == 3.0 && values[1] == 4.5) << "wrong sums";
    EXPECT_TRUE(btk_dist_sum(dist, values, 0) == BTK_ERR_INVALID_ARGUMENT) << "count 0 accepted";
  });
}
