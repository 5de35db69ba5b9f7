// The C entry points: argument checks, conversions at the boundary, and a guard around each.
#include <torch/version.h>

#include <cstring>
#include <limits>

#include "batchtopk.h"
#include "data_parallel.h"
#include "dist.h"
#include "errors.h"
#include "inference.h"
#include "latent_shards.h"
#include "state.h"
#include "step.h"
#ifdef BTK_HAVE_CUDA
#include "cuda_support.h"
#endif

#define BTK_EXPORT extern "C" __attribute__((visibility("default")))

namespace btk {
namespace {

void require_not_null(const void* p, const char* what) {
  if (p == nullptr) fail(BTK_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL");
}

const char* dtype_name(int32_t dtype) {
  switch (dtype) {
    case BTK_DTYPE_F32: return "F32";
    case BTK_DTYPE_F64: return "F64";
    case BTK_DTYPE_F16: return "F16";
    case BTK_DTYPE_BF16: return "BF16";
    case BTK_DTYPE_I64: return "I64";
    default: return "unknown";
  }
}

// Checks a view's pointer, shape, type and device, the same way for inputs and outputs.
// A CUDA SAE's training batch may also be device memory (device_ok): data already on the GPU.
void check_view(const btk_tensor_view* view, const char* what, int64_t rows, int64_t cols, bool device_ok = false) {
  require_not_null(view, what);
  require_not_null(view->data, (std::string(what) + ".data").c_str());
  if (view->device != BTK_DEVICE_CPU && !(device_ok && view->device == BTK_DEVICE_CUDA)) {
    fail(BTK_ERR_DEVICE, std::string(what) + " is on device " + std::to_string(view->device) +
                             ", but this build of batchtopk runs on the CPU only");
  }
  if (view->dtype != BTK_DTYPE_F32 && view->dtype != BTK_DTYPE_F64 && view->dtype != BTK_DTYPE_F16 &&
      view->dtype != BTK_DTYPE_BF16) {
    fail(BTK_ERR_DTYPE, std::string(what) + " has dtype " + dtype_name(view->dtype) + " (code " +
                            std::to_string(view->dtype) + "); expected F32, F64, F16 or BF16");
  }
  if (view->rows <= 0 || view->rows > (std::numeric_limits<int32_t>::max)()) {
    fail(BTK_ERR_SHAPE, std::string(what) + " has " + std::to_string(view->rows) + " rows; expected 1 to 2^31-1");
  }
  if (rows >= 0 && view->rows != rows) {
    fail(BTK_ERR_SHAPE, std::string(what) + " has " + std::to_string(view->rows) + " rows but " + std::to_string(rows) +
                            " are needed");
  }
  if (view->cols != cols) {
    fail(BTK_ERR_SHAPE, std::string(what) + " has " + std::to_string(view->cols) + " columns but " +
                            std::to_string(cols) + " are expected");
  }
}

size_t view_bytes(const btk_tensor_view* view) {
  return static_cast<size_t>(view->rows) * static_cast<size_t>(view->cols) *
         c10::elementSize(scalar_type_of(view->dtype));
}

// The caller's block as a host tensor of its own dtype, borrowed when it is aligned, checked finite.
torch::Tensor host_input(const btk_tensor_view* view, const char* what, int64_t cols) {
  check_view(view, what, -1, cols);
  auto type = scalar_type_of(view->dtype);
  auto shape = std::vector<int64_t>{view->rows, view->cols};
  torch::Tensor t;
  if (reinterpret_cast<uintptr_t>(view->data) % c10::elementSize(type) == 0) {
    t = torch::from_blob(view->data, shape, torch::TensorOptions().dtype(type));
  } else {
    // Vectorised kernels may assume element alignment; an unaligned block is copied once.
    t = torch::empty(shape, torch::TensorOptions().dtype(type));
    std::memcpy(t.data_ptr(), view->data, view_bytes(view));
  }
  auto finite = torch::isfinite(t);
  if (!finite.all().item<bool>()) {
    int64_t row = (~finite).any(1).nonzero()[0][0].item<int64_t>();
    fail(BTK_ERR_NON_FINITE,
         std::string(what) + " contains NaN or infinity (first in row " + std::to_string(row) + ")");
  }
  return t;
}

// The caller's block as a tensor of the SAE's dtype on the SAE's device.
torch::Tensor input_tensor(const btk_sae& sae, const btk_tensor_view* view, const char* what, int64_t cols) {
  return host_input(view, what, cols).to(sae.options.device(), sae.options.dtype()).contiguous();
}

void write_output(const torch::Tensor& result, btk_tensor_view* view) {
  auto converted = result.to(torch::kCPU, scalar_type_of(view->dtype)).contiguous();
  std::memcpy(view->data, converted.data_ptr(), view_bytes(view));
}

btk_sae* checked(btk_sae* sae) {
  require_not_null(sae, "sae");
  return sae;
}
const btk_sae* checked(const btk_sae* sae) {
  require_not_null(sae, "sae");
  return sae;
}

// An SAE that holds its whole dictionary, for the calls that need every latent.
btk_sae* whole(btk_sae* sae) {
  checked(sae);
  if (sae->shard) {
    const ShardPlace& p = *sae->shard;
    fail(BTK_ERR_INVALID_ARGUMENT, "this SAE is shard " + std::to_string(p.rank) + " of " + std::to_string(p.world) +
                                       " of a latent-sharded SAE (latents " + std::to_string(p.first) + ".." +
                                       std::to_string(p.first + p.latents - 1) + " of " + std::to_string(p.d_sae) +
                                       "): it trains with btk_sae_train_step_latent_sharded; gather the shards "
                                       "(btk_sae_gather_shards) for anything that needs every latent");
  }
  return sae;
}

// Where a shard lies, for the calls that take one.
const ShardPlace& place_of(const btk_sae* sae) {
  checked(sae);
  if (!sae->shard) {
    fail(BTK_ERR_INVALID_ARGUMENT,
         "this SAE holds its whole dictionary, not a shard: create shards with "
         "btk_sae_create_shard");
  }
  return *sae->shard;
}

void fill_metrics(const btk_sae& sae, const StepResult& r, double grad_norm, btk_metrics* out) {
  out->step = sae.step;
  out->loss = r.loss;
  out->mse = r.mse;
  out->aux_loss = r.aux_loss;
  out->sparsity_loss = r.sparsity_loss;
  out->nmse = r.nmse;
  out->l0 = r.l0;
  out->dead = (r.tokens_since_fired >= sae.cfg.dead_after_tokens).sum().item<int64_t>();
  out->theta = theta_of(sae);
  out->grad_norm = grad_norm;
}

StepResult forward_backward(const btk_sae& sae, const torch::Tensor& x, bool want_gradients) {
  return sae.cfg.path == BTK_PATH_FUSED ? fused_forward_backward(sae, x, want_gradients)
                                        : naive_forward_backward(sae, x, want_gradients);
}

const std::string& build_info_text() {
  static const std::string text = std::string("batchtopk ") + BTK_VERSION + " (libtorch " +
                                  std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
                                  "." + std::to_string(TORCH_VERSION_PATCH) +
#ifdef BTK_HAVE_CUDA
                                  ", cuda)";
#else
                                  ", cpu)";
#endif
  return text;
}

// One optimizer step; its metrics are kept for btk_sae_last_metrics. On CUDA the step is enqueued
// behind the batch's copy and its metrics stay on the device until they are read.
void train_step(btk_sae& s, const btk_tensor_view* batch) {
#ifdef BTK_HAVE_CUDA
  if (s.cuda) {
    check_view(batch, "batch", -1, s.cfg.d_in, /*device_ok=*/true);
    auto x = batch->device == BTK_DEVICE_CUDA
                 ? resident_batch(s, batch->data, batch->rows, batch->cols, scalar_type_of(batch->dtype))
                 : upload_batch(s, host_input(batch, "batch", s.cfg.d_in));
    x = x.to(s.options.dtype());
    s.has_gradients = false;
    s.has_last_metrics = false;
    try {
      cuda_train_step(s, x);
    } catch (...) {
      release_batch(s);  // what was enqueued still reads the slot: the next copy into it waits for that
      throw;
    }
    release_batch(s);
    return;
  }
#endif
  auto x = input_tensor(s, batch, "batch", s.cfg.d_in);
  StepResult r = forward_backward(s, x, true);
  double norm = s.cfg.path == BTK_PATH_FUSED ? fused_update(s, r.gradients) : naive_update(s, r.gradients);
  finish_step(s, r);
  s.has_gradients = false;
  fill_metrics(s, r, norm, &s.last_metrics);
  s.has_last_metrics = true;
}

void last_metrics(const btk_sae& s, btk_metrics* out) {
#ifdef BTK_HAVE_CUDA
  if (s.cuda) return read_metrics(s, out);
#endif
  if (!s.has_last_metrics) fail(BTK_ERR_INVALID_ARGUMENT, "no training step has run yet: there are no metrics to read");
  *out = s.last_metrics;
}

}  // namespace
}  // namespace btk

using namespace btk;

BTK_EXPORT int32_t btk_abi_version(void) { return BTK_ABI_VERSION; }

BTK_EXPORT const char* btk_build_info(void) { return build_info_text().c_str(); }

BTK_EXPORT int32_t btk_cuda_available(void) {
#ifdef BTK_HAVE_CUDA
  int32_t available = 0;
  guard([&] { available = cuda_device_present() ? 1 : 0; });
  return available;
#else
  return 0;
#endif
}

BTK_EXPORT const char* btk_last_error(void) { return last_error(); }

BTK_EXPORT int32_t btk_set_num_threads(int32_t threads) {
  if (threads > 0) at::set_num_threads(threads);
  return at::get_num_threads();
}

BTK_EXPORT int32_t btk_config_defaults(btk_config* cfg, int64_t d_in, int64_t d_sae, int32_t architecture, int32_t k) {
  return guard([&] {
    require_not_null(cfg, "cfg");
    std::memset(cfg, 0, sizeof(*cfg));
    cfg->d_in = d_in;
    cfg->d_sae = d_sae;
    cfg->architecture = architecture;
    cfg->k = k;
    cfg->k_aux = 512;
    cfg->normalize = BTK_NORMALIZE_PER_TOKEN;
    cfg->dead_after_tokens = 5 * 4096;  // the reference: 5 batches of 4096 tokens
    cfg->aux_coeff = 1.0 / 32.0;
    cfg->lr = 3e-4;
    cfg->beta1 = 0.9;
    cfg->beta2 = 0.99;
    cfg->eps = 1e-8;
    cfg->max_grad_norm = 1e5;
    cfg->l1_coeff = 1e-3;
    cfg->l0_coeff = 1e-3;
    cfg->jumprelu_bandwidth = 1e-3;
    cfg->jumprelu_init_threshold = 1e-3;
    cfg->theta_momentum = 0.01;
    cfg->seed = 42;
    cfg->dtype = BTK_DTYPE_F32;
    cfg->device = BTK_DEVICE_CPU;
    cfg->path = BTK_PATH_FUSED;
  });
}

BTK_EXPORT int32_t btk_config_validate(const btk_config* cfg) {
  return guard([&] {
    require_not_null(cfg, "cfg");
    validate_config(*cfg);
  });
}

BTK_EXPORT int32_t btk_sae_create(const btk_config* cfg, btk_sae** out) {
  return guard([&] {
    require_not_null(cfg, "cfg");
    require_not_null(out, "out");
    *out = nullptr;
    validate_config(*cfg);
    require_device_available(*cfg);
    auto sae = std::make_unique<btk_sae>();
    sae->cfg = *cfg;
    sae->options = torch::TensorOptions().dtype(scalar_type_of(cfg->dtype));
    if (cfg->device == BTK_DEVICE_CUDA) sae->options = sae->options.device(torch::kCUDA);
    init_parameters(*sae);
#ifdef BTK_HAVE_CUDA
    if (cfg->device == BTK_DEVICE_CUDA) attach_cuda(*sae);
#endif
    sae->state_names = state_names_of(*sae);
    *out = sae.release();
  });
}

BTK_EXPORT void btk_sae_destroy(btk_sae* sae) { delete sae; }

BTK_EXPORT int32_t btk_sae_config(const btk_sae* sae, btk_config* out) {
  return guard([&] {
    require_not_null(out, "out");
    *out = checked(sae)->cfg;
    if (sae->shard) out->d_sae = sae->shard->d_sae;  // the whole SAE's config
  });
}

BTK_EXPORT int32_t btk_sae_set_path(btk_sae* sae, int32_t path) {
  return guard([&] {
    if (path != BTK_PATH_FUSED && path != BTK_PATH_NAIVE)
      fail(BTK_ERR_INVALID_ARGUMENT, "unknown path code " + std::to_string(path));
    checked(sae)->cfg.path = path;
  });
}

BTK_EXPORT int32_t btk_sae_set_lr(btk_sae* sae, double lr) {
  return guard([&] {
    if (!(std::isfinite(lr) && lr > 0))
      fail(BTK_ERR_INVALID_ARGUMENT, "lr must be finite and positive, got " + std::to_string(lr));
    checked(sae)->cfg.lr = lr;
  });
}

BTK_EXPORT int32_t btk_sae_train_step(btk_sae* sae, const btk_tensor_view* batch, btk_metrics* out) {
  return guard([&] {
    require_not_null(out, "out");
    auto& s = *whole(sae);
    train_step(s, batch);
    last_metrics(s, out);
  });
}

BTK_EXPORT int32_t btk_sae_train_step_data_parallel(btk_sae* sae, btk_dist* dist, const btk_tensor_view* batch,
                                                    btk_metrics* out) {
  return guard([&] {
    require_not_null(out, "out");
    require_not_null(dist, "dist");
    auto& s = *whole(sae);
    if (s.cfg.path != BTK_PATH_FUSED) fail(BTK_ERR_INVALID_ARGUMENT, "data-parallel training runs the fused path only");
    if (s.cfg.device != BTK_DEVICE_CPU) fail(BTK_ERR_DEVICE, "data-parallel training runs on the CPU only");
    // Matryoshka's prefix losses are not yet reduced across ranks: refused rather than trained differently.
    if (s.cfg.architecture == BTK_ARCH_MATRYOSHKA_BATCHTOPK) {
      fail(BTK_ERR_INVALID_ARGUMENT,
           "data-parallel training does not support the matryoshka-batchtopk architecture yet; use batchtopk or topk");
    }
    if (s.cfg.architecture != BTK_ARCH_BATCHTOPK && s.cfg.architecture != BTK_ARCH_TOPK) {
      fail(BTK_ERR_INVALID_ARGUMENT, "data-parallel training supports the batchtopk and topk architectures only");
    }
    auto x = input_tensor(s, batch, "batch", s.cfg.d_in);
    const DataParallel dp = data_parallel_layout(*dist->group, x.size(0));
    StepResult r = fused_forward_backward(s, x, true, &dp);
    double norm = fused_update(s, r.gradients);
    finish_step(s, r);
    s.has_gradients = false;
    fill_metrics(s, r, norm, out);
  });
}

BTK_EXPORT int32_t btk_sae_create_shard(const btk_config* cfg, int32_t rank, int32_t world_size, btk_sae** out) {
  return guard([&] {
    require_not_null(cfg, "cfg");
    require_not_null(out, "out");
    *out = nullptr;
    validate_config(*cfg);
    require_device_available(*cfg);
    if (cfg->architecture != BTK_ARCH_BATCHTOPK && cfg->architecture != BTK_ARCH_TOPK) {
      fail(BTK_ERR_INVALID_ARGUMENT, "latent sharding supports the batchtopk and topk architectures only");
    }
    if (cfg->path != BTK_PATH_FUSED) fail(BTK_ERR_INVALID_ARGUMENT, "latent sharding runs the fused path only");
    // The sharded step's collectives are Gloo's, over host tensors.
    if (cfg->device != BTK_DEVICE_CPU) fail(BTK_ERR_DEVICE, "latent sharding runs on the CPU only");
    auto sae = std::make_unique<btk_sae>();
    sae->shard = shard_place(cfg->d_sae, rank, world_size);
    sae->cfg = *cfg;
    sae->cfg.d_sae = sae->shard->latents;  // inside, a shard is an SAE of its own latents
    sae->options = torch::TensorOptions().dtype(scalar_type_of(cfg->dtype));
    init_parameters(*sae);
    sae->state_names = state_names_of(*sae);
    *out = sae.release();
  });
}

BTK_EXPORT int32_t btk_sae_shard(const btk_sae* sae, btk_shard* out) {
  return guard([&] {
    require_not_null(out, "out");
    const auto& s = *checked(sae);
    const ShardPlace p = s.shard ? *s.shard : ShardPlace{0, 1, 0, s.cfg.d_sae, s.cfg.d_sae};
    *out = btk_shard{p.rank, p.world, p.first, p.latents, p.d_sae};
  });
}

BTK_EXPORT int32_t btk_sae_train_step_latent_sharded(btk_sae* shard, btk_dist* dist, const btk_tensor_view* batch,
                                                     btk_metrics* out) {
  return guard([&] {
    require_not_null(out, "out");
    require_not_null(dist, "dist");
    require_shard_group(place_of(shard), *dist->group);
    auto& s = *shard;
    if (s.cfg.path != BTK_PATH_FUSED) fail(BTK_ERR_INVALID_ARGUMENT, "latent sharding runs the fused path only");
    auto x = input_tensor(s, batch, "batch", s.cfg.d_in);
    const LatentShards shards{*dist->group};
    StepResult r = fused_forward_backward(s, x, true, nullptr, &shards);
    double norm = fused_update(s, r.gradients, &shards);
    finish_step(s, r);
    s.has_gradients = false;
    fill_metrics(s, r, norm, out);
    out->dead = shards.sum(out->dead);  // each shard counts its own latents
  });
}

BTK_EXPORT int32_t btk_sae_gather_shards(const btk_sae* shard, btk_dist* dist, btk_sae** out) {
  return guard([&] {
    require_not_null(out, "out");
    *out = nullptr;
    require_not_null(dist, "dist");
    place_of(shard);
    *out = gather_shards(*shard, *dist->group);
  });
}

BTK_EXPORT int32_t btk_sae_loss_and_gradients(btk_sae* sae, const btk_tensor_view* batch, int32_t want_gradients,
                                              btk_metrics* out) {
  return guard([&] {
    require_not_null(out, "out");
    auto& s = *whole(sae);
    auto x = input_tensor(s, batch, "batch", s.cfg.d_in);
#ifdef BTK_HAVE_CUDA
    if (s.cuda) return cuda_loss_and_gradients(s, x, want_gradients != 0, out);
#endif
    StepResult r = forward_backward(s, x, want_gradients != 0);
    if (want_gradients) {
      // The fused step's gradients live in the workspace, which the next step overwrites.
      for (auto field : {&Gradients::rows, &Gradients::W_encT, &Gradients::W_dec, &Gradients::b_enc, &Gradients::b_dec,
                         &Gradients::log_threshold}) {
        const auto& t = r.gradients.*field;
        s.last_gradients.*field = t.defined() ? t.clone() : t;
      }
      s.has_gradients = true;
    }
    fill_metrics(s, r, std::numeric_limits<double>::quiet_NaN(), out);
  });
}

BTK_EXPORT int32_t btk_sae_encode(btk_sae* sae, const btk_tensor_view* batch, int32_t select, btk_tensor_view* codes) {
  return guard([&] {
    auto& s = *whole(sae);
    auto x = input_tensor(s, batch, "batch", s.cfg.d_in);
    check_view(codes, "codes", x.size(0), s.cfg.d_sae);
    write_output(encode(s, normalize_input(s.cfg, x).x, select), codes);
  });
}

BTK_EXPORT int32_t btk_sae_decode(btk_sae* sae, const btk_tensor_view* codes, btk_tensor_view* out) {
  return guard([&] {
    auto& s = *whole(sae);
    auto z = input_tensor(s, codes, "codes", s.cfg.d_sae);
    check_view(out, "out", z.size(0), s.cfg.d_in);
    write_output(decode(s, z), out);
  });
}

BTK_EXPORT int32_t btk_sae_reconstruct(btk_sae* sae, const btk_tensor_view* batch, int32_t select,
                                       btk_tensor_view* out) {
  return guard([&] {
    auto& s = *whole(sae);
    auto x = input_tensor(s, batch, "batch", s.cfg.d_in);
    check_view(out, "out", x.size(0), s.cfg.d_in);
    auto normalized = normalize_input(s.cfg, x);
    write_output(denormalize(normalized, decode(s, encode(s, normalized.x, select))), out);
  });
}

BTK_EXPORT int32_t btk_sae_evaluate(btk_sae* sae, const btk_tensor_view* batch, btk_eval_sums* sums,
                                    double* column_sums, int64_t* fire_counts) {
  return guard([&] {
    auto& s = *whole(sae);
    require_not_null(sums, "sums");
    require_not_null(column_sums, "column_sums");
    auto x = input_tensor(s, batch, "batch", s.cfg.d_in);
    EvalSums e = evaluate(s, x);
    sums->tokens += x.size(0);
    sums->active += e.active;
    sums->squared_error += e.squared_error;
    sums->squared_sum += e.squared_sum;
    for (size_t i = 0; i < e.prefix_squared_error.size(); i++)
      sums->prefix_squared_error[i] += e.prefix_squared_error[i];
    const auto column = e.column_sums.cpu();
    const double* col = column.data_ptr<double>();
    for (int64_t j = 0; j < s.cfg.d_in; j++) column_sums[j] += col[j];
    if (fire_counts != nullptr) {
      const auto counts = e.fire_counts.cpu();
      const int64_t* fired = counts.data_ptr<int64_t>();
      for (int64_t f = 0; f < s.cfg.d_sae; f++) fire_counts[f] += fired[f];
    }
  });
}

BTK_EXPORT int64_t btk_sae_state_count(const btk_sae* sae) {
  return sae == nullptr ? 0 : static_cast<int64_t>(sae->state_names.size());
}

BTK_EXPORT const char* btk_sae_state_name(const btk_sae* sae, int64_t index) {
  if (sae == nullptr || index < 0 || index >= static_cast<int64_t>(sae->state_names.size())) return nullptr;
  return sae->state_names[index].c_str();
}

BTK_EXPORT int32_t btk_sae_state_info(const btk_sae* sae, const char* name, btk_tensor_info* out) {
  return guard([&] {
    require_not_null(name, "name");
    require_not_null(out, "out");
    auto t = read_state(*checked(sae), name);
    out->ndim = static_cast<int32_t>(t.dim());
    out->dtype = btk_dtype_of(t.scalar_type());
    out->shape[0] = t.dim() > 0 ? t.size(0) : 0;
    out->shape[1] = t.dim() > 1 ? t.size(1) : 0;
    out->numel = t.numel();
  });
}

BTK_EXPORT int32_t btk_sae_state_get(const btk_sae* sae, const char* name, void* dst, int64_t dst_bytes) {
  return guard([&] {
    require_not_null(name, "name");
    require_not_null(dst, "dst");
    auto t = read_state(*checked(sae), name).to(torch::kCPU).contiguous();
    int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
    if (dst_bytes != bytes) {
      fail(BTK_ERR_SHAPE, std::string("'") + name + "' holds " + std::to_string(bytes) + " bytes; the buffer has " +
                              std::to_string(dst_bytes));
    }
    std::memcpy(dst, t.data_ptr(), static_cast<size_t>(bytes));
  });
}

BTK_EXPORT int32_t btk_sae_state_set(btk_sae* sae, const char* name, const void* src, int64_t src_bytes) {
  return guard([&] {
    require_not_null(name, "name");
    write_state(*checked(sae), name, src, src_bytes);
  });
}

BTK_EXPORT int32_t btk_sae_set_gpu_precision(btk_sae* sae, int32_t precision) {
  return guard([&] {
    auto& s = *checked(sae);
    if (!s.cuda) fail(BTK_ERR_DEVICE, "the GPU precision applies to an SAE on a CUDA device; this one is on the CPU");
#ifdef BTK_HAVE_CUDA
    set_gpu_precision(s, precision);
#endif
  });
}

BTK_EXPORT int32_t btk_sae_train_step_deferred(btk_sae* sae, const btk_tensor_view* batch) {
  return guard([&] { train_step(*whole(sae), batch); });
}

BTK_EXPORT int32_t btk_sae_last_metrics(btk_sae* sae, btk_metrics* out) {
  return guard([&] {
    require_not_null(out, "out");
    last_metrics(*whole(sae), out);
  });
}

BTK_EXPORT int32_t btk_host_register(void* data, int64_t bytes) {
  return guard([&] {
    require_not_null(data, "data");
    if (bytes <= 0) fail(BTK_ERR_INVALID_ARGUMENT, "bytes must be positive, got " + std::to_string(bytes));
#ifdef BTK_HAVE_CUDA
    host_register(data, bytes);
#else
    fail(BTK_ERR_DEVICE, "this build of batchtopk has no CUDA: there is nothing to page-lock host memory for");
#endif
  });
}

BTK_EXPORT int32_t btk_host_unregister(void* data) {
  return guard([&] {
    require_not_null(data, "data");
#ifdef BTK_HAVE_CUDA
    host_unregister(data);
#else
    fail(BTK_ERR_DEVICE, "this build of batchtopk has no CUDA: no host memory is page-locked");
#endif
  });
}
