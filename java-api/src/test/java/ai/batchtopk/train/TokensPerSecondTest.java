package ai.batchtopk.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.Sae;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.data.ActivationData;
import ai.batchtopk.data.DataPosition;
import ai.batchtopk.data.RowOrigin;
import ai.batchtopk.data.SequentialBatches;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.LongSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The tokens/s of a metrics line cover the steps they count: the window of a line runs from the end of
 * the previous line's step (the start of the run, for the first) to the end of its own step. The first
 * line of metrics.jsonl used to time only the moment before its step and reported tens of millions of
 * tokens/s.
 *
 * <p>Not a timed test: the trainer's clock here is the SAE's own step counter, one second per step, so
 * a line that counts n steps of B rows must say exactly B tokens/s whatever the machine does.
 */
class TokensPerSecondTest {
    static final int ROWS = 64;
    static final int BATCH = 16;
    static final int D = 8;

    @TempDir
    Path tmp;

    @Test
    void everyLineIncludingTheFirstCountsTheTimeOfItsOwnSteps() throws IOException {
        List<Double> everyStep = tokensPerSecond(4, 1);
        assertThat(everyStep).hasSize(4).containsOnly((double) BATCH);
        List<Double> everyOtherStep = tokensPerSecond(4, 2);
        assertThat(everyOtherStep).hasSize(2).containsOnly((double) BATCH);
    }

    /** The tokens_per_s of each line of a run of {@code steps} steps that logs every {@code every}. */
    private List<Double> tokensPerSecond(long steps, long every) throws IOException {
        Path data = gaussianRows(tmp.resolve("data-" + every + ".npy"));
        Path out = Files.createDirectories(tmp.resolve("out-" + every));
        SaeConfig config = SaeConfig.builder(D, 32).k(4).seed(3).build();
        try (Arena arena = Arena.ofShared();
                Sae sae = Sae.create(config);
                MetricsLog log = MetricsLog.open(out.resolve(MetricsLog.FILE), false)) {
            ActivationData activations = ActivationData.open(List.of(data), arena);
            SequentialBatches batches = new SequentialBatches(activations, BATCH, DataPosition.START, arena);
            OutputDirectory output = OutputDirectory.prepare(out);
            Trainer.Member member = new Trainer.Member("sae", sae, output, log, null, Map.of(), 0, 0);
            Trainer.Plan plan = new Trainer.Plan(
                    steps,
                    new LrSchedule(config.lr(), steps, 0, LrSchedule.Decay.NONE, 0),
                    LogSchedule.of(steps, every),
                    0,
                    0,
                    activations.rows(),
                    "sequential",
                    "test-run",
                    null,
                    out);
            // One second per step the SAE has taken: the time between two readings is the steps between them.
            LongSupplier stepClock = () -> sae.state("step").toLongArray()[0] * 1_000_000_000L;
            new Trainer(
                            List.of(member),
                            batches,
                            RowOrigin.sequential(activations),
                            plan,
                            null,
                            progress -> {},
                            stepClock)
                    .run();
        }
        Pattern value = Pattern.compile("\"tokens_per_s\":([-0-9.eE]+)");
        return Files.readAllLines(out.resolve(MetricsLog.FILE)).stream()
                .map(line -> {
                    Matcher m = value.matcher(line);
                    assertThat(m.find()).as(line).isTrue();
                    return Double.parseDouble(m.group(1));
                })
                .toList();
    }

    /** {@code ROWS x D} seeded normal floats. */
    private static Path gaussianRows(Path file) throws IOException {
        SplittableRandom random = new SplittableRandom(1);
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(DType.F32, new long[] {ROWS, D}, arena);
            for (int i = 0; i < ROWS * D; i++) {
                t.data().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) random.nextGaussian());
            }
            Npy.write(file, t);
        }
        return file;
    }
}
