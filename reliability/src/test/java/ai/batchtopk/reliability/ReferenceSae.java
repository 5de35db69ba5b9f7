package ai.batchtopk.reliability;

import ai.batchtopk.io.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * A small SAELens-format SAE (ReLU or JumpReLU, float32, no normalisation) built in plain Java, with
 * its evaluation computed here in double precision: the right answer that {@code eval} must print for
 * any valid encoding of the reference data, found without the native code under test.
 */
public final class ReferenceSae {
    /** SAELens's architecture names that this class can also compute. */
    public enum Kind {
        STANDARD("standard"),
        JUMPRELU("jumprelu");

        final String saeLensName;

        Kind(String saeLensName) {
            this.saeLensName = saeLensName;
        }
    }

    final Kind kind;
    final int dIn;
    final int dSae;
    final float[] wEnc; // [dIn, dSae]
    final float[] wDec; // [dSae, dIn]
    final float[] bEnc;
    final float[] bDec;
    final float[] threshold; // JumpReLU only

    private ReferenceSae(Kind kind, int dIn, int dSae, Random random) {
        this.kind = kind;
        this.dIn = dIn;
        this.dSae = dSae;
        this.wEnc = gaussian(random, dIn * dSae, 0.5f);
        this.wDec = gaussian(random, dSae * dIn, 0.3f);
        this.bEnc = gaussian(random, dSae, 0.1f);
        this.bDec = gaussian(random, dIn, 0.1f);
        this.threshold = new float[dSae];
        for (int f = 0; f < dSae; f++) {
            threshold[f] = 0.05f + 0.3f * random.nextFloat();
        }
    }

    public static ReferenceSae random(Kind kind, int dIn, int dSae, Random random) {
        return new ReferenceSae(kind, dIn, dSae, random);
    }

    static float[] gaussian(Random random, int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextGaussian() * scale);
        }
        return v;
    }

    /** cfg.json as SAELens writes it (the keys our loader reads, and a few it ignores). */
    public Map<String, Object> config() {
        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("architecture", kind.saeLensName);
        cfg.put("d_in", dIn);
        cfg.put("d_sae", dSae);
        cfg.put("dtype", "float32");
        cfg.put("device", "cpu");
        cfg.put("apply_b_dec_to_input", true);
        cfg.put("normalize_activations", "none");
        cfg.put("reshape_activations", "none");
        Map<String, Object> metadata = new LinkedHashMap<>();
        metadata.put("model_name", "reference");
        metadata.put("hook_name", "blocks.0.hook_resid_post");
        cfg.put("metadata", metadata);
        return cfg;
    }

    /** sae_weights.safetensors' tensors. */
    public Map<String, Tensor> weights() {
        Map<String, Tensor> w = new LinkedHashMap<>();
        w.put("W_enc", Tensor.ofFloats(new long[] {dIn, dSae}, wEnc));
        w.put("W_dec", Tensor.ofFloats(new long[] {dSae, dIn}, wDec));
        w.put("b_enc", Tensor.ofFloats(new long[] {dSae}, bEnc));
        w.put("b_dec", Tensor.ofFloats(new long[] {dIn}, bDec));
        if (kind == Kind.JUMPRELU) {
            w.put("threshold", Tensor.ofFloats(new long[] {dSae}, threshold));
        }
        return w;
    }

    /**
     * {@code eval}'s NMSE and L0 of {@code rows} (row-major, {@code dIn} wide) with the inference rule:
     * squared error over the total variance around the column means.
     */
    public Evaluation evaluate(float[] rows) {
        int n = rows.length / dIn;
        double squaredError = 0;
        double squaredSum = 0;
        double[] columnSums = new double[dIn];
        long active = 0;
        double[] code = new double[dSae];
        for (int b = 0; b < n; b++) {
            for (int f = 0; f < dSae; f++) {
                double pre = bEnc[f];
                for (int j = 0; j < dIn; j++) {
                    pre += ((double) rows[b * dIn + j] - bDec[j]) * wEnc[j * dSae + f];
                }
                double act = Math.max(pre, 0);
                code[f] = kind == Kind.JUMPRELU && !(act > threshold[f]) ? 0 : act;
                if (code[f] > 0) {
                    active++;
                }
            }
            for (int j = 0; j < dIn; j++) {
                double xHat = bDec[j];
                for (int f = 0; f < dSae; f++) {
                    xHat += code[f] * wDec[f * dIn + j];
                }
                double x = rows[b * dIn + j];
                squaredError += (xHat - x) * (xHat - x);
                squaredSum += x * x;
                columnSums[j] += x;
            }
        }
        double meanSquares = 0;
        for (double s : columnSums) {
            meanSquares += s * s;
        }
        return new Evaluation(squaredError / (squaredSum - meanSquares / n), (double) active / n);
    }

    /** What {@code eval} prints for NMSE and L0. */
    public record Evaluation(double nmse, double l0) {
        /** Whether printed values agree with these (float32 arithmetic against double). */
        public boolean agrees(double printedNmse, double printedL0) {
            return Math.abs(printedNmse - nmse) <= 1e-4 * Math.abs(nmse) + 1e-6 && Math.abs(printedL0 - l0) <= 1e-9;
        }
    }
}
