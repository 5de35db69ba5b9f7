// Selection through btk_sae_encode: exact counts, the tie rule, and fewer positives than k*B.
#include "test_util.h"

namespace {

// An SAE whose pre-activations are b_enc on every row (W_enc = 0, no normalisation).
btk_config constant_rows_config(int64_t d, int64_t F, int32_t arch, int32_t k) {
  auto cfg = config_for(d, F, arch, k);
  cfg.normalize = BTK_NORMALIZE_NONE;
  return cfg;
}

std::vector<float> encode(Sae& sae, std::vector<float>& x, int64_t rows, int32_t select) {
  btk_config cfg;
  REQUIRE_OK(btk_sae_config(sae.get(), &cfg));
  std::vector<float> codes(rows * cfg.d_sae, -1.0f);
  auto in = view_of(x, rows, cfg.d_in);
  auto out = view_of(codes, rows, cfg.d_sae);
  REQUIRE_OK(btk_sae_encode(sae.get(), &in, select, &out));
  return codes;
}

int64_t count_nonzero(const std::vector<float>& v, int64_t begin, int64_t end) {
  int64_t n = 0;
  for (int64_t i = begin; i < end; i++) n += v[i] != 0.0f;
  return n;
}

}  // namespace

TEST(selection, batchtopk_keeps_exactly_k_times_batch) {
  const int64_t B = 64, d = 24, F = 300;
  auto cfg = config_for(d, F, BTK_ARCH_BATCHTOPK, 7);
  Sae sae(cfg);
  auto x = random_normal<float>(B * d, 1);
  auto codes = encode(sae, x, B, BTK_SELECT_TRAINING);
  EXPECT_TRUE(count_nonzero(codes, 0, B * F) == 7 * B) << "expected exactly k*B non-zero codes";
  // Tokens may keep different numbers of latents: that is the point of BatchTopK.
  int64_t lo = F, hi = 0;
  for (int64_t b = 0; b < B; b++) {
    int64_t n = count_nonzero(codes, b * F, (b + 1) * F);
    lo = std::min(lo, n);
    hi = std::max(hi, n);
  }
  EXPECT_TRUE(hi > lo) << "every token kept the same number of latents";
}

TEST(selection, topk_keeps_exactly_k_per_row) {
  const int64_t B = 50, d = 17, F = 123;
  Sae sae(config_for(d, F, BTK_ARCH_TOPK, 5));
  auto x = random_normal<float>(B * d, 2);
  auto codes = encode(sae, x, B, BTK_SELECT_INFERENCE);
  for (int64_t b = 0; b < B; b++)
    EXPECT_TRUE(count_nonzero(codes, b * F, (b + 1) * F) == 5) << "row " + std::to_string(b);
}

TEST(selection, ties_go_to_the_lowest_flat_index) {
  const int64_t B = 4, d = 3, F = 5;
  Sae sae(constant_rows_config(d, F, BTK_ARCH_BATCHTOPK, 2));
  sae.set_state("W_enc", std::vector<float>(d * F, 0.0f));
  sae.set_state("b_enc", std::vector<float>{5, 5, 5, 1, 2});
  auto x = random_normal<float>(B * d, 3);
  auto codes = encode(sae, x, B, BTK_SELECT_TRAINING);
  // k*B = 8 of the twelve 5s: rows 0 and 1 entirely, then the first two of row 2.
  std::vector<float> expected = {5, 5, 5, 0, 0, 5, 5, 5, 0, 0, 5, 5, 0, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_TRUE(codes == expected) << "tie rule not applied";

  Sae topk(constant_rows_config(d, F, BTK_ARCH_TOPK, 2));
  topk.set_state("W_enc", std::vector<float>(d * F, 0.0f));
  topk.set_state("b_enc", std::vector<float>{5, 5, 5, 1, 2});
  auto per_row = encode(topk, x, B, BTK_SELECT_TRAINING);
  for (int64_t b = 0; b < B; b++) {
    EXPECT_TRUE(per_row[b * F] == 5 && per_row[b * F + 1] == 5 && per_row[b * F + 2] == 0)
        << "TopK tie rule, row " + std::to_string(b);
  }
}

TEST(selection, fewer_positives_than_k_times_batch_keeps_all_positives) {
  const int64_t B = 6, d = 3, F = 10;
  Sae sae(constant_rows_config(d, F, BTK_ARCH_BATCHTOPK, 4));
  sae.set_state("W_enc", std::vector<float>(d * F, 0.0f));
  sae.set_state("b_enc", std::vector<float>{-1, 2, -1, -1, 3, -1, -1, -1, -1, -1});
  auto x = random_normal<float>(B * d, 4);
  auto codes = encode(sae, x, B, BTK_SELECT_TRAINING);
  EXPECT_TRUE(count_nonzero(codes, 0, B * F) == 2 * B) << "only the 2*B positive entries can be kept";
  for (int64_t b = 0; b < B; b++) EXPECT_TRUE(codes[b * F + 1] == 2 && codes[b * F + 4] == 3) << "positives lost";
}

TEST(selection, inference_uses_theta) {
  const int64_t B = 3, d = 3, F = 4;
  Sae sae(constant_rows_config(d, F, BTK_ARCH_BATCHTOPK, 1));
  sae.set_state("W_enc", std::vector<float>(d * F, 0.0f));
  sae.set_state("b_enc", std::vector<float>{0.5f, 1.5f, 2.5f, -1});
  sae.set_state("theta", std::vector<double>{1.0});
  auto x = random_normal<float>(B * d, 5);
  auto codes = encode(sae, x, B, BTK_SELECT_INFERENCE);
  for (int64_t b = 0; b < B; b++) {
    EXPECT_TRUE(codes[b * F] == 0 && codes[b * F + 1] == 1.5f && codes[b * F + 2] == 2.5f && codes[b * F + 3] == 0)
        << "theta rule";
  }
}
