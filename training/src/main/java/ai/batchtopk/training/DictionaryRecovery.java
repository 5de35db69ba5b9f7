package ai.batchtopk.training;

import ai.batchtopk.data.TensorValues;
import ai.batchtopk.io.Tensor;
import java.util.Arrays;

/**
 * How well an SAE found a known dictionary: for each true direction, the best cosine similarity with
 * any decoder row, averaged over the true directions (1 means every direction has a latent of its own).
 *
 * <p>Signed, not absolute: SAE codes are non-negative, so a latent pointing the opposite way cannot
 * reconstruct the feature. Plain loops over the off-heap tensors: the cost is
 * {@code n_true * d_sae * d}, fine for the toy problems a known dictionary comes from.
 */
final class DictionaryRecovery {
    private DictionaryRecovery() {}

    /**
     * @param truth {@code [n_true, d]} true directions (normalised here, so any length will do)
     * @param decoder {@code [d_sae, d]} the SAE's W_dec
     */
    static double meanBestCosine(Tensor truth, Tensor decoder) {
        if (truth.rank() != 2 || decoder.rank() != 2 || truth.dim(1) != decoder.dim(1)) {
            throw new IllegalArgumentException("the dictionary is " + shape(truth) + " but W_dec is " + shape(decoder)
                    + "; both must be matrices with d columns");
        }
        long d = truth.dim(1);
        double[] decoderNorms = rowNorms(decoder);
        double total = 0;
        for (long t = 0; t < truth.dim(0); t++) {
            double truthNorm = norm(truth, t, d);
            double best = -1;
            for (long f = 0; f < decoder.dim(0); f++) {
                double dot = 0;
                for (long j = 0; j < d; j++) {
                    dot += TensorValues.get(truth, t * d + j) * TensorValues.get(decoder, f * d + j);
                }
                double denominator = truthNorm * decoderNorms[(int) f];
                if (denominator > 0) {
                    best = Math.max(best, dot / denominator);
                }
            }
            total += best;
        }
        return total / truth.dim(0);
    }

    private static double[] rowNorms(Tensor m) {
        double[] norms = new double[Math.toIntExact(m.dim(0))];
        for (int r = 0; r < norms.length; r++) {
            norms[r] = norm(m, r, m.dim(1));
        }
        return norms;
    }

    private static double norm(Tensor m, long row, long d) {
        double sum = 0;
        for (long j = 0; j < d; j++) {
            double v = TensorValues.get(m, row * d + j);
            sum += v * v;
        }
        return Math.sqrt(sum);
    }

    private static String shape(Tensor t) {
        return Arrays.toString(t.shape());
    }
}
