// Self-test of the CUDA kernels against plain host references written here (the semantics of the
// CPU implementation in native/src). Exact equality for the selections (tie rule included), float
// tolerance for decode, backward and the optimizer. `--bench` also times the BatchTopK selection.
//
//   cuda_selftest [--bench]      prints PASS/FAIL per check, then "N passed, M failed"; exit 1 on
//                                any failure; exits 0 with "no CUDA device: nothing to run" when no
//                                device is present.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "btk_cuda.h"

namespace {

int g_passed = 0, g_failed = 0;

void report(const std::string& name, bool ok, const std::string& detail = "") {
  (ok ? g_passed : g_failed)++;
  std::printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.empty() ? "" : ": ", detail.c_str());
  std::fflush(stdout);
}

bool cuda_ok(cudaError_t e, const std::string& what) {
  if (e == cudaSuccess) return true;
  report(what, false, cudaGetErrorString(e));
  return false;
}

// ------------------------------------------------------------------------------------------------
// Device buffers and random data
// ------------------------------------------------------------------------------------------------

template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) {
    if (cudaMalloc(&p, std::max<size_t>(1, count) * sizeof(T)) != cudaSuccess) p = nullptr;
  }
  explicit Dev(const std::vector<T>& h) : Dev(h.size()) { upload(h); }
  ~Dev() { cudaFree(p); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  void upload(const std::vector<T>& h) { cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice); }
  std::vector<T> download(size_t count) const {
    std::vector<T> h(count);
    if (count > 0) cudaMemcpy(h.data(), p, count * sizeof(T), cudaMemcpyDeviceToHost);
    return h;
  }
  std::vector<T> download() const { return download(n); }
};

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }  // [0, 1)
  float normal() {  // sum of four uniforms: bell-shaped enough, cheap
    return (uniform() + uniform() + uniform() + uniform() - 2.0f) * 1.7320508f;
  }
};

enum class Gen { Normal, Quantised, Bf16, FewPositives, NonPositive };

std::vector<float> make_values(size_t n, Gen gen, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; i++) {
    float x = rng.normal();
    switch (gen) {
      case Gen::Normal: break;
      case Gen::Quantised: x = std::round(x * 8.0f) / 8.0f; break;  // few distinct values: many ties
      case Gen::Bf16: {
        uint32_t b;
        std::memcpy(&b, &x, 4);
        b &= 0xffff0000u;  // bf16-representable, as activations computed in bf16 are
        std::memcpy(&x, &b, 4);
        break;
      }
      case Gen::FewPositives: x = rng.uniform() < 0.01f ? std::fabs(x) + 0.5f : -std::fabs(x); break;
      case Gen::NonPositive: x = -std::fabs(x); break;
    }
    v[i] = x;
  }
  return v;
}

// ------------------------------------------------------------------------------------------------
// Host references
// ------------------------------------------------------------------------------------------------

struct Csr {
  std::vector<int> row_ptr, col;
  std::vector<float> val;
};

// Rank key: larger value first, then lower index first (positive floats order like their bits).
inline uint64_t rank_key(float v, uint64_t index) {
  uint32_t b;
  std::memcpy(&b, &v, 4);
  return (static_cast<uint64_t>(b) << 32) | (0xffffffffull - index);
}

Csr ref_batch_topk(const std::vector<float>& v, int rows, int cols, long long count) {
  const size_t n = static_cast<size_t>(rows) * cols;
  std::vector<uint64_t> keys;
  for (size_t i = 0; i < n; i++)
    if (v[i] > 0.f) keys.push_back(rank_key(v[i], i));
  uint64_t bound = 0;  // keep every positive entry
  if (count <= 0) {
    bound = ~0ull;
  } else if (static_cast<long long>(keys.size()) > count) {
    std::nth_element(keys.begin(), keys.begin() + (count - 1), keys.end(), std::greater<uint64_t>());
    bound = keys[count - 1];
  }
  Csr out;
  out.row_ptr.assign(rows + 1, 0);
  for (size_t i = 0; i < n; i++) {
    if (v[i] > 0.f && rank_key(v[i], i) >= bound && bound != ~0ull) {
      out.row_ptr[i / cols + 1]++;
      out.col.push_back(static_cast<int>(i % cols));
      out.val.push_back(v[i]);
    }
  }
  for (int r = 0; r < rows; r++) out.row_ptr[r + 1] += out.row_ptr[r];
  return out;
}

