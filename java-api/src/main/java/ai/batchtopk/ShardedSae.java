package ai.batchtopk;

import static ai.batchtopk.BatchTopKException.check;

import ai.batchtopk.bindings.batchtopk_h;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * One rank's shard of a latent-sharded SAE, for dictionaries larger than one worker holds. Each of the
 * ranks of a {@link ProcessGroup} owns a block of the latents (its rows of {@code W_enc}, {@code b_enc},
 * {@code W_dec}, their Adam moments and dead-latent counters: about 1/N of the SAE's memory) and a copy
 * of {@code b_dec}, theta and the step count. Every rank trains on the whole batch; the selection (over
 * the batch for BatchTopK, per row for TopK), the reconstruction and the gradient norm are the whole
 * SAE's, so the shards train the same SAE as one process would, within float rounding.
 *
 * <p>Rank r owns {@code d_sae / N} latents, the first {@code d_sae % N} ranks one more, in rank order.
 * Every rank must make the same calls in the same order ({@link #trainStep}, {@link #gather},
 * {@link ShardedCheckpoint}). BatchTopK and TopK, fused path. The group is the caller's: closing a
 * shard does not leave it.
 */
public final class ShardedSae implements AutoCloseable {
    private final Sae shard;
    private final ProcessGroup group;
    private final Shard place;

    /** Where a shard's latents lie: {@code firstLatent} to {@code firstLatent + latents - 1} of {@code dSae}. */
    public record Shard(int rank, int worldSize, long firstLatent, long latents, long dSae) {}

    private ShardedSae(Sae shard, ProcessGroup group) {
        this.shard = shard;
        this.group = group;
        this.place = shard.shard();
    }

    /**
     * This rank's shard of the SAE {@code config} describes ({@code config.dSae()} is the whole
     * dictionary's), initialised to exactly its slice of what {@link Sae#create} draws from the seed.
     * Communicates nothing.
     *
     * @throws IllegalArgumentException if this rank's shard alone exceeds the available memory
     * @throws BatchTopKException INVALID_ARGUMENT when {@code d_sae} is smaller than the world size, or
     *     the architecture is neither BatchTopK nor TopK
     */
    public static ShardedSae create(SaeConfig config, ProcessGroup group) {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(group, "group");
        MemoryBudget.requireShardFits(config, group.worldSize());
        NativeLibrary.load();
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment out = scratch.allocate(ValueLayout.ADDRESS);
            check(
                    batchtopk_h.btk_sae_create_shard(config.toNative(scratch), group.rank(), group.worldSize(), out),
                    "btk_sae_create_shard");
            return new ShardedSae(Sae.adopt(out.get(ValueLayout.ADDRESS, 0)), group);
        }
    }

    /** This rank's place among the shards. */
    public Shard shard() {
        return place;
    }

    public ProcessGroup group() {
        return group;
    }

    /** The whole SAE's config ({@code dSae()} counts every shard's latents). */
    public SaeConfig config() {
        return shard.config();
    }

    /**
     * One optimizer step on the whole batch, which every rank passes. Every rank gets the same metrics.
     *
     * @throws BatchTopKException COMMUNICATION when another rank died or hung
     */
    public StepMetrics trainStep(Tensor batch) {
        return shard.trainStepLatentSharded(batch, group);
    }

    /** Changes the learning rate from the next step on; every rank must change it alike. */
    public void setLearningRate(double lr) {
        shard.setLearningRate(lr);
    }

    /** Names of this shard's state tensors, as for {@link Sae#stateNames}. */
    public List<String> stateNames() {
        return shard.stateNames();
    }

    /**
     * A copy of this shard's slice of a state tensor, in the public layout: {@code W_enc} is
     * {@code [d_in, latents]}, {@code W_dec} {@code [latents, d_in]}; {@code b_dec}, {@code theta} and
     * {@code step} are whole.
     */
    public Tensor state(String name, Arena into) {
        return shard.state(name, into);
    }

    /** Replaces this shard's slice of a state tensor (shape as {@link #state} gives it). */
    public void setState(String name, Tensor value) {
        shard.setState(name, value);
    }

    /** Shape and type of this shard's slice of a state tensor. */
    public Sae.StateInfo stateInfo(String name) {
        return shard.stateInfo(name);
    }

    /**
     * The whole SAE (parameters, moments, counters, theta, step), for saving in the SAELens format or
     * evaluating: every rank calls it; rank 0 gets it (the caller closes it), the others nothing. Only
     * rank 0 holds the whole SAE; the others send their latents in blocks.
     */
    public Optional<Sae> gather() {
        return shard.gatherShards(group);
    }

    /** Frees this shard (not the group). Calling it again does nothing. */
    @Override
    public void close() {
        shard.close();
    }

    @Override
    public String toString() {
        return "ShardedSae[rank " + place.rank() + " of " + place.worldSize() + ", latents " + place.firstLatent()
                + ".." + (place.firstLatent() + place.latents() - 1) + " of " + place.dSae() + "]";
    }
}
