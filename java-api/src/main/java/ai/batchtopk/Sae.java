package ai.batchtopk;

import static ai.batchtopk.BatchTopKException.check;

import ai.batchtopk.bindings.batchtopk_h;
import ai.batchtopk.bindings.btk_config;
import ai.batchtopk.bindings.btk_metrics;
import ai.batchtopk.bindings.btk_shard;
import ai.batchtopk.bindings.btk_tensor_info;
import ai.batchtopk.bindings.btk_tensor_view;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.ref.Reference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A sparse autoencoder living in native memory: its parameters, Adam moments, dead-latent counters
 * and BatchTopK threshold. Owns the native {@code btk_sae} handle; {@link #close()} frees it.
 *
 * <p>Batches are {@link MemorySegment}s in native memory (allocated, or mapped from a file) and are
 * handed to native code by address, never copied through the Java heap. Every segment is checked
 * against the rows and columns announced to native code first, so native code cannot read or write
 * past one.
 *
 * <p>Thread-safe, by a lock per SAE: calls that change it ({@link #trainStep}, {@link #lossAndGradients},
 * {@link #setState}, {@link #setPath}, {@link #setLearningRate}, {@link #close}) run one at a time and
 * wait for every call in progress; calls that only read it ({@link #encode}, {@link #decode},
 * {@link #reconstruct}, {@link Evaluator}, {@link #state}, {@link #stateInfo}, {@link #config}) may run
 * on several threads at once, each with its own argument structs. {@code close()} waits for the calls
 * in progress; afterwards every method throws {@code IllegalStateException("Sae is closed")}.
 *
 * <p>A batch is passed by address: a segment whose arena is already closed is refused with an
 * {@link IllegalStateException} naming the argument, but memory freed by another thread during a
 * call cannot be detected, so keep a batch's arena open until the call returns.
 */
public final class Sae implements AutoCloseable {
    private final Arena arena;
    private final MemorySegment handle;
    private final long dIn;
    private final long dSae;
    // Write lock: the calls that change the native SAE (and close); read lock: those that only read it.
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    // Argument structs of the calls that change the SAE, used under the write lock only: allocated
    // once, so a training step allocates nothing. Reading calls allocate their own.
    private final MemorySegment input;
    private final MemorySegment metrics;
    private volatile boolean closed;

    private Sae(Arena arena, MemorySegment handle, SaeConfig config) {
        this.arena = arena;
        this.handle = handle;
        this.dIn = config.dIn();
        this.dSae = config.dSae();
        this.input = btk_tensor_view.allocate(arena);
        this.metrics = btk_metrics.allocate(arena);
    }

    /**
     * A new SAE with freshly initialised parameters (from {@code config.seed()}).
     *
     * @throws IllegalArgumentException if its weights and Adam moments alone exceed the available memory
     *     ({@link MemoryBudget})
     */
    public static Sae create(SaeConfig config) {
        Objects.requireNonNull(config, "config");
        MemoryBudget.requireFits(config);
        NativeLibrary.load();
        Arena arena = Arena.ofShared();
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment out = scratch.allocate(ValueLayout.ADDRESS);
            check(batchtopk_h.btk_sae_create(config.toNative(scratch), out), "btk_sae_create");
            return new Sae(arena, out.get(ValueLayout.ADDRESS, 0), config);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Takes ownership of a handle native code made otherwise (a shard, a gathered SAE); destroys it if
     * it cannot.
     */
    static Sae adopt(MemorySegment handle) {
        Arena arena = Arena.ofShared();
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment c = btk_config.allocate(scratch);
            check(batchtopk_h.btk_sae_config(handle, c), "btk_sae_config");
            return new Sae(arena, handle, SaeConfig.fromNative(c));
        } catch (RuntimeException | Error e) {
            batchtopk_h.btk_sae_destroy(handle);
            arena.close();
            throw e;
        }
    }

    /** The current config, as the native side holds it (the path and lr can change). */
    public SaeConfig config() {
        Lock held = acquire(lock.readLock());
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment c = btk_config.allocate(scratch);
            check(batchtopk_h.btk_sae_config(handle, c), "btk_sae_config");
            return SaeConfig.fromNative(c);
        } finally {
            held.unlock();
        }
    }

    /** Width of the activations this SAE takes. */
    public long dIn() {
        ensureOpen();
        return dIn;
    }

    /** Number of latents. */
    public long dSae() {
        ensureOpen();
        return dSae;
    }

    /**
     * One optimizer step on an F32 batch of {@code rows x d_in} starting at {@code batch}.
     *
     * @throws IllegalArgumentException if the segment is on the heap or smaller than rows x d_in floats
     * @throws BatchTopKException for what native code rejects (e.g. NaN in the batch)
     */
    public StepMetrics trainStep(MemorySegment batch, long rows) {
        Lock held = acquire(lock.writeLock());
        try {
            NativeTensors.fill(input, batch, rows, dIn, DType.F32, "batch", "btk_sae_train_step", false);
            check(batchtopk_h.btk_sae_train_step(handle, input, metrics), "btk_sae_train_step");
            return StepMetrics.fromNative(metrics);
        } finally {
            // Native code saw only an address: keep an automatic arena's memory from being freed under it.
            Reference.reachabilityFence(batch);
            held.unlock();
        }
    }

    /** One optimizer step on a {@code rows x d_in} batch of F32, F64, F16 or BF16, used in place. */
    public StepMetrics trainStep(Tensor batch) {
        Lock held = acquire(lock.writeLock());
        try {
            NativeTensors.batch(input, batch, "btk_sae_train_step");
            check(batchtopk_h.btk_sae_train_step(handle, input, metrics), "btk_sae_train_step");
            return StepMetrics.fromNative(metrics);
        } finally {
            Reference.reachabilityFence(batch);
            held.unlock();
        }
    }

    /**
     * {@link #trainStep(Tensor)} without reading its metrics: on a CUDA device the step is only enqueued
     * (this returns once the batch has been copied to the device, so its buffer may be reused) and the host
     * never waits for the GPU. {@link #lastMetrics()} reads them when they are logged.
     */
    public void trainStepDeferred(Tensor batch) {
        Lock held = acquire(lock.writeLock());
        try {
            NativeTensors.batch(input, batch, "btk_sae_train_step_deferred");
            check(batchtopk_h.btk_sae_train_step_deferred(handle, input), "btk_sae_train_step_deferred");
        } finally {
            Reference.reachabilityFence(batch);
            held.unlock();
        }
    }

    /** The metrics of the latest training step (on a CUDA device: waits for that step). */
    public StepMetrics lastMetrics() {
        Lock held = acquire(lock.writeLock());
        try {
            check(batchtopk_h.btk_sae_last_metrics(handle, metrics), "btk_sae_last_metrics");
            return StepMetrics.fromNative(metrics);
        } finally {
            held.unlock();
        }
    }

    /**
     * One data-parallel optimizer step: {@code batch} is this rank's rows of a global batch that the
     * ranks of {@code group} hold in consecutive blocks in rank order. Every rank calls it with its
     * own SAE (all started equal) and ends with the same SAE and metrics as one process training on
     * the global batch: the selection is exact over it and the gradients are summed over the ranks.
     * Fused path; BatchTopK or TopK (Matryoshka BatchTopK is refused with INVALID_ARGUMENT).
     *
     * @throws BatchTopKException COMMUNICATION when another rank died or hung
     */
    public StepMetrics trainStep(Tensor batch, ProcessGroup group) {
        Objects.requireNonNull(group, "group");
        Lock held = acquire(lock.writeLock());
        try {
            NativeTensors.batch(input, batch, "btk_sae_train_step_data_parallel");
            check(
                    batchtopk_h.btk_sae_train_step_data_parallel(handle, group.handle(), input, metrics),
                    "btk_sae_train_step_data_parallel");
            return StepMetrics.fromNative(metrics);
        } finally {
            Reference.reachabilityFence(batch);
            held.unlock();
        }
    }

    /** One step of a latent-sharded SAE, this being the shard of {@code group}'s rank; see {@link ShardedSae}. */
    StepMetrics trainStepLatentSharded(Tensor batch, ProcessGroup group) {
        Lock held = acquire(lock.writeLock());
        try {
            NativeTensors.batch(input, batch, "btk_sae_train_step_latent_sharded");
            check(
                    batchtopk_h.btk_sae_train_step_latent_sharded(handle, group.handle(), input, metrics),
                    "btk_sae_train_step_latent_sharded");
            return StepMetrics.fromNative(metrics);
        } finally {
            Reference.reachabilityFence(batch);
            held.unlock();
        }
    }

    /** The whole SAE this shard and the others of {@code group} make up, on rank 0; see {@link ShardedSae}. */
    Optional<Sae> gatherShards(ProcessGroup group) {
        MemorySegment whole;
        Lock held = acquire(lock.readLock());
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment out = scratch.allocate(ValueLayout.ADDRESS);
            check(batchtopk_h.btk_sae_gather_shards(handle, group.handle(), out), "btk_sae_gather_shards");
            whole = out.get(ValueLayout.ADDRESS, 0);
        } finally {
            held.unlock();
        }
        return whole.equals(MemorySegment.NULL) ? Optional.empty() : Optional.of(adopt(whole));
    }

    /** Where this SAE's latents lie among those of a latent-sharded SAE (rank 0 of 1 for an ordinary one). */
    ShardedSae.Shard shard() {
        Lock held = acquire(lock.readLock());
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment place = btk_shard.allocate(scratch);
            check(batchtopk_h.btk_sae_shard(handle, place), "btk_sae_shard");
            return new ShardedSae.Shard(
                    btk_shard.rank(place),
                    btk_shard.world_size(place),
                    btk_shard.first_latent(place),
                    btk_shard.latents(place),
                    btk_shard.d_sae(place));
        } finally {
            held.unlock();
        }
    }

    /**
     * The loss of a batch without changing any parameter, moment, counter or theta. With
     * {@code gradients}, the gradients become readable as state tensors {@code grad.<name>}.
     */
    public StepMetrics lossAndGradients(Tensor batch, boolean gradients) {
        // The write lock: the gradients it keeps, and the fused step's workspace, belong to the SAE.
        Lock held = acquire(lock.writeLock());
        try {
            NativeTensors.batch(input, batch, "btk_sae_loss_and_gradients");
            check(
                    batchtopk_h.btk_sae_loss_and_gradients(handle, input, gradients ? 1 : 0, metrics),
                    "btk_sae_loss_and_gradients");
            return StepMetrics.fromNative(metrics);
        } finally {
            Reference.reachabilityFence(batch);
            held.unlock();
        }
    }

    /** Writes the F32 codes ({@code rows x d_sae}) of a batch into {@code codesOut}. */
    public void encode(Tensor batch, Selection selection, MemorySegment codesOut) {
        Objects.requireNonNull(selection, "selection");
        Lock held = acquire(lock.readLock());
        try (Arena call = Arena.ofConfined()) {
            MemorySegment in = btk_tensor_view.allocate(call);
            MemorySegment out = btk_tensor_view.allocate(call);
            NativeTensors.batch(in, batch, "btk_sae_encode");
            NativeTensors.fill(out, codesOut, batch.dim(0), dSae, DType.F32, "codes", "btk_sae_encode", true);
            check(batchtopk_h.btk_sae_encode(handle, in, selection.code(), out), "btk_sae_encode");
        } finally {
            Reference.reachabilityFence(batch);
            Reference.reachabilityFence(codesOut);
            held.unlock();
        }
    }

    /**
     * Writes {@code codes W_dec + b_dec} ({@code rows x d_in}, F32) for F32 codes ({@code rows x d_sae}).
     * With per-token normalisation the result is in the normalised space.
     */
    public void decode(MemorySegment codes, long rows, MemorySegment out) {
        Lock held = acquire(lock.readLock());
        try (Arena call = Arena.ofConfined()) {
            MemorySegment in = btk_tensor_view.allocate(call);
            MemorySegment result = btk_tensor_view.allocate(call);
            NativeTensors.fill(in, codes, rows, dSae, DType.F32, "codes", "btk_sae_decode", false);
            NativeTensors.fill(result, out, rows, dIn, DType.F32, "out", "btk_sae_decode", true);
            check(batchtopk_h.btk_sae_decode(handle, in, result), "btk_sae_decode");
        } finally {
            Reference.reachabilityFence(codes);
            Reference.reachabilityFence(out);
            held.unlock();
        }
    }

    /** Encodes, decodes and maps back to the batch's space: writes {@code rows x d_in} F32 into {@code out}. */
    public void reconstruct(Tensor batch, Selection selection, MemorySegment out) {
        Objects.requireNonNull(selection, "selection");
        Lock held = acquire(lock.readLock());
        try (Arena call = Arena.ofConfined()) {
            MemorySegment in = btk_tensor_view.allocate(call);
            MemorySegment result = btk_tensor_view.allocate(call);
            NativeTensors.batch(in, batch, "btk_sae_reconstruct");
            NativeTensors.fill(result, out, batch.dim(0), dIn, DType.F32, "out", "btk_sae_reconstruct", true);
            check(batchtopk_h.btk_sae_reconstruct(handle, in, selection.code(), result), "btk_sae_reconstruct");
        } finally {
            Reference.reachabilityFence(batch);
            Reference.reachabilityFence(out);
            held.unlock();
        }
    }

    /** Switches the implementation of the step; the state is shared by both. */
    public void setPath(StepPath path) {
        Objects.requireNonNull(path, "path");
        Lock held = acquire(lock.writeLock());
        try {
            check(batchtopk_h.btk_sae_set_path(handle, path.code()), "btk_sae_set_path");
        } finally {
            held.unlock();
        }
    }

    /** Sets the precision of the step of an SAE on a CUDA device (a CPU SAE refuses it). */
    public void setGpuPrecision(GpuPrecision precision) {
        Objects.requireNonNull(precision, "precision");
        Lock held = acquire(lock.writeLock());
        try {
            check(batchtopk_h.btk_sae_set_gpu_precision(handle, precision.code()), "btk_sae_set_gpu_precision");
        } finally {
            held.unlock();
        }
    }

    /** Changes the learning rate from the next step on (for schedules). */
    public void setLearningRate(double lr) {
        if (!(Double.isFinite(lr) && lr > 0)) {
            throw new IllegalArgumentException("lr must be finite and positive, got " + lr);
        }
        Lock held = acquire(lock.writeLock());
        try {
            check(batchtopk_h.btk_sae_set_lr(handle, lr), "btk_sae_set_lr");
        } finally {
            held.unlock();
        }
    }

    /**
     * Names of the state tensors: parameters, Adam moments ({@code adam.m.*}, {@code adam.v.*}),
     * {@code step}, {@code theta}, {@code tokens_since_fired}, and gradients ({@code grad.*}, readable
     * only after {@link #lossAndGradients} with gradients).
     */
    public List<String> stateNames() {
        Lock held = acquire(lock.readLock());
        try {
            long count = batchtopk_h.btk_sae_state_count(handle);
            List<String> names = new ArrayList<>((int) count);
            for (long i = 0; i < count; i++) {
                MemorySegment name = batchtopk_h.btk_sae_state_name(handle, i);
                if (name.equals(MemorySegment.NULL)) {
                    throw new IllegalStateException("btk_sae_state_name(" + i + ") returned NULL although "
                            + "btk_sae_state_count said " + count);
                }
                names.add(name.reinterpret(Long.MAX_VALUE).getString(0));
            }
            return List.copyOf(names);
        } finally {
            held.unlock();
        }
    }

    /** A copy of a state tensor, in memory the garbage collector frees. */
    public Tensor state(String name) {
        return state(name, Arena.ofAuto());
    }

    /** A copy of a state tensor, in memory of the caller's arena. */
    public Tensor state(String name, Arena into) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(into, "into");
        Lock held = acquire(lock.readLock());
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment cName = scratch.allocateFrom(name);
            StateInfo expected = info(cName, scratch, "btk_sae_state_get");
            Tensor copy = Tensor.allocate(expected.dtype(), expected.shape(), into);
            check(batchtopk_h.btk_sae_state_get(handle, cName, copy.data(), copy.byteSize()), "btk_sae_state_get");
            return copy;
        } finally {
            held.unlock();
        }
    }

    /**
     * Replaces a state tensor (e.g. to load parameters). The value must have the tensor's own dtype
     * and shape ({@link #stateInfo}); the native library also checks it is finite.
     */
    public void setState(String name, Tensor value) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(value, "value");
        Lock held = acquire(lock.writeLock());
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment cName = scratch.allocateFrom(name);
            StateInfo expected = info(cName, scratch, "btk_sae_state_set");
            if (value.dtype() != expected.dtype()) {
                throw new BatchTopKException(
                        Status.DTYPE,
                        "btk_sae_state_set",
                        "'" + name + "' is " + expected.describe() + " but the value given is " + value.dtype() + " "
                                + Arrays.toString(value.shape()));
            }
            if (!Arrays.equals(value.shape(), expected.shape())) {
                throw new BatchTopKException(
                        Status.SHAPE,
                        "btk_sae_state_set",
                        "'" + name + "' is " + expected.describe() + " but the value given is " + value.dtype() + " "
                                + Arrays.toString(value.shape()));
            }
            NativeTensors.requireNative(value.data(), "the value of '" + name + "'");
            NativeTensors.requireAlive(value.data(), "the value of '" + name + "'");
            check(batchtopk_h.btk_sae_state_set(handle, cName, value.data(), value.byteSize()), "btk_sae_state_set");
        } finally {
            Reference.reachabilityFence(value);
            held.unlock();
        }
    }

    /** Element type and shape of a named state tensor ({@code []} for a scalar). */
    public record StateInfo(DType dtype, long[] shape) {
        public StateInfo {
            Objects.requireNonNull(dtype, "dtype");
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof StateInfo s && dtype == s.dtype && Arrays.equals(shape, s.shape);
        }

        @Override
        public int hashCode() {
            return 31 * dtype.hashCode() + Arrays.hashCode(shape);
        }

        @Override
        public String toString() {
            return describe();
        }

        String describe() {
            return dtype + " " + Arrays.toString(shape);
        }
    }

    /** Element type and shape of a named state tensor. */
    public StateInfo stateInfo(String name) {
        Objects.requireNonNull(name, "name");
        Lock held = acquire(lock.readLock());
        try (Arena scratch = Arena.ofConfined()) {
            return info(scratch.allocateFrom(name), scratch, "btk_sae_state_info");
        } finally {
            held.unlock();
        }
    }

    private StateInfo info(MemorySegment cName, Arena scratch, String function) {
        MemorySegment info = btk_tensor_info.allocate(scratch);
        check(batchtopk_h.btk_sae_state_info(handle, cName, info), "btk_sae_state_info");
        int ndim = btk_tensor_info.ndim(info);
        if (ndim < 0 || ndim > 2) {
            throw new IllegalStateException(function + ": btk_sae_state_info reported ndim " + ndim);
        }
        long[] shape = new long[ndim];
        for (int i = 0; i < ndim; i++) {
            shape[i] = btk_tensor_info.shape(info, i);
        }
        return new StateInfo(NativeTensors.dtype(btk_tensor_info.dtype(info)), shape);
    }

    /** The BatchTopK inference threshold (a running average kept during training). */
    public double theta() {
        Tensor theta = state("theta");
        return switch (theta.dtype()) {
            case F64 -> theta.data().get(Tensor.F64_LE, 0);
            case F32 -> theta.data().get(Tensor.F32_LE, 0);
            default -> throw new IllegalStateException("theta has dtype " + theta.dtype());
        };
    }

    /**
     * Adds one batch to evaluation sums (inference rule); used by {@link Evaluator}. The sums are
     * accumulated, not overwritten.
     */
    void evaluate(Tensor batch, MemorySegment sums, MemorySegment columnSums, MemorySegment fireCounts) {
        Lock held = acquire(lock.readLock());
        try (Arena call = Arena.ofConfined()) {
            MemorySegment in = btk_tensor_view.allocate(call);
            NativeTensors.batch(in, batch, "btk_sae_evaluate");
            NativeTensors.requireAlive(sums, "sums");
            NativeTensors.requireAlive(columnSums, "columnSums");
            NativeTensors.requireAlive(fireCounts, "fireCounts");
            check(batchtopk_h.btk_sae_evaluate(handle, in, sums, columnSums, fireCounts), "btk_sae_evaluate");
        } finally {
            Reference.reachabilityFence(batch);
            held.unlock();
        }
    }

    /**
     * Frees the native SAE and its scratch memory, after the calls in progress on other threads have
     * returned. Calling it again does nothing.
     */
    @Override
    public void close() {
        Lock held = lock.writeLock();
        held.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            batchtopk_h.btk_sae_destroy(handle);
            arena.close();
        } finally {
            held.unlock();
        }
    }

    /** Whether {@link #close()} has been called. */
    public boolean isClosed() {
        return closed;
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("Sae is closed");
        }
    }

    /** Takes {@code held}, then checks the SAE is still open: close() changes that under the write lock. */
    private Lock acquire(Lock held) {
        held.lock();
        if (closed) {
            held.unlock();
            throw new IllegalStateException("Sae is closed");
        }
        return held;
    }

    @Override
    public String toString() {
        return closed ? "Sae[closed]" : "Sae[d_in=" + dIn + ", d_sae=" + dSae + "]";
    }
}
