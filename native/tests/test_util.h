// Helpers for the GoogleTest suites over the public C interface: the tests see the shim as Java does.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "batchtopk.h"

// A call that must succeed for the test to mean anything. It throws rather than using ASSERT_*, which
// cannot leave a function that returns a value or a thread: GoogleTest reports an exception that
// escapes a test as that test's failure, with this message.
#define REQUIRE_OK(call)                                                                                             \
  do {                                                                                                               \
    int32_t rc_ = (call);                                                                                            \
    if (rc_ != BTK_OK) {                                                                                             \
      throw std::runtime_error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " + #call + " failed (" + \
                               std::to_string(rc_) + "): " + btk_last_error());                                      \
    }                                                                                                                \
  } while (0)

// Owns a btk_sae.
class Sae {
 public:
  explicit Sae(const btk_config& cfg) { REQUIRE_OK(btk_sae_create(&cfg, &handle_)); }
  // Takes a handle made otherwise (a shard, a gathered SAE).
  explicit Sae(btk_sae* adopted) : handle_(adopted) {}
  ~Sae() { btk_sae_destroy(handle_); }
  Sae(const Sae&) = delete;
  Sae& operator=(const Sae&) = delete;
  btk_sae* get() const { return handle_; }

  std::vector<std::string> state_names() const {
    std::vector<std::string> names;
    for (int64_t i = 0; i < btk_sae_state_count(handle_); i++) names.emplace_back(btk_sae_state_name(handle_, i));
    return names;
  }
  // Any state tensor as doubles.
  std::vector<double> state(const std::string& name) const {
    btk_tensor_info info;
    REQUIRE_OK(btk_sae_state_info(handle_, name.c_str(), &info));
    std::vector<double> out(info.numel);
    if (info.dtype == BTK_DTYPE_F32) {
      std::vector<float> f(info.numel);
      REQUIRE_OK(btk_sae_state_get(handle_, name.c_str(), f.data(), info.numel * 4));
      for (int64_t i = 0; i < info.numel; i++) out[i] = f[i];
    } else if (info.dtype == BTK_DTYPE_I64) {
      std::vector<int64_t> v(info.numel);
      REQUIRE_OK(btk_sae_state_get(handle_, name.c_str(), v.data(), info.numel * 8));
      for (int64_t i = 0; i < info.numel; i++) out[i] = double(v[i]);
    } else {
      REQUIRE_OK(btk_sae_state_get(handle_, name.c_str(), out.data(), info.numel * 8));
    }
    return out;
  }
  // A state tensor's bytes exactly as the library holds them: for bit-for-bit comparisons.
  std::vector<unsigned char> raw_state(const std::string& name) const {
    btk_tensor_info info;
    REQUIRE_OK(btk_sae_state_info(handle_, name.c_str(), &info));
    int64_t element = info.dtype == BTK_DTYPE_F32 ? 4 : 8;
    std::vector<unsigned char> bytes(static_cast<size_t>(info.numel * element));
    REQUIRE_OK(btk_sae_state_get(handle_, name.c_str(), bytes.data(), int64_t(bytes.size())));
    return bytes;
  }
  template <typename T>
  void set_state(const std::string& name, const std::vector<T>& values) {
    REQUIRE_OK(btk_sae_state_set(handle_, name.c_str(), values.data(), int64_t(values.size() * sizeof(T))));
  }

 private:
  btk_sae* handle_ = nullptr;
};

template <typename T>
btk_tensor_view view_of(std::vector<T>& data, int64_t rows, int64_t cols) {
  int32_t dtype = sizeof(T) == 4 ? BTK_DTYPE_F32 : BTK_DTYPE_F64;
  return btk_tensor_view{data.data(), rows, cols, dtype, BTK_DEVICE_CPU};
}

template <typename T>
std::vector<T> random_normal(size_t n, uint64_t seed, double mean = 0.0, double stddev = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> dist(mean, stddev);
  std::vector<T> out(n);
  for (auto& v : out) v = T(dist(rng));
  return out;
}

// ||a - b|| / ||b||, with an absolute floor for tensors that are (near) zero.
inline double relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0, norm = 0;
  for (size_t i = 0; i < a.size(); i++) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += b[i] * b[i];
  }
  return std::sqrt(diff) / std::max(std::sqrt(norm), 1e-12);
}

// Matryoshka BatchTopK gets three uneven prefixes, F/5, F/2 and F.
inline btk_config config_for(int64_t d, int64_t F, int32_t arch, int32_t k) {
  btk_config cfg;
  REQUIRE_OK(btk_config_defaults(&cfg, d, F, arch, k));
  if (arch == BTK_ARCH_MATRYOSHKA_BATCHTOPK) {
    cfg.matryoshka_count = 3;
    cfg.matryoshka_widths[0] = F / 5;
    cfg.matryoshka_widths[1] = F / 2;
    cfg.matryoshka_widths[2] = F;
  }
  return cfg;
}

inline const char* arch_name(int32_t arch) {
  switch (arch) {
    case BTK_ARCH_BATCHTOPK: return "batchtopk";
    case BTK_ARCH_TOPK: return "topk";
    case BTK_ARCH_JUMPRELU: return "jumprelu";
    case BTK_ARCH_MATRYOSHKA_BATCHTOPK: return "matryoshka-batchtopk";
    default: return "relu";
  }
}
