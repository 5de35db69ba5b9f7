package ai.batchtopk.training;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Toy activations with a known answer: sparse superposition of a random dictionary.
 *
 * <ul>
 *   <li>The dictionary: {@code features} random unit directions in {@code d} dimensions (Gaussian,
 *       normalised), more of them than dimensions if you like: that is the superposition.
 *   <li>Each token: exactly {@code active} distinct features, chosen uniformly, each with a coefficient
 *       uniform in [0.5, 1.5), summed, plus Gaussian noise of std {@code noise} in every coordinate.
 *       A fixed count (not Poisson) keeps the true L0 known exactly, which is what k should match.
 * </ul>
 *
 * <p>Deterministic for a seed: the dictionary and the tokens draw from two streams split off one
 * {@link SplittableRandom}. Rows are written straight into off-heap memory; the only heap arrays are
 * one row's accumulator and the feature indices.
 */
final class SyntheticData {
    /**
     * @param dIn width of each token, d
     * @param features number of true directions
     * @param tokens number of rows
     * @param active features per token
     * @param noise std of the Gaussian noise
     * @param seed everything follows from it
     */
    record Spec(long dIn, long features, long tokens, int active, double noise, long seed) {
        Spec {
            require(dIn > 0, "d_in must be positive, got " + dIn);
            require(features > 0, "features must be positive, got " + features);
            require(features <= Integer.MAX_VALUE - 8, "features must fit an int index, got " + features);
            require(tokens > 0, "tokens must be positive, got " + tokens);
            require(active > 0, "active must be positive, got " + active);
            require(active <= features, "active = " + active + " exceeds features = " + features);
            require(Double.isFinite(noise) && noise >= 0, "noise must be a finite number >= 0, got " + noise);
        }

        private static void require(boolean ok, String message) {
            if (!ok) {
                throw new IllegalArgumentException(message);
            }
        }
    }

    /** The dictionary {@code [features, d]} and the activations {@code [tokens, d]}, both F32. */
    record Generated(Tensor dictionary, Tensor activations) {}

    private SyntheticData() {}

    static Generated generate(Spec spec, Arena arena) {
        SplittableRandom root = new SplittableRandom(spec.seed());
        SplittableRandom dictionaryRandom = root.split();
        SplittableRandom tokenRandom = root.split();
        Tensor dictionary = dictionary(spec, dictionaryRandom, arena);
        Tensor activations = activations(spec, dictionary, tokenRandom, arena);
        return new Generated(dictionary, activations);
    }

    private static Tensor dictionary(Spec spec, SplittableRandom random, Arena arena) {
        long d = spec.dIn();
        Tensor t = Tensor.allocate(DType.F32, new long[] {spec.features(), d}, arena);
        MemorySegment m = t.data();
        double[] row = new double[Math.toIntExact(d)];
        for (long f = 0; f < spec.features(); f++) {
            double norm = 0;
            for (int j = 0; j < d; j++) {
                row[j] = random.nextGaussian();
                norm += row[j] * row[j];
            }
            norm = Math.sqrt(norm);
            for (int j = 0; j < d; j++) {
                m.setAtIndex(Tensor.F32_LE, f * d + j, (float) (row[j] / norm));
            }
        }
        return t;
    }

    private static Tensor activations(Spec spec, Tensor dictionary, SplittableRandom random, Arena arena) {
        long d = spec.dIn();
        int features = (int) spec.features();
        Tensor t = Tensor.allocate(DType.F32, new long[] {spec.tokens(), d}, arena);
        MemorySegment out = t.data();
        MemorySegment dict = dictionary.data();
        double[] row = new double[Math.toIntExact(d)];
        // A permutation of the feature indices; its first `active` entries, after a partial
        // Fisher-Yates shuffle, are `active` distinct features drawn uniformly. It stays a permutation,
        // so it is reused from token to token without resetting.
        int[] order = new int[features];
        for (int f = 0; f < features; f++) {
            order[f] = f;
        }
        for (long token = 0; token < spec.tokens(); token++) {
            Arrays.fill(row, 0);
            for (int a = 0; a < spec.active(); a++) {
                int pick = a + random.nextInt(features - a);
                int feature = order[pick];
                order[pick] = order[a];
                order[a] = feature;
                double coefficient = 0.5 + random.nextDouble();
                long base = (long) feature * d;
                for (int j = 0; j < d; j++) {
                    row[j] += coefficient * dict.getAtIndex(Tensor.F32_LE, base + j);
                }
            }
            long base = token * d;
            for (int j = 0; j < d; j++) {
                double noise = spec.noise() == 0 ? 0 : spec.noise() * random.nextGaussian();
                out.setAtIndex(Tensor.F32_LE, base + j, (float) (row[j] + noise));
            }
        }
        return t;
    }
}