Csr ref_row_topk(const std::vector<float>& v, int rows, int cols, int k, const std::vector<unsigned char>* mask) {
  Csr out;
  out.row_ptr.assign(rows + 1, 0);
  std::vector<uint64_t> keys;
  for (int r = 0; r < rows; r++) {
    const float* row = v.data() + static_cast<size_t>(r) * cols;
    keys.clear();
    for (int j = 0; j < cols; j++)
      if (row[j] > 0.f && (mask == nullptr || (*mask)[j])) keys.push_back(rank_key(row[j], j));
    uint64_t bound = 0;
    if (k == 0) {
      bound = ~0ull;
    } else if (static_cast<int>(keys.size()) > k) {
      std::nth_element(keys.begin(), keys.begin() + (k - 1), keys.end(), std::greater<uint64_t>());
      bound = keys[k - 1];
    }
    for (int j = 0; j < cols; j++) {
      if (row[j] > 0.f && (mask == nullptr || (*mask)[j]) && bound != ~0ull && rank_key(row[j], j) >= bound) {
        out.col.push_back(j);
        out.val.push_back(row[j]);
      }
    }
    out.row_ptr[r + 1] = static_cast<int>(out.col.size());
  }
  return out;
}

std::vector<float> ref_decode(const Csr& c, int rows, const std::vector<float>& W_dec, int d, const float* bias) {
  std::vector<float> out(static_cast<size_t>(rows) * d);
  for (int b = 0; b < rows; b++) {
    for (int i = 0; i < d; i++) out[static_cast<size_t>(b) * d + i] = bias ? bias[i] : 0.f;
    for (int p = c.row_ptr[b]; p < c.row_ptr[b + 1]; p++)
      for (int i = 0; i < d; i++)
        out[static_cast<size_t>(b) * d + i] += c.val[p] * W_dec[static_cast<size_t>(c.col[p]) * d + i];
  }
  return out;
}

struct HostGrads {
  std::vector<int> active, slot_of;
  std::vector<float> W_dec, W_encT, b_enc, b_dec;
};

// The CPU sparse_backward: pairs main then aux, grouped by latent in a stable order.
HostGrads ref_backward(const Csr& main, const std::vector<float>& g, const Csr* aux, const std::vector<float>* g_aux,
                       int rows, int F, int d, const std::vector<float>& xc, const std::vector<float>& W_dec,
                       const std::vector<float>& W_encT) {
  struct Pair {
    int row, latent;
    float z, gpre;
    const float* g;
  };
  std::vector<Pair> pairs;
  auto append = [&](const Csr& c, const std::vector<float>& grad) {
    for (int b = 0; b < rows; b++)
      for (int p = c.row_ptr[b]; p < c.row_ptr[b + 1]; p++)
        pairs.push_back({b, c.col[p], c.val[p], 0.f, grad.data() + static_cast<size_t>(b) * d});
  };
  append(main, g);
  if (aux) append(*aux, *g_aux);
  for (auto& p : pairs) {
    double s = 0;
    for (int i = 0; i < d; i++) s += double(p.g[i]) * double(W_dec[static_cast<size_t>(p.latent) * d + i]);
    p.gpre = static_cast<float>(s);
  }
  std::vector<int> start(F + 1, 0);
  for (auto& p : pairs) start[p.latent + 1]++;
  HostGrads h;
  h.slot_of.assign(F, -1);
  for (int f = 0; f < F; f++) {
    if (start[f + 1] > 0) {
      h.slot_of[f] = static_cast<int>(h.active.size());
      h.active.push_back(f);
    }
    start[f + 1] += start[f];
  }
  std::vector<int> order(pairs.size()), next(start.begin(), start.end() - 1);
  for (size_t i = 0; i < pairs.size(); i++) order[next[pairs[i].latent]++] = static_cast<int>(i);
  const size_t n = h.active.size();
  h.W_dec.assign(n * d, 0.f);
  h.W_encT.assign(n * d, 0.f);
  h.b_enc.assign(n, 0.f);
  for (size_t s = 0; s < n; s++) {
    const int f = h.active[s];
    for (int o = start[f]; o < start[f + 1]; o++) {
      const Pair& p = pairs[order[o]];
      for (int i = 0; i < d; i++) {
        h.W_dec[s * d + i] += p.z * p.g[i];
        h.W_encT[s * d + i] += p.gpre * xc[static_cast<size_t>(p.row) * d + i];
      }
      h.b_enc[s] += p.gpre;
    }
  }
  h.b_dec.assign(d, 0.f);
  for (int i = 0; i < d; i++) {
    double sg = 0, sw = 0;
    for (int b = 0; b < rows; b++) sg += g[static_cast<size_t>(b) * d + i];
    for (size_t s = 0; s < n; s++) sw += double(h.b_enc[s]) * W_encT[static_cast<size_t>(h.active[s]) * d + i];
    h.b_dec[i] = static_cast<float>(sg - sw);
  }
  return h;
}

