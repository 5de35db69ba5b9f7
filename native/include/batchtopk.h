/*
 * batchtopk.h — the whole C interface of the batchtopk native library.
 *
 * Plain C on purpose: jextract generates the Java bindings from this file alone.
 * Conventions:
 *   - every function that can fail returns a btk_status; BTK_OK is 0;
 *   - on failure, btk_last_error() returns a message for the calling thread that names the problem
 *     (not the function: the caller knows which call failed); the next call on that thread that
 *     returns a btk_status replaces it, with "" when that call succeeds;
 *   - a btk_sae is an opaque handle. A call that changes it (train_step, loss_and_gradients,
 *     set_path, set_lr, state_set, destroy) must not overlap any other call on the same handle; the
 *     calls that only read it (config, encode, decode, reconstruct, evaluate, state_count, state_name,
 *     state_info, state_get) may run on several threads at once. Different handles are independent;
 *   - tensors cross the boundary as btk_tensor_view: a borrowed, row-major, contiguous block.
 */
#ifndef BATCHTOPK_H
#define BATCHTOPK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a struct layout or a function signature below changes. */
#define BTK_ABI_VERSION 2

/* Status codes. */
#define BTK_OK 0
#define BTK_ERR_INVALID_ARGUMENT 1 /* a value out of range, a NULL pointer, an unknown name */
#define BTK_ERR_SHAPE 2            /* a tensor of the wrong shape */
#define BTK_ERR_DTYPE 3            /* a tensor of an unsupported or wrong element type */
#define BTK_ERR_NON_FINITE 4       /* NaN or infinity in an input batch */
#define BTK_ERR_DEVICE 5           /* the device asked for is not available in this build */
#define BTK_ERR_OUT_OF_MEMORY 6
#define BTK_ERR_INTERNAL 7         /* any other failure inside libtorch or the shim */

/* Architectures. */
#define BTK_ARCH_BATCHTOPK 0 /* k*B largest activations over the whole batch; theta at inference */
#define BTK_ARCH_TOPK 1      /* k largest activations of each row */
#define BTK_ARCH_JUMPRELU 2  /* learned per-latent thresholds, L0 penalty with straight-through grads */
#define BTK_ARCH_RELU 3      /* ReLU with an L1 penalty ("vanilla") */
/* BatchTopK's one selection over the whole dictionary, trained so that every prefix of the latents
   (cut at each of matryoshka_widths) reconstructs on its own; theta at inference */
#define BTK_ARCH_MATRYOSHKA_BATCHTOPK 4

/* Most prefix widths a Matryoshka SAE may have. */
#define BTK_MAX_MATRYOSHKA_WIDTHS 64

/* Element types. */
#define BTK_DTYPE_F32 0
#define BTK_DTYPE_F64 1
#define BTK_DTYPE_F16 2
#define BTK_DTYPE_BF16 3
#define BTK_DTYPE_I64 4

/* Devices. */
#define BTK_DEVICE_CPU 0
#define BTK_DEVICE_CUDA 1

/* Implementations of the training step. */
#define BTK_PATH_FUSED 0 /* explicit forward/backward over the active pairs only */
#define BTK_PATH_NAIVE 1 /* dense tensors, flattened topk, scatter, autograd: the reference's way */

/* Input normalisation. */
#define BTK_NORMALIZE_NONE 0
#define BTK_NORMALIZE_PER_TOKEN 1 /* x <- (x - mean) / (std + 1e-5) per token; the reference's default */

/* Selection rule for encode/reconstruct. */
#define BTK_SELECT_INFERENCE 0 /* theta for BatchTopK, per-row k for TopK, thresholds for JumpReLU */
#define BTK_SELECT_TRAINING 1  /* the batch rule used while training (k*B over the batch for BatchTopK) */

