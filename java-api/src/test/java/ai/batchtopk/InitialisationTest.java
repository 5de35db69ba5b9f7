package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A new SAE starts as the reference's does (ALGORITHM.md, "Initialisation"): W_enc [d, F] uniform in
 * [-b, b] with b = sqrt(6 / F) (kaiming_uniform_ on that shape), W_dec = W_enc^T with unit rows, zero
 * biases. The statistics are checked against the formula with tolerances of 5 standard errors for
 * the number of entries drawn.
 */
class InitialisationTest {

    @ParameterizedTest
    @CsvSource({"64, 512, false", "48, 2048, false", "32, 256, true"})
    void encoderIsKaimingUniformAndDecoderItsNormalisedTranspose(long d, long f, boolean doublePrecision) {
        SaeConfig config = SaeConfig.builder(d, f)
                .k(8)
                .seed(11)
                .doublePrecision(doublePrecision)
                .build();
        try (Sae sae = Sae.create(config)) {
            double[] wEnc = values(sae.state("W_enc"));
            double[] wDec = values(sae.state("W_dec"));
            double b = Math.sqrt(6.0 / f);
            double n = wEnc.length;

            double sum = 0;
            double sumSquares = 0;
            double largest = 0;
            long inner = 0;
            for (double w : wEnc) {
                sum += w;
                sumSquares += w * w;
                largest = Math.max(largest, Math.abs(w));
                if (Math.abs(w) < b / 2) {
                    inner++;
                }
            }
            double mean = sum / n;
            double variance = sumSquares / n - mean * mean;
            // Uniform on [-b, b]: variance b^2/3, and the variance of w^2 is b^4/5 - b^4/9 = 4 b^4/45.
            assertThat(Math.abs(mean)).as("mean of W_enc").isLessThan(5 * Math.sqrt(b * b / 3 / n));
            assertThat(Math.abs(variance - b * b / 3))
                    .as("variance of W_enc (b^2/3 = %s)", b * b / 3)
                    .isLessThan(5 * Math.sqrt(4 * b * b * b * b / 45 / n));
            // Inside [-b, b], and reaching close to both ends: the bound is b, not another scale.
            assertThat(largest)
                    .as("largest |W_enc|")
                    .isLessThanOrEqualTo(b * (1 + 1e-6))
                    .isGreaterThan(0.99 * b);
            // Uniform, not merely of the right variance: half the mass lies within b/2 (a normal of the
            // same variance puts 61% there).
            assertThat(Math.abs(inner / n - 0.5)).as("share within b/2").isLessThan(5 * Math.sqrt(0.25 / n));

            double tolerance = doublePrecision ? 1e-12 : 1e-6;
            for (long latent = 0; latent < f; latent++) {
                double norm = 0;
                for (long i = 0; i < d; i++) {
                    double w = wEnc[(int) (i * f + latent)];
                    norm += w * w;
                }
                norm = Math.sqrt(norm);
                double rowNorm = 0;
                for (long i = 0; i < d; i++) {
                    double dec = wDec[(int) (latent * d + i)];
                    rowNorm += dec * dec;
                    assertThat(dec)
                            .as("W_dec[%d, %d]", latent, i)
                            .isCloseTo(
                                    wEnc[(int) (i * f + latent)] / norm,
                                    org.assertj.core.data.Offset.offset(tolerance));
                }
                assertThat(Math.sqrt(rowNorm))
                        .as("norm of W_dec row %d", latent)
                        .isCloseTo(1.0, org.assertj.core.data.Offset.offset(tolerance));
            }
            assertThat(values(sae.state("b_enc"))).containsOnly(0.0);
            assertThat(values(sae.state("b_dec"))).containsOnly(0.0);
            assertThat(sae.theta()).isZero();
        }
    }

    @Test
    void theSeedDecidesTheInitialWeights() {
        SaeConfig config = SaeConfig.builder(32, 128).k(8).seed(3).build();
        try (Sae a = Sae.create(config);
                Sae b = Sae.create(config);
                Sae other = Sae.create(config.toBuilder().seed(4).build())) {
            for (String name : new String[] {"W_enc", "W_dec"}) {
                assertThat(a.state(name).data().mismatch(b.state(name).data()))
                        .as(name)
                        .isEqualTo(-1);
                assertThat(a.state(name).data().mismatch(other.state(name).data()))
                        .as(name)
                        .isNotEqualTo(-1);
            }
        }
    }

    @Test
    void everyArchitectureStartsTheSameWay() {
        try (Sae batchTopK = Sae.create(TestData.small(Architecture.BATCHTOPK).build());
                Sae jumpRelu = Sae.create(TestData.small(Architecture.JUMPRELU).build())) {
            for (String name : new String[] {"W_enc", "W_dec", "b_enc", "b_dec"}) {
                assertThat(batchTopK
                                .state(name)
                                .data()
                                .mismatch(jumpRelu.state(name).data()))
                        .as(name)
                        .isEqualTo(-1);
            }
        }
    }

    private static double[] values(Tensor t) {
        double[] out = new double[(int) t.numel()];
        for (int i = 0; i < out.length; i++) {
            out[i] = t.dtype() == DType.F64
                    ? t.data().getAtIndex(Tensor.F64_LE, i)
                    : t.data().getAtIndex(Tensor.F32_LE, i);
        }
        return out;
    }
}