struct HostParams {
  std::vector<float> W_encT, m_W_encT, v_W_encT, W_dec, m_W_dec, v_W_dec, b_enc, m_b_enc, v_b_enc, b_dec, m_b_dec,
      v_b_dec;
};

// The CPU fused_update_impl (sparse gradients).
double ref_optimizer(HostParams& P, HostGrads G, int F, int d, const btk_cuda::AdamConfig& c) {
  const size_t n = G.active.size();
  double squared = 0;
  for (size_t s = 0; s < n; s++) {
    const float* w = P.W_dec.data() + static_cast<size_t>(G.active[s]) * d;
    float* gw = G.W_dec.data() + s * d;
    float along = 0, length = 0;
    for (int i = 0; i < d; i++) {
      along += gw[i] * w[i];
      length += w[i] * w[i];
    }
    const float coef = along / length;
    squared += double(G.b_enc[s]) * G.b_enc[s];
    for (int i = 0; i < d; i++) {
      gw[i] -= coef * w[i];
      squared += double(gw[i]) * gw[i] + double(G.W_encT[s * d + i]) * G.W_encT[s * d + i];
    }
  }
  for (int i = 0; i < d; i++) squared += double(G.b_dec[i]) * G.b_dec[i];
  const double norm = std::sqrt(squared);
  const float scale = c.max_grad_norm <= 0 ? 1.f : static_cast<float>(std::min(1.0, c.max_grad_norm / (norm + 1e-6)));
  const double t = double(c.step);
  const float keep1 = float(1 - c.beta1), b2 = float(c.beta2), keep2 = float(1 - c.beta2),
              bc2 = float(std::sqrt(1 - std::pow(c.beta2, t))), e = float(c.eps),
              size = float(c.lr / (1 - std::pow(c.beta1, t)));
  auto adam = [&](float g, float& p, float& m, float& v) {
    m += keep1 * (g - m);
    v = v * b2 + keep2 * g * g;
    p -= size * (m / (std::sqrt(v) / bc2 + e));
  };
  for (int f = 0; f < F; f++) {
    const int s = G.slot_of[f];
    const size_t row = static_cast<size_t>(f) * d;
    for (int i = 0; i < d; i++)
      adam(s >= 0 ? scale * G.W_encT[s * d + i] : 0.f, P.W_encT[row + i], P.m_W_encT[row + i], P.v_W_encT[row + i]);
    float length = 0;
    for (int i = 0; i < d; i++) {
      adam(s >= 0 ? scale * G.W_dec[s * d + i] : 0.f, P.W_dec[row + i], P.m_W_dec[row + i], P.v_W_dec[row + i]);
      length += P.W_dec[row + i] * P.W_dec[row + i];
    }
    length = std::sqrt(length);
    for (int i = 0; i < d; i++) P.W_dec[row + i] /= length;
    adam(s >= 0 ? scale * G.b_enc[s] : 0.f, P.b_enc[f], P.m_b_enc[f], P.v_b_enc[f]);
  }
  for (int i = 0; i < d; i++) adam(scale * G.b_dec[i], P.b_dec[i], P.m_b_dec[i], P.v_b_dec[i]);
  return norm;
}

