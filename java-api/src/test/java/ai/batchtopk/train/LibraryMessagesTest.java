package ai.batchtopk.train;

import static ai.batchtopk.data.NumberedRows.numbered;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.SaeConfig;
import ai.batchtopk.data.ActivationFiles;
import ai.batchtopk.data.NumberedRows;
import ai.batchtopk.data.RowOrder;
import ai.batchtopk.io.Npy;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Java caller's mistakes are named as the Java caller made them: by the builder methods and calls of
 * the library ({@code RunSpec.batchSize}, {@code RunSpec.out}, {@code TrainingRun.resume}, ...), never by
 * the command line's options.
 */
class LibraryMessagesTest {
    @TempDir
    Path tmp;

    Path data;

    @BeforeEach
    void rows() throws IOException {
        data = tmp.resolve("rows.npy");
        try (Arena arena = Arena.ofConfined()) {
            Npy.write(data, numbered(0, 100, arena));
        }
    }

    private RunSpec.Builder spec(Path out) {
        return RunSpec.builder(new ActivationFiles(List.of(data), RowOrder.SEQUENTIAL), out)
                .sae(SaeConfig.builder(NumberedRows.D, 8).k(2).build())
                .batchSize(10)
                .steps(2);
    }

    @Test
    void aBatchLargerThanTheDataNamesBatchSize() {
        assertThatThrownBy(() -> TrainingRun.start(
                        spec(tmp.resolve("out")).batchSize(500).build()))
                .hasMessageStartingWith("RunSpec.batchSize 500 is larger than the data")
                .hasMessageNotContaining("--");
    }

    @Test
    void anOutputThatIsAFileNamesOut() throws IOException {
        Path file = Files.writeString(tmp.resolve("file"), "not a directory");
        assertThatThrownBy(() -> TrainingRun.start(spec(file).build()))
                .hasMessage("RunSpec.out " + file + " exists and is not a directory");
    }

    @Test
    void aRunAlreadyThereNamesResumeAndOverwrite() throws IOException {
        Path out = tmp.resolve("out");
        try (TrainingRun run = TrainingRun.start(spec(out).build())) {
            run.train();
        }
        assertThatThrownBy(() -> TrainingRun.start(spec(out).build()))
                .hasMessageContaining("continue it with TrainingRun.resume " + out)
                .hasMessageContaining("replace it with RunSpec.overwrite")
                .hasMessageNotContaining("--");
    }

    @Test
    void resumingWhereNoRunIsNamesResume() {
        Path nowhere = tmp.resolve("nowhere");
        assertThatThrownBy(() -> TrainingRun.resume(nowhere))
                .hasMessageStartingWith("TrainingRun.resume " + nowhere + ": no run.json there")
                .hasMessageNotContaining("--");
    }
}
