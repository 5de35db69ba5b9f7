package ai.batchtopk.benchmarks;

import ai.batchtopk.Architecture;
import ai.batchtopk.MemoryBudget;
import ai.batchtopk.NativeLibrary;
import ai.batchtopk.ProcessGroup;
import ai.batchtopk.Sae;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.ShardedSae;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Bytes each rank passes to all-reduces per latent-sharded step, measured, beside the model, and the
 * state bytes each rank holds beside the whole SAE's: W ranks (threads of this JVM, each its shard,
 * joined by c10d/Gloo on 127.0.0.1) train BatchTopK or TopK on the same gaussian batches (the whole
 * batch on every rank).
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -Dbatchtopk.library=... -cp benchmarks.jar \
 *     ai.batchtopk.benchmarks.LatentShardedBytes D D_SAE BATCH K WORLD STEPS [topk]</pre>
 *
 * <p>With {@code -Drank=R -Dport=P}, this JVM runs rank R only, meeting the others at 127.0.0.1:P:
 * one process per rank, so that each rank's resident memory can be measured on its own.
 */
public final class LatentShardedBytes {
    private LatentShardedBytes() {}

    private record Rank(long[] perStep, long stateBytes, long latents) {}

    public static void main(String[] args) throws Exception {
        long d = Long.parseLong(args[0]);
        long dSae = Long.parseLong(args[1]);
        long batch = Long.parseLong(args[2]);
        int k = Integer.parseInt(args[3]);
        int world = Integer.parseInt(args[4]);
        int steps = Integer.parseInt(args[5]);
        Architecture architecture =
                args.length > 6 && args[6].equals("topk") ? Architecture.TOPK : Architecture.BATCHTOPK;
        NativeLibrary.setNumThreads(1);
        SaeConfig config = SaeConfig.builder(d, dSae)
                .architecture(architecture)
                .k(k)
                .seed(1)
                .build();
        String onlyRank = System.getProperty("rank");
        int port;
        if (onlyRank != null) {
            port = Integer.parseInt(System.getProperty("port"));
        } else {
            try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                port = socket.getLocalPort();
            }
        }
        int first = onlyRank == null ? 0 : Integer.parseInt(onlyRank);
        int last = onlyRank == null ? world - 1 : first;
        ExecutorService pool = Executors.newFixedThreadPool(last - first + 1);
        List<Future<Rank>> ranks = new ArrayList<>();
        for (int rank = first; rank <= last; rank++) {
            int r = rank;
            ranks.add(pool.submit(() -> {
                long[] perStep = new long[steps];
                try (Arena arena = Arena.ofConfined();
                        ProcessGroup group = ProcessGroup.join(r, world, "127.0.0.1", port, Duration.ofMinutes(10));
                        ShardedSae shard = ShardedSae.create(config, group)) {
                    Tensor x = Tensor.allocate(DType.F32, new long[] {batch, d}, arena);
                    for (int step = 0; step < steps; step++) {
                        SplittableRandom random = new SplittableRandom(1000L * step);
                        for (long i = 0; i < batch * d; i++) {
                            x.data().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) random.nextGaussian());
                        }
                        long before = group.bytesReduced();
                        shard.trainStep(x);
                        perStep[step] = group.bytesReduced() - before;
                    }
                    long stateBytes = 0;
                    for (String name : shard.stateNames()) {
                        if (!name.startsWith("grad.")) {
                            Sae.StateInfo info = shard.stateInfo(name);
                            long numel = 1;
                            for (long n : info.shape()) {
                                numel *= n;
                            }
                            stateBytes += numel * info.dtype().byteSize();
                        }
                    }
                    return new Rank(perStep, stateBytes, shard.shard().latents());
                }
            }));
        }
        List<Rank> results = new ArrayList<>();
        for (Future<Rank> rank : ranks) {
            results.add(rank.get());
        }
        pool.shutdown();
        long[] rank0 = results.get(0).perStep();
        for (int step = 0; step < steps; step++) {
            System.out.printf(
                    "step %d: %,d bytes all-reduced by each rank (%.2f MB)%n",
                    step + 1, rank0[step], rank0[step] / 1e6);
        }
        for (int rank = first; rank <= last; rank++) {
            Rank r = results.get(rank - first);
            System.out.printf(
                    "rank %d: %,d latents, state %,d bytes (parameters, moments, counters)%n",
                    rank, r.latents(), r.stateBytes());
        }
        System.out.printf(
                "whole SAE: weights and moments %,d bytes (MemoryBudget.saeBytes); largest shard's %,d (1/%d)%n",
                MemoryBudget.saeBytes(d, dSae, false),
                MemoryBudget.saeBytes(d, (dSae + world - 1) / world, false),
                world);
        // The model, per rank and step, without AuxK (no latent dead yet): the reconstruction's partial
        // sums (B x d floats) and the encoder's share of b_dec's gradient (d floats), the selection
        // (BatchTopK: radix histograms of 2048 + 2048 + 512 counts and one tie count per rank; TopK:
        // every rank's k best of each row, W x B x k floats), and five scalars (L0, smallest selected,
        // dead latents twice, squared gradient norm).
        long reconstruction = (batch * d + d) * 4;
        long selection =
                architecture == Architecture.BATCHTOPK ? (2048 + 2048 + 512 + world) * 8L : world * batch * k * 4;
        long scalars = 5 * 8;
        System.out.printf(
                "model: %,d bytes (reconstruction %,d, selection %,d, scalars %,d); AuxK adds B x d + W x B x k_aux"
                        + " floats once latents die%n",
                reconstruction + selection + scalars, reconstruction, selection, scalars);
    }
}