// ------------------------------------------------------------------------------------------------
// Comparisons
// ------------------------------------------------------------------------------------------------

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b, std::string* why) {
  if (a.size() != b.size()) {
    *why = "size " + std::to_string(a.size()) + " vs " + std::to_string(b.size());
    return false;
  }
  for (size_t i = 0; i < a.size(); i++) {
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) {
      *why = "first difference at " + std::to_string(i);
      return false;
    }
  }
  return true;
}

// Max abs difference relative to the largest reference magnitude (the scale of the quantity).
bool close(const std::vector<float>& got, const std::vector<float>& want, double rtol, std::string* why) {
  if (got.size() != want.size()) {
    *why = "size " + std::to_string(got.size()) + " vs " + std::to_string(want.size());
    return false;
  }
  double scale = 0, worst = 0;
  for (float w : want) scale = std::max(scale, double(std::fabs(w)));
  for (size_t i = 0; i < got.size(); i++) {
    const double diff = std::fabs(double(got[i]) - double(want[i]));
    if (!(diff <= worst)) worst = diff;  // NaN counts as worst
  }
  char buf[128];
  std::snprintf(buf, sizeof buf, "max |diff| %.3g, scale %.3g", worst, scale);
  *why = buf;
  return worst <= rtol * std::max(scale, 1e-30);
}

void check_csr(const std::string& name, const Csr& want, const btk_cuda::Codes& got_dev, int rows) {
  std::vector<int> row_ptr(rows + 1);
  cudaMemcpy(row_ptr.data(), got_dev.row_ptr, (rows + 1) * sizeof(int), cudaMemcpyDeviceToHost);
  std::string why;
  if (!same_bits(row_ptr, want.row_ptr, &why)) return report(name + " row offsets", false, why);
  const int nnz = row_ptr[rows];
  std::vector<int> col(nnz);
  std::vector<float> val(nnz);
  cudaMemcpy(col.data(), got_dev.col, nnz * sizeof(int), cudaMemcpyDeviceToHost);
  cudaMemcpy(val.data(), got_dev.val, nnz * sizeof(float), cudaMemcpyDeviceToHost);
  const bool ok = same_bits(col, want.col, &why) && same_bits(val, want.val, &why);
  report(name, ok, ok ? "nnz " + std::to_string(nnz) : why);
}

// ------------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------------

struct Selected {
  int rows;
  size_t capacity;
  Dev<int> row_ptr, col;
  Dev<float> val;
  Selected(int r, size_t cap) : rows(r), capacity(cap), row_ptr(r + 1), col(cap), val(cap) {}
  btk_cuda::Codes codes() const { return {row_ptr.p, col.p, val.p}; }
};

void test_batch_topk(const std::string& name, int B, int F, long long K, Gen gen, uint64_t seed) {
  auto h = make_values(static_cast<size_t>(B) * F, gen, seed);
  Dev<float> values(h);
  Selected out(B, static_cast<size_t>(std::min<long long>(K, static_cast<long long>(B) * F)));
  Dev<char> ws(btk_cuda::batch_topk_workspace_bytes(B, F));
  if (!cuda_ok(btk_cuda::batch_topk(values.p, B, F, K, out.row_ptr.p, out.col.p, out.val.p, ws.p, ws.n, 0), name))
    return;
  if (!cuda_ok(cudaDeviceSynchronize(), name)) return;
  check_csr(name, ref_batch_topk(h, B, F, K), out.codes(), B);
}

