package ai.batchtopk;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Objects;

/**
 * A new training run that starts from another SAE's parameters, possibly under another architecture
 * of the same shape (a BatchTopK SAE trained on as JumpReLU, a TopK one as BatchTopK...).
 *
 * <p>The rules: {@code W_enc}, {@code W_dec}, {@code b_enc} and {@code b_dec} are copied; the training
 * state (Adam moments, step, dead-latent counters, theta) starts fresh, as in a new SAE. A JumpReLU
 * SAE needs thresholds: from a JumpReLU SAE they are copied; from a BatchTopK SAE they are its theta
 * for every latent (its inference rule is exactly that JumpReLU, so the new run starts from the same
 * function); otherwise, or when theta was never estimated, they are the config's
 * {@code jumprelu_init_threshold}. A BatchTopK SAE re-estimates theta from its first batches.
 */
public final class WarmStart {
    private static final List<String> PARAMETERS = List.of("W_enc", "W_dec", "b_enc", "b_dec");

    private WarmStart() {}

    /**
     * A new SAE with {@code config} whose parameters come from {@code source}.
     *
     * @throws IllegalArgumentException if the shape, the precision or the input normalisation differ
     *     (the parameters would not fit, or would mean something else)
     */
    public static Sae of(Sae source, SaeConfig config) {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(config, "config");
        SaeConfig from = source.config();
        if (from.dIn() != config.dIn() || from.dSae() != config.dSae()) {
            throw new IllegalArgumentException("a warm start needs the same shape: the source SAE has d_in = "
                    + from.dIn() + ", d_sae = " + from.dSae() + ", the new config d_in = " + config.dIn()
                    + ", d_sae = " + config.dSae());
        }
        if (from.doublePrecision() != config.doublePrecision()) {
            throw new IllegalArgumentException("a warm start needs the same precision: the source SAE is "
                    + precision(from) + ", the new config " + precision(config));
        }
        if (from.normalization() != config.normalization()) {
            throw new IllegalArgumentException("a warm start needs the same input normalisation (the parameters"
                    + " were trained on inputs normalised "
                    + from.normalization().cliName() + "), not "
                    + config.normalization().cliName());
        }
        Sae sae = Sae.create(config);
        try (Arena arena = Arena.ofConfined()) {
            for (String name : PARAMETERS) {
                sae.setState(name, source.state(name, arena));
            }
            if (config.architecture() == Architecture.JUMPRELU) {
                if (from.architecture() == Architecture.JUMPRELU) {
                    sae.setState("log_threshold", source.state("log_threshold", arena));
                } else if (from.architecture().hasTheta() && source.theta() > 0) {
                    DType dtype = config.doublePrecision() ? DType.F64 : DType.F32;
                    sae.setState("log_threshold", constant(dtype, config.dSae(), Math.log(source.theta()), arena));
                }
            }
            return sae;
        } catch (RuntimeException e) {
            sae.close();
            throw e;
        }
    }

    private static String precision(SaeConfig c) {
        return c.doublePrecision() ? "float64" : "float32";
    }

    private static Tensor constant(DType dtype, long n, double value, Arena arena) {
        Tensor t = Tensor.allocate(dtype, new long[] {n}, arena);
        for (long i = 0; i < n; i++) {
            if (dtype == DType.F32) {
                t.data().setAtIndex(Tensor.F32_LE, i, (float) value);
            } else {
                t.data().setAtIndex(Tensor.F64_LE, i, value);
            }
        }
        return t;
    }
}