typedef struct btk_config {
    int64_t d_in;              /* width of the activations, d */
    int64_t d_sae;             /* number of latents, F */
    int32_t architecture;      /* BTK_ARCH_* */
    int32_t k;                 /* active latents per token (BatchTopK: on average) */
    int32_t k_aux;             /* AuxK: dead latents used per token (0 disables AuxK) */
    int32_t normalize;         /* BTK_NORMALIZE_* */
    int64_t dead_after_tokens; /* a latent not selected for this many tokens counts as dead */
    double aux_coeff;          /* weight of the AuxK loss */
    double lr;                 /* Adam learning rate */
    double beta1;
    double beta2;
    double eps;
    double max_grad_norm;      /* global-norm clipping; <= 0 disables */
    double l1_coeff;           /* ReLU: weight of the L1 penalty */
    double l0_coeff;           /* JumpReLU: weight of the L0 penalty */
    double jumprelu_bandwidth; /* JumpReLU: width of the straight-through rectangle kernel */
    double jumprelu_init_threshold;
    double theta_momentum;     /* BatchTopK: EMA weight of each batch's smallest selected activation */
    uint64_t seed;             /* initialisation seed */
    int32_t dtype;             /* parameter type: BTK_DTYPE_F32, or BTK_DTYPE_F64 for exactness checks */
    int32_t device;            /* BTK_DEVICE_* */
    int32_t path;              /* BTK_PATH_* */
    int32_t reserved;          /* keep zero */
    int32_t matryoshka_count;  /* Matryoshka: how many widths below are used (1 to BTK_MAX_MATRYOSHKA_WIDTHS); else 0 */
    int32_t matryoshka_reserved; /* keep zero */
    /* Matryoshka: cumulative prefix widths, strictly increasing, the last equal to d_sae */
    int64_t matryoshka_widths[BTK_MAX_MATRYOSHKA_WIDTHS];
} btk_config;

/* A borrowed, contiguous, row-major block of rows x cols elements. */
typedef struct btk_tensor_view {
    void *data;
    int64_t rows;
    int64_t cols;
    int32_t dtype;  /* BTK_DTYPE_* */
    int32_t device; /* BTK_DEVICE_* */
} btk_tensor_view;

/* What one training step reports. */
typedef struct btk_metrics {
    int64_t step;         /* optimizer steps taken so far, this one included */
    double loss;          /* mse + aux_loss + sparsity penalty (Matryoshka: the prefixes' mean MSE, not mse) */
    double mse;           /* mean over B*d of (x_hat - x)^2, in the (normalised) training space */
    double aux_loss;      /* AuxK loss, already weighted by aux_coeff */
    double sparsity_loss; /* L1 (ReLU) or L0 (JumpReLU) penalty, weighted */
    double nmse;          /* sum (x_hat - x)^2 / sum (x - mean_b x)^2 over this batch */
    double l0;            /* mean number of non-zero codes per token */
    int64_t dead;         /* latents counted as dead after this step */
    double theta;         /* BatchTopK inference threshold after this step */
    double grad_norm;     /* global gradient norm before clipping */
} btk_metrics;

/* Sums for evaluation over many batches, in the original (un-normalised) space. */
typedef struct btk_eval_sums {
    int64_t tokens;       /* rows seen */
    int64_t active;       /* non-zero codes seen */
    double squared_error; /* sum of (x_hat - x)^2 */
    double squared_sum;   /* sum of x^2 */
    /* Matryoshka: sum of (x_hat_i - x)^2 for the reconstruction by the latents below width i; else 0 */
    double prefix_squared_error[BTK_MAX_MATRYOSHKA_WIDTHS];
} btk_eval_sums;

/* Shape and type of one named state tensor. ndim 0 is a scalar. */
typedef struct btk_tensor_info {
    int32_t ndim;
    int32_t dtype;
    int64_t shape[2];
    int64_t numel;
} btk_tensor_info;

typedef struct btk_sae btk_sae;

int32_t btk_abi_version(void);
/* Version of the shim and of the libtorch it was built with, e.g. "batchtopk 0.1.0 (libtorch 2.3.0, cpu)". */
const char *btk_build_info(void);
/* 1 when this build can run on CUDA and a device is present. */
int32_t btk_cuda_available(void);
/* The message of the calling thread's last failure; "" when none, or when its last call succeeded. */
const char *btk_last_error(void);
/* Number of intra-op threads libtorch and the shim use (0 keeps the current value). */
int32_t btk_set_num_threads(int32_t threads);

/* Fills cfg with the reference defaults for the given shape. */
int32_t btk_config_defaults(btk_config *cfg, int64_t d_in, int64_t d_sae, int32_t architecture, int32_t k);
/*
 * Checks every field of cfg by the rules btk_sae_create applies: BTK_ERR_INVALID_ARGUMENT with a message
 * naming the first bad field and its value. The one authority on a valid config (the Java layer asks it).
 * Whether this build can run on cfg->device is btk_sae_create's question (BTK_ERR_DEVICE), not this one's.
 */
int32_t btk_config_validate(const btk_config *cfg);

int32_t btk_sae_create(const btk_config *cfg, btk_sae **out);
/* Accepts NULL. */
void btk_sae_destroy(btk_sae *sae);
int32_t btk_sae_config(const btk_sae *sae, btk_config *out);
/* Switch the implementation of the step (the state is shared by both). */
int32_t btk_sae_set_path(btk_sae *sae, int32_t path);
/* Change the learning rate (schedules). */
int32_t btk_sae_set_lr(btk_sae *sae, double lr);