void test_row_topk(const std::string& name, int B, int F, int k, Gen gen, double mask_density, uint64_t seed) {
  auto h = make_values(static_cast<size_t>(B) * F, gen, seed);
  std::vector<unsigned char> mask;
  if (mask_density < 1.0) {
    Rng rng(seed + 99);
    mask.resize(F);
    for (auto& m : mask) m = rng.uniform() < mask_density ? 1 : 0;
  }
  Dev<float> values(h);
  Dev<unsigned char> dmask(mask);
  Selected out(B, static_cast<size_t>(B) * k);
  Dev<char> ws(btk_cuda::row_topk_workspace_bytes(B, k));
  if (!cuda_ok(btk_cuda::row_topk(values.p, B, F, k, mask.empty() ? nullptr : dmask.p, out.row_ptr.p, out.col.p,
                                  out.val.p, ws.p, ws.n, 0),
               name))
    return;
  if (!cuda_ok(cudaDeviceSynchronize(), name)) return;
  check_csr(name, ref_row_topk(h, B, F, k, mask.empty() ? nullptr : &mask), out.codes(), B);
}

std::vector<float> random_rows_unit(int F, int d, Rng& rng) {
  std::vector<float> w(static_cast<size_t>(F) * d);
  for (int f = 0; f < F; f++) {
    double s = 0;
    for (int i = 0; i < d; i++) {
      float x = rng.normal();
      w[static_cast<size_t>(f) * d + i] = x;
      s += double(x) * x;
    }
    for (int i = 0; i < d; i++)
      w[static_cast<size_t>(f) * d + i] = static_cast<float>(w[static_cast<size_t>(f) * d + i] / std::sqrt(s));
  }
  return w;
}

std::vector<float> random_vec(size_t n, Rng& rng, float scale, bool positive = false) {
  std::vector<float> v(n);
  for (auto& x : v) x = positive ? scale * (0.1f + rng.uniform()) : scale * rng.normal();
  return v;
}

