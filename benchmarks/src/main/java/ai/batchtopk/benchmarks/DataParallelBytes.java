package ai.batchtopk.benchmarks;

import ai.batchtopk.Architecture;
import ai.batchtopk.NativeLibrary;
import ai.batchtopk.ProcessGroup;
import ai.batchtopk.Sae;
import ai.batchtopk.SaeConfig;
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
 * Bytes each rank passes to all-reduces per data-parallel step, measured, beside the model: W ranks
 * (threads of this JVM, each its own SAE, joined by c10d/Gloo on 127.0.0.1) train BatchTopK on the
 * same gaussian global batches. Prints one line per measured step, then the model's figure.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -Dbatchtopk.library=... -cp benchmarks.jar \
 *     ai.batchtopk.benchmarks.DataParallelBytes D D_SAE BATCH K WORLD STEPS</pre>
 */
public final class DataParallelBytes {
    private DataParallelBytes() {}

    public static void main(String[] args) throws Exception {
        long d = Long.parseLong(args[0]);
        long dSae = Long.parseLong(args[1]);
        long batch = Long.parseLong(args[2]);
        int k = Integer.parseInt(args[3]);
        int world = Integer.parseInt(args[4]);
        int steps = Integer.parseInt(args[5]);
        NativeLibrary.setNumThreads(1);
        SaeConfig config = SaeConfig.builder(d, dSae)
                .architecture(Architecture.BATCHTOPK)
                .k(k)
                .seed(1)
                .build();
        int port;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = socket.getLocalPort();
        }
        ExecutorService pool = Executors.newFixedThreadPool(world);
        List<Future<long[]>> ranks = new ArrayList<>();
        for (int rank = 0; rank < world; rank++) {
            int r = rank;
            ranks.add(pool.submit(() -> {
                long rows = batch * (r + 1) / world - batch * r / world;
                long[] perStep = new long[steps];
                try (Arena arena = Arena.ofConfined();
                        ProcessGroup group = ProcessGroup.join(r, world, "127.0.0.1", port, Duration.ofMinutes(10));
                        Sae sae = Sae.create(config)) {
                    Tensor x = Tensor.allocate(DType.F32, new long[] {rows, d}, arena);
                    for (int step = 0; step < steps; step++) {
                        SplittableRandom random = new SplittableRandom(1000L * step + r);
                        for (long i = 0; i < rows * d; i++) {
                            x.data().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) random.nextGaussian());
                        }
                        long before = group.bytesReduced();
                        sae.trainStep(x, group);
                        perStep[step] = group.bytesReduced() - before;
                    }
                }
                return perStep;
            }));
        }
        long[] rank0 = ranks.get(0).get();
        for (Future<long[]> rank : ranks) {
            rank.get();
        }
        pool.shutdown();
        for (int step = 0; step < steps; step++) {
            System.out.printf(
                    "step %d: %,d bytes all-reduced by each rank (%.1f MB)%n",
                    step + 1, rank0[step], rank0[step] / 1e6);
        }
        // Every latent touched: the gradient buffer is dense. Plus the selection's histograms, the
        // fired and touched masks and a handful of scalars.
        long gradients = (2 * dSae * d + dSae + d) * 4;
        long selection = (2048 + 512) * 8 + world * 8L;
        long masks = 2 * dSae;
        long scalars = 7 * 8 + d * 8; // rows, squared error, column sums, variance, L0, theta, AuxK
        System.out.printf(
                "model, every latent touched: %,d bytes (gradients %,d, selection %,d, masks %,d, scalars %,d)%n",
                gradients + selection + masks + scalars, gradients, selection, masks, scalars);
    }
}
