package ai.batchtopk.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.Checkpoint;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.SafetensorsFile;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What the tests of distributed runs compare between a run's directory and another's (the library's
 * ranks-as-threads tests and the CLI's worker tests; the training module reads it from java-api's test-jar).
 */
public final class RunFiles {
    private RunFiles() {}

    /** Copies a run's directory, as a crash would have left it, to resume the copy elsewhere. */
    public static void copyTree(Path from, Path to) throws IOException {
        try (var tree = Files.walk(from)) {
            for (Path p : tree.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
    }

    /** Float tensors within relative tolerance, counters exactly equal. */
    public static void assertCloseState(Path actual, Path expected, double tolerance) throws IOException {
        assertCloseTensors(actual.resolve(Checkpoint.STATE_FILE), expected.resolve(Checkpoint.STATE_FILE), tolerance);
    }

    /** The tensors of two safetensors files: floats within relative tolerance, the others exactly equal. */
    public static void assertCloseTensors(Path actual, Path expected, double tolerance) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile a = Safetensors.open(actual, arena);
            SafetensorsFile e = Safetensors.open(expected, arena);
            assertThat(a.tensors().keySet()).isEqualTo(e.tensors().keySet());
            for (String name : e.tensors().keySet()) {
                Tensor ta = a.tensors().get(name);
                Tensor te = e.tensors().get(name);
                if (ta.dtype() == DType.F32 || ta.dtype() == DType.F64) {
                    assertThat(relativeDifference(doubles(ta), doubles(te)))
                            .as(name)
                            .isLessThanOrEqualTo(tolerance);
                } else {
                    assertThat(ta.data().toArray(ValueLayout.JAVA_BYTE))
                            .as(name)
                            .isEqualTo(te.data().toArray(ValueLayout.JAVA_BYTE));
                }
            }
        }
    }

    /** One key of every line of the run's metrics.jsonl. */
    public static List<Object> column(Path run, String key) throws IOException {
        List<Object> values = new ArrayList<>();
        for (String line : Files.readAllLines(run.resolve(MetricsLog.FILE))) {
            values.add(((Map<?, ?>) JsonCodec.parse(line)).get(key));
        }
        return values;
    }

    private static double[] doubles(Tensor t) {
        if (t.dtype() == DType.F64) {
            return t.data().toArray(Tensor.F64_LE);
        }
        float[] f = t.toFloatArray();
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    private static double relativeDifference(double[] a, double[] b) {
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < a.length; i++) {
            diff += (a[i] - b[i]) * (a[i] - b[i]);
            norm += b[i] * b[i];
        }
        return Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-30);
    }
}