// Decode, backward and optimizer on one synthetic step: selections from the GPU (checked exact
// first), then each kernel fed the reference's inputs so that failures point at one kernel.
void test_step(const std::string& name, int B, int F, int d, int k, int k_aux, double max_grad_norm, uint64_t seed) {
  Rng rng(seed);
  auto pre = make_values(static_cast<size_t>(B) * F, Gen::Quantised, seed + 1);
  auto W_dec = random_rows_unit(F, d, rng);
  auto W_encT = random_vec(static_cast<size_t>(F) * d, rng, 0.05f);
  auto b_dec = random_vec(d, rng, 0.1f);
  auto x = random_vec(static_cast<size_t>(B) * d, rng, 1.0f);
  std::vector<float> xc(x.size());
  for (size_t i = 0; i < x.size(); i++) xc[i] = x[i] - b_dec[i % d];
  std::vector<unsigned char> dead(F);
  for (auto& m : dead) m = rng.uniform() < 0.3f ? 1 : 0;

  const long long K = static_cast<long long>(k) * B;
  Csr main = ref_batch_topk(pre, B, F, K), aux = ref_row_topk(pre, B, F, k_aux, &dead);
  Dev<float> d_pre(pre), d_W_dec(W_dec), d_W_encT(W_encT), d_b_dec(b_dec), d_xc(xc);
  Dev<unsigned char> d_dead(dead);
  Selected s_main(B, static_cast<size_t>(K)), s_aux(B, static_cast<size_t>(B) * k_aux);
  Dev<char> ws_sel(std::max(btk_cuda::batch_topk_workspace_bytes(B, F), btk_cuda::row_topk_workspace_bytes(B, k_aux)));
  if (!cuda_ok(
          btk_cuda::batch_topk(d_pre.p, B, F, K, s_main.row_ptr.p, s_main.col.p, s_main.val.p, ws_sel.p, ws_sel.n, 0),
          name))
    return;
  if (!cuda_ok(cudaDeviceSynchronize(), name)) return;
  check_csr(name + " batch select", main, s_main.codes(), B);
  if (!cuda_ok(btk_cuda::row_topk(d_pre.p, B, F, k_aux, d_dead.p, s_aux.row_ptr.p, s_aux.col.p, s_aux.val.p, ws_sel.p,
                                  ws_sel.n, 0),
               name))
    return;
  if (!cuda_ok(cudaDeviceSynchronize(), name)) return;
  check_csr(name + " aux select", aux, s_aux.codes(), B);

  // Reference codes uploaded (identical when the checks above pass).
  Dev<int> m_rp(main.row_ptr), m_col(main.col), a_rp(aux.row_ptr), a_col(aux.col);
  Dev<float> m_val(main.val), a_val(aux.val);
  btk_cuda::Codes mc{m_rp.p, m_col.p, m_val.p}, ac{a_rp.p, a_col.p, a_val.p};

  auto x_hat = ref_decode(main, B, W_dec, d, b_dec.data());
  auto x_hat_aux = ref_decode(aux, B, W_dec, d, nullptr);
  Dev<float> d_out(static_cast<size_t>(B) * d);
  std::string why;
  if (!cuda_ok(btk_cuda::decode(mc, B, d_W_dec.p, d, d_b_dec.p, d_out.p, 0), name)) return;
  bool ok = close(d_out.download(), x_hat, 1e-5, &why);
  report(name + " decode", ok, why);
  if (!cuda_ok(btk_cuda::decode(ac, B, d_W_dec.p, d, nullptr, d_out.p, 0), name)) return;
  ok = close(d_out.download(), x_hat_aux, 1e-5, &why);
  report(name + " decode aux (no bias)", ok, why);

  // g = 2 (x_hat - x) / (B d); g_aux = 2 aux_coeff (x_hat_aux + x_hat - x) / (B d).
  std::vector<float> g(x.size()), g_aux(x.size());
  const double aux_coeff = 1.0 / 32.0;
  for (size_t i = 0; i < x.size(); i++) {
    const float err = x_hat[i] - x[i];
    g[i] = static_cast<float>(err * (2.0 / double(B * d)));
    g_aux[i] = static_cast<float>((x_hat_aux[i] + err) * (2.0 * aux_coeff / double(B * d)));
  }
  Dev<float> d_g(g), d_g_aux(g_aux);
  HostGrads hg = ref_backward(main, g, &aux, &g_aux, B, F, d, xc, W_dec, W_encT);

  btk_cuda::CodeGrad cg_main{mc, static_cast<int>(K), d_g.p}, cg_aux{ac, B * k_aux, d_g_aux.p};
  const int capacity = cg_main.capacity + cg_aux.capacity;
  Dev<int> active(F), slot_of(F), n_active(1);
  Dev<float> gW_dec(static_cast<size_t>(F) * d), gW_encT(static_cast<size_t>(F) * d), gb_enc(F), gb_dec(d);
  btk_cuda::SparseGrads sg{active.p, slot_of.p, n_active.p, gW_dec.p, gW_encT.p, gb_enc.p, gb_dec.p};
  Dev<char> ws_bw(btk_cuda::backward_workspace_bytes(B, F, d, capacity));
  if (!cuda_ok(btk_cuda::backward(&cg_main, &cg_aux, B, F, d, d_xc.p, d_W_dec.p, d_W_encT.p, sg, ws_bw.p, ws_bw.n, 0),
               name))
    return;
  if (!cuda_ok(cudaDeviceSynchronize(), name)) return;
  const int n = n_active.download()[0];
  std::vector<int> got_active = active.download(std::max(0, std::min(n, F)));
  ok = n == static_cast<int>(hg.active.size()) && same_bits(got_active, hg.active, &why) &&
       same_bits(slot_of.download(), hg.slot_of, &why);
  report(name + " backward active latents", ok, ok ? std::to_string(n) + " active" : why);
  if (!ok) return;
  const size_t nd = static_cast<size_t>(n) * d;
  report(name + " backward dW_dec", close(gW_dec.download(nd), hg.W_dec, 1e-4, &why), why);
  report(name + " backward dW_encT", close(gW_encT.download(nd), hg.W_encT, 1e-4, &why), why);
  report(name + " backward db_enc", close(gb_enc.download(n), hg.b_enc, 1e-4, &why), why);
  report(name + " backward db_dec", close(gb_dec.download(), hg.b_dec, 1e-4, &why), why);
  // Determinism: a second run gives the same bits.
  auto first = gW_encT.download(nd);
  btk_cuda::backward(&cg_main, &cg_aux, B, F, d, d_xc.p, d_W_dec.p, d_W_encT.p, sg, ws_bw.p, ws_bw.n, 0);
  report(name + " backward bitwise repeatable", same_bits(gW_encT.download(nd), first, &why), why);

  // Optimizer, fed the reference gradients.
  auto pad = [&](std::vector<float> v, size_t size) {
    v.resize(size, 0.f);
    return v;
  };
  gW_dec.upload(pad(hg.W_dec, static_cast<size_t>(F) * d));
  gW_encT.upload(pad(hg.W_encT, static_cast<size_t>(F) * d));
  gb_enc.upload(pad(hg.b_enc, F));
  gb_dec.upload(hg.b_dec);
  HostParams P;
  P.W_encT = W_encT;
  P.W_dec = W_dec;
  P.m_W_encT = random_vec(W_encT.size(), rng, 1e-4f);
  P.v_W_encT = random_vec(W_encT.size(), rng, 1e-8f, true);
  P.m_W_dec = random_vec(W_dec.size(), rng, 1e-4f);
  P.v_W_dec = random_vec(W_dec.size(), rng, 1e-8f, true);
  P.b_enc = random_vec(F, rng, 0.1f);
  P.m_b_enc = random_vec(F, rng, 1e-4f);
  P.v_b_enc = random_vec(F, rng, 1e-8f, true);
  P.b_dec = b_dec;
  P.m_b_dec = random_vec(d, rng, 1e-4f);
  P.v_b_dec = random_vec(d, rng, 1e-8f, true);
  std::vector<std::vector<float>*> fields = {&P.W_encT, &P.m_W_encT, &P.v_W_encT, &P.W_dec, &P.m_W_dec, &P.v_W_dec,
                                             &P.b_enc,  &P.m_b_enc,  &P.v_b_enc,  &P.b_dec, &P.m_b_dec, &P.v_b_dec};
  std::vector<Dev<float>*> dev;
  for (auto* f : fields) dev.push_back(new Dev<float>(*f));
  btk_cuda::Params dp{dev[0]->p, dev[1]->p, dev[2]->p, dev[3]->p, dev[4]->p,  dev[5]->p,
                      dev[6]->p, dev[7]->p, dev[8]->p, dev[9]->p, dev[10]->p, dev[11]->p};
  btk_cuda::AdamConfig cfg{3e-4, 0.9, 0.99, 1e-8, max_grad_norm, 7};
  Dev<double> norm(1);
  Dev<float> scale(1);
  Dev<char> ws_opt(btk_cuda::optimizer_workspace_bytes(F));
  const double ref_norm = ref_optimizer(P, hg, F, d, cfg);
  ok = cuda_ok(
           btk_cuda::optimizer_step(dp, sg, F, d, std::min(F, capacity), cfg, norm.p, scale.p, ws_opt.p, ws_opt.n, 0),
           name) &&
       cuda_ok(cudaDeviceSynchronize(), name);
  if (ok) {
    const double got_norm = norm.download()[0];
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.9g vs %.9g", got_norm, ref_norm);
    report(name + " optimizer grad norm", std::fabs(got_norm - ref_norm) <= 1e-5 * ref_norm, buf);
    const char* names[] = {"W_encT", "m_W_encT", "v_W_encT", "W_dec", "m_W_dec", "v_W_dec",
                           "b_enc",  "m_b_enc",  "v_b_enc",  "b_dec", "m_b_dec", "v_b_dec"};
    for (size_t i = 0; i < fields.size(); i++) {
      report(name + " optimizer " + names[i], close(dev[i]->download(), *fields[i], 1e-5, &why), why);
    }
  }
  for (auto* p : dev) delete p;
}

