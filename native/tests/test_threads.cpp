// The shim keeps no mutable state outside its handles: handles used by different threads at the same
// time give bit for bit what they give alone, and the calls that change nothing (encode, decode,
// reconstruct, evaluate, state reads) may share one handle between threads.
#include <thread>

#include "test_util.h"

namespace {

constexpr int64_t kB = 48, kD = 24, kF = 160;
constexpr int kSteps = 12;

// Runs each body on its own thread, all at once, and rethrows the first failure.
void run_together(const std::vector<std::function<void()>>& bodies) {
  std::vector<std::string> failures(bodies.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < bodies.size(); i++) {
    threads.emplace_back([&, i] {
      try {
        bodies[i]();
      } catch (const std::exception& e) {
        failures[i] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& f : failures) EXPECT_TRUE(f.empty()) << f;
}

btk_config job_config(int32_t arch, int32_t path) {
  auto cfg = config_for(kD, kF, arch, 6);
  cfg.path = path;
  cfg.k_aux = 16;
  cfg.dead_after_tokens = kB;
  cfg.seed = 11;
  return cfg;
}

// Every step's metrics and the final state of one training run, as bytes.
std::vector<unsigned char> train_record(int32_t arch, int32_t path) {
  Sae sae(job_config(arch, path));
  std::vector<unsigned char> record;
  for (int step = 0; step < kSteps; step++) {
    auto x = random_normal<float>(kB * kD, 300 + step, 0.3, 1.0);
    auto v = view_of(x, kB, kD);
    btk_metrics m;
    REQUIRE_OK(btk_sae_train_step(sae.get(), &v, &m));
    auto bytes = reinterpret_cast<const unsigned char*>(&m);
    record.insert(record.end(), bytes, bytes + sizeof m);
  }
  for (const auto& name : sae.state_names()) {
    if (name.rfind("grad.", 0) == 0) continue;
    auto bytes = sae.raw_state(name);
    record.insert(record.end(), bytes.begin(), bytes.end());
  }
  return record;
}

// Everything the read-only calls give for one batch, as bytes.
std::vector<unsigned char> inference_record(btk_sae* sae, int seed) {
  auto x = random_normal<float>(kB * kD, seed, 0.3, 1.0);
  auto v = view_of(x, kB, kD);
  std::vector<float> codes(kB * kF), decoded(kB * kD), reconstructed(kB * kD);
  auto c = view_of(codes, kB, kF);
  auto d = view_of(decoded, kB, kD);
  auto r = view_of(reconstructed, kB, kD);
  REQUIRE_OK(btk_sae_encode(sae, &v, BTK_SELECT_INFERENCE, &c));
  REQUIRE_OK(btk_sae_decode(sae, &c, &d));
  REQUIRE_OK(btk_sae_reconstruct(sae, &v, BTK_SELECT_TRAINING, &r));
  btk_eval_sums sums = {};
  std::vector<double> column_sums(kD);
  std::vector<int64_t> fires(kF);
  REQUIRE_OK(btk_sae_evaluate(sae, &v, &sums, column_sums.data(), fires.data()));
  std::vector<float> W_dec(kF * kD);
  REQUIRE_OK(btk_sae_state_get(sae, "W_dec", W_dec.data(), int64_t(W_dec.size() * sizeof(float))));

  std::vector<unsigned char> record;
  auto append = [&](const void* p, size_t n) {
    auto bytes = static_cast<const unsigned char*>(p);
    record.insert(record.end(), bytes, bytes + n);
  };
  append(codes.data(), codes.size() * sizeof(float));
  append(decoded.data(), decoded.size() * sizeof(float));
  append(reconstructed.data(), reconstructed.size() * sizeof(float));
  append(&sums, sizeof sums);
  append(column_sums.data(), column_sums.size() * sizeof(double));
  append(fires.data(), fires.size() * sizeof(int64_t));
  append(W_dec.data(), W_dec.size() * sizeof(float));
  return record;
}

}  // namespace

TEST(threads, separate_handles_train_in_parallel_as_they_do_alone) {
  std::vector<std::pair<int32_t, int32_t>> jobs;
  for (int32_t arch : {BTK_ARCH_BATCHTOPK, BTK_ARCH_TOPK, BTK_ARCH_JUMPRELU, BTK_ARCH_RELU}) {
    for (int32_t path : {BTK_PATH_FUSED, BTK_PATH_NAIVE}) jobs.emplace_back(arch, path);
  }
  std::vector<std::vector<unsigned char>> alone;
  for (const auto& [arch, path] : jobs) alone.push_back(train_record(arch, path));

  for (int round = 0; round < 3; round++) {
    std::vector<std::vector<unsigned char>> together(jobs.size());
    std::vector<std::function<void()>> bodies;
    for (size_t i = 0; i < jobs.size(); i++) {
      bodies.emplace_back([&, i] { together[i] = train_record(jobs[i].first, jobs[i].second); });
    }
    run_together(bodies);
    for (size_t i = 0; i < jobs.size(); i++) {
      EXPECT_TRUE(together[i] == alone[i])
          << std::string(arch_name(jobs[i].first)) + (jobs[i].second == BTK_PATH_FUSED ? " fused" : " naive") +
                 ": a run beside others differs from the run alone (round " + std::to_string(round) + ")";
    }
  }
}

TEST(threads, read_only_calls_share_one_handle) {
  for (int32_t arch : {BTK_ARCH_BATCHTOPK, BTK_ARCH_TOPK, BTK_ARCH_JUMPRELU, BTK_ARCH_RELU}) {
    Sae sae(job_config(arch, BTK_PATH_FUSED));
    for (int step = 0; step < 3; step++) {
      auto x = random_normal<float>(kB * kD, 500 + step, 0.3, 1.0);
      auto v = view_of(x, kB, kD);
      btk_metrics m;
      REQUIRE_OK(btk_sae_train_step(sae.get(), &v, &m));
    }
    constexpr int kBatches = 4;
    std::vector<std::vector<unsigned char>> alone;
    for (int b = 0; b < kBatches; b++) alone.push_back(inference_record(sae.get(), 900 + b));

    std::vector<std::function<void()>> bodies;
    for (int t = 0; t < 4; t++) {
      bodies.emplace_back([&, t] {
        for (int repeat = 0; repeat < 5; repeat++) {
          // Each thread walks the batches from a different start, so different calls overlap.
          for (int i = 0; i < kBatches; i++) {
            int b = (i + t) % kBatches;
            EXPECT_TRUE(inference_record(sae.get(), 900 + b) == alone[b])
                << std::string(arch_name(arch)) + ": batch " + std::to_string(b) + " on thread " + std::to_string(t) +
                       " differs from the same calls on one thread";
          }
        }
      });
    }
    run_together(bodies);
  }
}
