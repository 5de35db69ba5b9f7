package ai.batchtopk;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * Toy data with a known answer: a random unit dictionary of {@code features} directions in
 * {@code d} dimensions; each sample is a non-negative combination of {@code active} of them plus a
 * little noise. An SAE that works recovers the directions as decoder rows.
 */
final class Superposition {
    final int d;
    final int features;
    final int active;
    final double noise;
    final float[][] directions;

    Superposition(int d, int features, int active, double noise, long seed) {
        this.d = d;
        this.features = features;
        this.active = active;
        this.noise = noise;
        this.directions = new float[features][d];
        SplittableRandom random = new SplittableRandom(seed);
        for (float[] direction : directions) {
            double norm = 0;
            for (int j = 0; j < d; j++) {
                direction[j] = (float) TestData.gaussian(random);
                norm += direction[j] * direction[j];
            }
            for (int j = 0; j < d; j++) {
                direction[j] /= (float) Math.sqrt(norm);
            }
        }
    }

    /** rows samples in a new F32 tensor of {@code arena}. */
    Tensor batch(Arena arena, int rows, SplittableRandom random) {
        Tensor t = Tensor.allocate(DType.F32, new long[] {rows, d}, arena);
        double[] row = new double[d];
        int[] chosen = new int[active];
        for (int b = 0; b < rows; b++) {
            java.util.Arrays.fill(row, 0);
            for (int a = 0; a < active; a++) {
                int f;
                do {
                    f = random.nextInt(features);
                } while (contains(chosen, a, f));
                chosen[a] = f;
                double coefficient = 0.5 + random.nextDouble();
                for (int j = 0; j < d; j++) {
                    row[j] += coefficient * directions[f][j];
                }
            }
            for (int j = 0; j < d; j++) {
                t.data().setAtIndex(ValueLayout.JAVA_FLOAT, (long) b * d + j, (float)
                        (row[j] + noise * TestData.gaussian(random)));
            }
        }
        return t;
    }

    private static boolean contains(int[] values, int count, int value) {
        for (int i = 0; i < count; i++) {
            if (values[i] == value) {
                return true;
            }
        }
        return false;
    }

    /** Mean over the true directions of the best cosine similarity with a row of {@code decoder} [F, d]. */
    double meanBestCosine(Tensor decoder) {
        float[] w = decoder.toFloatArray();
        int rows = (int) decoder.dim(0);
        double[] norms = new double[rows];
        for (int r = 0; r < rows; r++) {
            double n = 0;
            for (int j = 0; j < d; j++) {
                n += (double) w[r * d + j] * w[r * d + j];
            }
            norms[r] = Math.sqrt(n);
        }
        double total = 0;
        for (float[] direction : directions) {
            double best = -1;
            for (int r = 0; r < rows; r++) {
                double dot = 0;
                for (int j = 0; j < d; j++) {
                    dot += (double) w[r * d + j] * direction[j];
                }
                best = Math.max(best, dot / norms[r]);
            }
            total += best;
        }
        return total / directions.length;
    }
}
