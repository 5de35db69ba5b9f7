// Calls documented as changing nothing change nothing: not one bit of the state, nor of the caller's
// batch, and the same call twice gives the same answer. Every architecture, path and normalisation,
// at the smallest batch sizes (where a broadcast over the batch can alias what it broadcasts).
#include "test_util.h"

namespace {

constexpr int32_t kArchitectures[] = {BTK_ARCH_BATCHTOPK, BTK_ARCH_TOPK, BTK_ARCH_JUMPRELU, BTK_ARCH_RELU};
constexpr int64_t kD = 11, kF = 37;

using Snapshot = std::map<std::string, std::vector<unsigned char>>;

Snapshot snapshot(const Sae& sae, bool gradients) {
  Snapshot out;
  for (const auto& name : sae.state_names()) {
    if ((name.rfind("grad.", 0) == 0) == gradients) out[name] = sae.raw_state(name);
  }
  return out;
}

void check_same(const Snapshot& after, const Snapshot& before, const std::string& where) {
  for (const auto& [name, bytes] : before) {
    EXPECT_TRUE(after.at(name) == bytes) << where + ": '" + name + "' changed";
  }
}

bool same_bits(const btk_metrics& a, const btk_metrics& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// An SAE that has trained a little (so moments, counters and theta are not zero) with AuxK active.
btk_config trained_config(int32_t arch, int32_t path, int32_t normalize, int32_t dtype, int64_t B) {
  auto cfg = config_for(kD, kF, arch, 3);
  cfg.path = path;
  cfg.normalize = normalize;
  cfg.dtype = dtype;
  cfg.k_aux = 8;
  cfg.dead_after_tokens = B;
  cfg.jumprelu_init_threshold = 0.05;
  cfg.seed = 3;
  return cfg;
}

template <typename T>
void train_a_little(Sae& sae, int64_t B) {
  for (int step = 0; step < 3; step++) {
    auto x = random_normal<T>(B * kD, 40 + step, 0.3, 1.0);
    auto v = view_of(x, B, kD);
    btk_metrics m;
    REQUIRE_OK(btk_sae_train_step(sae.get(), &v, &m));
  }
}

template <typename T>
void check_loss_and_gradients(int32_t arch, int32_t path, int32_t normalize, int64_t B) {
  const int32_t dtype = sizeof(T) == 4 ? BTK_DTYPE_F32 : BTK_DTYPE_F64;
  std::string where = std::string(sizeof(T) == 4 ? "f32 " : "f64 ") + arch_name(arch) +
                      (path == BTK_PATH_FUSED ? " fused" : " naive") +
                      (normalize == BTK_NORMALIZE_NONE ? " unnormalised" : " per-token") + " B=" + std::to_string(B);
  Sae sae(trained_config(arch, path, normalize, dtype, B));
  train_a_little<T>(sae, B);
  const Snapshot before = snapshot(sae, false);
  auto x = random_normal<T>(B * kD, 7, 0.3, 1.0);
  const auto x_before = x;
  auto v = view_of(x, B, kD);

  btk_metrics first, again;
  REQUIRE_OK(btk_sae_loss_and_gradients(sae.get(), &v, 1, &first));
  const Snapshot gradients = snapshot(sae, true);
  for (int call = 0; call < 3; call++) {
    int32_t want_gradients = call % 2 == 0 ? 0 : 1;
    REQUIRE_OK(btk_sae_loss_and_gradients(sae.get(), &v, want_gradients, &again));
    EXPECT_TRUE(same_bits(again, first)) << where + ": call " + std::to_string(call + 2) + " reports loss " +
                                                std::to_string(again.loss) + ", the first " +
                                                std::to_string(first.loss);
    check_same(snapshot(sae, false), before, where + " after call " + std::to_string(call + 2));
  }
  check_same(snapshot(sae, true), gradients, where + ": gradients of the same batch");
  EXPECT_TRUE(x == x_before) << where + ": the batch was written to";
  EXPECT_TRUE(first.step == 3) << where + ": the step counter moved";
}

template <typename T>
void check_inference(int32_t arch, int32_t normalize, int64_t B) {
  const int32_t dtype = sizeof(T) == 4 ? BTK_DTYPE_F32 : BTK_DTYPE_F64;
  std::string where = std::string(sizeof(T) == 4 ? "f32 " : "f64 ") + arch_name(arch) +
                      (normalize == BTK_NORMALIZE_NONE ? " unnormalised" : " per-token") + " B=" + std::to_string(B);
  Sae sae(trained_config(arch, BTK_PATH_FUSED, normalize, dtype, B));
  train_a_little<T>(sae, B);
  const Snapshot before = snapshot(sae, false);
  auto x = random_normal<T>(B * kD, 8, 0.3, 1.0);
  const auto x_before = x;
  auto v = view_of(x, B, kD);

  std::vector<T> codes[2], decoded[2], reconstructed[2];
  btk_eval_sums sums[2] = {};
  std::vector<double> column_sums[2] = {std::vector<double>(kD), std::vector<double>(kD)};
  std::vector<int64_t> fires[2] = {std::vector<int64_t>(kF), std::vector<int64_t>(kF)};
  for (int call = 0; call < 2; call++) {
    for (int32_t select : {BTK_SELECT_INFERENCE, BTK_SELECT_TRAINING}) {
      codes[call].assign(B * kF, T(0));
      auto c = view_of(codes[call], B, kF);
      REQUIRE_OK(btk_sae_encode(sae.get(), &v, select, &c));
      decoded[call].assign(B * kD, T(0));
      auto d = view_of(decoded[call], B, kD);
      REQUIRE_OK(btk_sae_decode(sae.get(), &c, &d));
      reconstructed[call].assign(B * kD, T(0));
      auto r = view_of(reconstructed[call], B, kD);
      REQUIRE_OK(btk_sae_reconstruct(sae.get(), &v, select, &r));
    }
    REQUIRE_OK(btk_sae_evaluate(sae.get(), &v, &sums[call], column_sums[call].data(), fires[call].data()));
    check_same(snapshot(sae, false), before, where + " after inference call " + std::to_string(call + 1));
  }
  EXPECT_TRUE(codes[0] == codes[1] && decoded[0] == decoded[1] && reconstructed[0] == reconstructed[1])
      << where + ": the same call gave two answers";
  EXPECT_TRUE(std::memcmp(&sums[0], &sums[1], sizeof sums[0]) == 0 && column_sums[0] == column_sums[1] &&
              fires[0] == fires[1])
      << where + ": evaluate gave two answers";
  EXPECT_TRUE(x == x_before) << where + ": the batch was written to";
}

}  // namespace

TEST(read_only_calls, loss_and_gradients_changes_no_state) {
  for (int32_t arch : kArchitectures) {
    for (int32_t path : {BTK_PATH_FUSED, BTK_PATH_NAIVE}) {
      for (int32_t normalize : {BTK_NORMALIZE_NONE, BTK_NORMALIZE_PER_TOKEN}) {
        for (int64_t B : {1, 2, 3}) {
          check_loss_and_gradients<double>(arch, path, normalize, B);
          check_loss_and_gradients<float>(arch, path, normalize, B);
        }
      }
    }
  }
}

TEST(read_only_calls, inference_changes_no_state) {
  for (int32_t arch : kArchitectures) {
    for (int32_t normalize : {BTK_NORMALIZE_NONE, BTK_NORMALIZE_PER_TOKEN}) {
      for (int64_t B : {1, 2, 3}) {
        check_inference<double>(arch, normalize, B);
        check_inference<float>(arch, normalize, B);
      }
    }
  }
}