// ------------------------------------------------------------------------------------------------
// Benchmark
// ------------------------------------------------------------------------------------------------

void bench_selection(const char* label, int B, int F, long long K) {
  auto h = make_values(static_cast<size_t>(B) * F, Gen::Bf16, 4242);
  Dev<float> values(h);
  Selected out(B, static_cast<size_t>(K));
  Dev<char> ws(btk_cuda::batch_topk_workspace_bytes(B, F));
  auto run = [&] {
    return btk_cuda::batch_topk(values.p, B, F, K, out.row_ptr.p, out.col.p, out.val.p, ws.p, ws.n, 0);
  };
  for (int i = 0; i < 10; i++) run();
  if (!cuda_ok(cudaDeviceSynchronize(), std::string("bench ") + label)) return;
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<float> ms;
  for (int i = 0; i < 50; i++) {
    cudaEventRecord(start);
    run();
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float t = 0;
    cudaEventElapsedTime(&t, start, stop);
    ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  const double gbps = double(B) * F * sizeof(float) / (median * 1e-3) / 1e9;  // one read of the matrix
  std::printf("BENCH batch_topk %s B=%d F=%d K=%lld median_ms=%.4f p5_ms=%.4f p95_ms=%.4f GBps=%.1f\n", label, B, F, K,
              median, ms[2], ms[47], gbps);
}

}  // namespace