/* One optimizer step on a batch of rows x d_in (F32, F64, F16 or BF16). */
int32_t btk_sae_train_step(btk_sae *sae, const btk_tensor_view *batch, btk_metrics *out);
/*
 * Loss of a batch and, with want_gradients, the gradients readable as "grad.<name>".
 * Changes no parameter, moment, counter or theta: the step function is this plus the update.
 */
int32_t btk_sae_loss_and_gradients(btk_sae *sae, const btk_tensor_view *batch, int32_t want_gradients,
                                   btk_metrics *out);

/* Codes (rows x d_sae, dtype of codes) for a batch, with a BTK_SELECT_* rule. */
int32_t btk_sae_encode(btk_sae *sae, const btk_tensor_view *batch, int32_t select, btk_tensor_view *codes);
/* codes W_dec + b_dec (rows x d_in): in the normalised space when normalisation is on. */
int32_t btk_sae_decode(btk_sae *sae, const btk_tensor_view *codes, btk_tensor_view *out);
/* Encode, decode and map back to the batch's space (rows x d_in). */
int32_t btk_sae_reconstruct(btk_sae *sae, const btk_tensor_view *batch, int32_t select, btk_tensor_view *out);
/*
 * Adds one batch to evaluation sums (inference rule). column_sums (d_in doubles) and
 * fire_counts (d_sae int64, may be NULL) are accumulated, not overwritten.
 */
int32_t btk_sae_evaluate(btk_sae *sae, const btk_tensor_view *batch, btk_eval_sums *sums, double *column_sums,
                         int64_t *fire_counts);

/*
 * Named state tensors: parameters ("W_enc" [d_in, d_sae], "b_enc", "W_dec" [d_sae, d_in], "b_dec",
 * "log_threshold" for JumpReLU), training state ("theta", "step", "tokens_since_fired",
 * "adam.m.<param>", "adam.v.<param>") and, after btk_sae_loss_and_gradients, "grad.<param>".
 * Names are listed by index; btk_sae_state_name returns NULL past the end.
 */
int64_t btk_sae_state_count(const btk_sae *sae);
const char *btk_sae_state_name(const btk_sae *sae, int64_t index);
int32_t btk_sae_state_info(const btk_sae *sae, const char *name, btk_tensor_info *out);
/* Copies the tensor into dst, which holds dst_bytes bytes (exactly numel * element size). */
int32_t btk_sae_state_get(const btk_sae *sae, const char *name, void *dst, int64_t dst_bytes);
/* Replaces the tensor from src, of the tensor's own dtype and size; checks it is finite. */
int32_t btk_sae_state_set(btk_sae *sae, const char *name, const void *src, int64_t src_bytes);

/*
 * Distributed training (data parallelism) over libtorch's c10d: the ranks meet at a TCPStore that
 * rank 0 hosts and communicate through ProcessGroupGloo. A btk_dist is one rank's membership of a
 * group; every rank must make the same calls on it in the same order, and a btk_dist must not be
 * used by two threads at once.
 */
#define BTK_ERR_COMMUNICATION 8 /* the group did not assemble, or a collective failed (a rank died or hung) */

typedef struct btk_dist btk_dist;

/* 1 when this build has c10d with Gloo. */
int32_t btk_dist_available(void);
/*
 * Joins the group of world_size ranks as `rank`: rank 0 listens on master_port, every rank connects
 * to master_addr:master_port. Blocks until all ranks have joined, or fails after timeout_ms, which
 * also bounds every later collective.
 */
int32_t btk_dist_create(int32_t rank, int32_t world_size, const char *master_addr, int32_t master_port,
                        int64_t timeout_ms, btk_dist **out);
/* Accepts NULL. */
void btk_dist_destroy(btk_dist *dist);
/* Payload bytes this rank has passed to all-reduces so far; -1 for NULL. */
int64_t btk_dist_bytes_reduced(const btk_dist *dist);
/* Sums `count` doubles over the ranks, in place. */
int32_t btk_dist_sum(btk_dist *dist, double *values, int64_t count);
/*
 * One data-parallel optimizer step (fused path, BatchTopK or TopK). `batch` is this rank's rows of
 * a global batch that the ranks hold in consecutive blocks in rank order. Selection is exact over
 * the global batch (ties to the lowest global index, as in one process), gradients are summed over
 * the ranks, and every rank ends with the same parameters, counters, theta and metrics.
 */