int main(int argc, char** argv) {
  bool bench = false;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--bench") == 0)
      bench = true;
    else {
      std::fprintf(stderr, "usage: %s [--bench]\n", argv[0]);
      return 2;
    }
  }
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: nothing to run\n");
    return 0;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("device: %s (compute capability %d.%d, %d SMs)\n", prop.name, prop.major, prop.minor,
              prop.multiProcessorCount);

  // BatchTopK selection: exact, ties included.
  test_batch_topk("batch_topk normal 37x1003 K=185", 37, 1003, 37 * 5, Gen::Normal, 1);
  test_batch_topk("batch_topk quantised ties 61x517 K=427", 61, 517, 61 * 7, Gen::Quantised, 2);
  test_batch_topk("batch_topk bf16 ties 129x2051 K=4128", 129, 2051, 129 * 32, Gen::Bf16, 3);
  test_batch_topk("batch_topk fewer positives than K 13x211 K=208", 13, 211, 13 * 16, Gen::FewPositives, 4);
  test_batch_topk("batch_topk no positives 7x33 K=21", 7, 33, 21, Gen::NonPositive, 5);
  test_batch_topk("batch_topk K=0 9x17", 9, 17, 0, Gen::Normal, 6);
  test_batch_topk("batch_topk K = all entries 5x7", 5, 7, 35, Gen::Normal, 7);
  test_batch_topk("batch_topk one row 1x100003 K=77", 1, 100003, 77, Gen::Quantised, 8);
  test_batch_topk("batch_topk config A 4096x24576 K=32B bf16", 4096, 24576, 32ll * 4096, Gen::Bf16, 9);
  test_batch_topk("batch_topk config B 4096x65536 K=64B bf16", 4096, 65536, 64ll * 4096, Gen::Bf16, 10);
  // TopK per row, and AuxK over a mask of dead latents.
  test_row_topk("row_topk normal 37x1003 k=7", 37, 1003, 7, Gen::Normal, 1.0, 11);
  test_row_topk("row_topk quantised ties 61x517 k=13", 61, 517, 13, Gen::Quantised, 1.0, 12);
  test_row_topk("row_topk fewer positives than k 13x211 k=16", 13, 211, 16, Gen::FewPositives, 1.0, 13);
  test_row_topk("row_topk masked (AuxK) 53x999 k=40", 53, 999, 40, Gen::Quantised, 0.1, 14);
  test_row_topk("row_topk k > cols 3x10 k=25", 3, 10, 25, Gen::Normal, 1.0, 15);
  test_row_topk("row_topk config A 4096x24576 k=32 bf16", 4096, 24576, 32, Gen::Bf16, 1.0, 16);
  // Decode, backward, optimizer.
  test_step("step small 37x1003 d=77", 37, 1003, 77, 5, 9, 0.0, 21);
  test_step("step clipped 61x1021 d=131", 61, 1021, 131, 8, 17, 1e-3, 22);
  test_step("step medium 257x4099 d=771", 257, 4099, 771, 16, 33, 1.0, 23);

  if (bench) {
    bench_selection("A", 4096, 24576, 32ll * 4096);
    bench_selection("B", 4096, 65536, 64ll * 4096);
  }
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