int32_t btk_sae_train_step_data_parallel(btk_sae *sae, btk_dist *dist, const btk_tensor_view *batch,
                                         btk_metrics *out);

/*
 * Latent sharding: for dictionaries larger than one worker holds. Each of the world_size ranks of a
 * btk_dist group holds a shard: a block of the latents (their rows of W_enc, b_enc, W_dec, their Adam
 * moments and dead-latent counters) and a copy of b_dec, theta and the step count. Rank r owns
 * d_sae / world_size latents, the first d_sae % world_size ranks one more, in rank order. Every rank
 * trains on the whole batch; the selection, the reconstruction and the gradient norm are the whole
 * SAE's, so the shards together train the same SAE as one process.
 *
 * A shard answers btk_sae_config (with the whole SAE's d_sae), the state calls (its own slices, in
 * the public layouts: "W_enc" is [d_in, latents]), set_lr, set_path and destroy; every other call
 * that needs the whole dictionary (train_step, encode, evaluate...) refuses it with
 * BTK_ERR_INVALID_ARGUMENT. Gather the shards for those.
 */
typedef struct btk_shard {
    int32_t rank;
    int32_t world_size;
    int64_t first_latent; /* the shard holds latents first_latent .. first_latent + latents - 1 */
    int64_t latents;
    int64_t d_sae;        /* latents of the whole SAE */
} btk_shard;

/*
 * Rank `rank`'s shard of the SAE cfg describes (cfg->d_sae is the whole dictionary's), initialised
 * to exactly its slice of what btk_sae_create draws from cfg->seed. BatchTopK or TopK, fused path.
 * Needs no group: nothing is communicated. Fails when d_sae < world_size.
 */
int32_t btk_sae_create_shard(const btk_config *cfg, int32_t rank, int32_t world_size, btk_sae **out);
/* Where a shard lies; an ordinary SAE is rank 0 of 1, holding every latent. */
int32_t btk_sae_shard(const btk_sae *sae, btk_shard *out);
/*
 * One optimizer step of the latent-sharded SAE: every rank of dist (the group the shards were made
 * for) calls it with its shard and the same whole batch. Every rank ends with the same metrics,
 * b_dec and theta.
 */
int32_t btk_sae_train_step_latent_sharded(btk_sae *shard, btk_dist *dist, const btk_tensor_view *batch,
                                          btk_metrics *out);
/*
 * Gathers the shards into the whole SAE (parameters, moments, counters, theta, step): every rank
 * calls it; rank 0 gets an ordinary btk_sae in *out (the caller destroys it), the others NULL. Only
 * rank 0 holds the whole SAE; the others send theirs in blocks.
 */
int32_t btk_sae_gather_shards(const btk_sae *shard, btk_dist *dist, btk_sae **out);

/*
 * CUDA (cfg.device = BTK_DEVICE_CUDA; btk_sae_create fails with BTK_ERR_DEVICE when this build has no
 * CUDA or no device is present). Parameters, Adam moments, counters and workspaces live on the
 * device; batches, codes and named state still cross as host memory, so every call above works
 * unchanged, and a state saved from one device loads on the other. The training step of a CUDA SAE
 * (btk_sae_train_step, btk_sae_train_step_deferred) also takes a batch already in device memory: a
 * view with device = BTK_DEVICE_CUDA.
 */
#define BTK_GPU_PRECISION_BF16 0 /* encoder GEMM: bf16 inputs, fp32 accumulation, fp32 pre-activations (default) */
#define BTK_GPU_PRECISION_FP32 1 /* fp32 throughout; the naive path without bf16 autocast */

/* The precision of a CUDA SAE's step (BTK_ERR_DEVICE for a CPU SAE). */
int32_t btk_sae_set_gpu_precision(btk_sae *sae, int32_t precision);
/*
 * btk_sae_train_step without reading the metrics: on CUDA the step is enqueued and the call returns
 * once the batch has been copied to the device (the caller may then reuse it), without waiting for
 * the step; read the metrics when they are logged with btk_sae_last_metrics.
 */
int32_t btk_sae_train_step_deferred(btk_sae *sae, const btk_tensor_view *batch);
/* The metrics of the latest training step (on CUDA: waits for that step). */
int32_t btk_sae_last_metrics(btk_sae *sae, btk_metrics *out);
/* Page-locks a host block once (cudaHostRegister), so that batches in it are copied by DMA while the
   device computes; BTK_ERR_DEVICE without CUDA. Unregister before freeing the block. */
int32_t btk_host_register(void *data, int64_t bytes);
int32_t btk_host_unregister(void *data);

#ifdef __cplusplus
}
#endif

#endif /* BATCHTOPK_H */
