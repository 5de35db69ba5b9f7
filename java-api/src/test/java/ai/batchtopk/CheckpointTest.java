package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.SafetensorsFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class CheckpointTest {
    @TempDir
    Path dir;

    private static void train(Sae sae, Arena arena, int from, int to) {
        for (int step = from; step < to; step++) {
            sae.trainStep(TestData.gaussian(arena, 64, 32, 1000 + step, 0.25f));
        }
    }

    private static SaeConfig config(Architecture architecture) {
        // Few tokens before a latent counts as dead, so AuxK and the counters take part.
        return TestData.small(architecture).lr(3e-3).deadAfterTokens(128).build();
    }

    @ParameterizedTest
    @EnumSource(Architecture.class)
    void resumingContinuesTheSameRun(Architecture architecture) throws IOException {
        Path checkpoint = dir.resolve("ckpt");
        try (Arena arena = Arena.ofConfined();
                Sae uninterrupted = Sae.create(config(architecture));
                Sae first = Sae.create(config(architecture))) {
            train(uninterrupted, arena, 0, 25);
            train(first, arena, 0, 10);
            Checkpoint.save(first, checkpoint, Map.of("data.position", "640", "rng", "deadbeef"));
            train(first, arena, 10, 12); // what happens after the checkpoint must not leak into it

            try (Checkpoint.Loaded loaded = Checkpoint.resume(checkpoint)) {
                Sae resumed = loaded.sae();
                assertThat(loaded.extra()).isEqualTo(Map.of("data.position", "640", "rng", "deadbeef"));
                assertThat(resumed.config()).isEqualTo(first.config());
                assertThat(resumed.state("step").data().get(ai.batchtopk.io.Tensor.I64_LE, 0))
                        .isEqualTo(10);
                train(resumed, arena, 10, 25);
                TestData.assertSameState(resumed, uninterrupted);
            }
        }
    }

    @Test
    void savingKeepsOtherFilesAndRefusesWhatItCannotCarry() throws IOException {
        Path checkpoint = dir.resolve("run");
        Files.createDirectories(checkpoint);
        Files.writeString(checkpoint.resolve("notes.txt"), "mine");
        try (Arena arena = Arena.ofConfined();
                Sae sae = Sae.create(config(Architecture.BATCHTOPK))) {
            train(sae, arena, 0, 2);
            Checkpoint.save(sae, checkpoint, Map.of());
            Checkpoint.save(sae, checkpoint, Map.of());
            assertThat(checkpoint.resolve("notes.txt")).hasContent("mine");
            assertThat(checkpoint.resolve(Checkpoint.STATE_FILE)).exists();

            Files.createDirectories(checkpoint.resolve("plots"));
            assertThatThrownBy(() -> Checkpoint.save(sae, checkpoint, Map.of()))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("plots")
                    .hasMessageContaining("not a plain file");
            assertThat(checkpoint.resolve("notes.txt")).hasContent("mine");
            assertThat(checkpoint.resolve("plots")).isDirectory();
        }
    }

    @Test
    void checkpointHoldsEveryStateTensorButGradients() throws IOException {
        try (Arena arena = Arena.ofConfined();
                Sae sae = Sae.create(config(Architecture.JUMPRELU))) {
            train(sae, arena, 0, 3);
            sae.lossAndGradients(TestData.gaussian(arena, 8, 32, 5), true);
            Checkpoint.save(sae, dir, Map.of());
            try (Arena read = Arena.ofConfined()) {
                SafetensorsFile state = Safetensors.open(dir.resolve(Checkpoint.STATE_FILE), read);
                assertThat(state.tensors().keySet())
                        .containsExactlyInAnyOrderElementsOf(sae.stateNames().stream()
                                .filter(n -> !n.startsWith("grad."))
                                .toList())
                        .contains("adam.m.log_threshold", "tokens_since_fired", "theta", "step");
                assertThat(state.metadata()).isEmpty();
            }
            assertThat(dir.resolve("cfg.json")).exists();
            assertThat(dir.resolve("sae_weights.safetensors")).exists();
        }
    }

    @Test
    void savingAgainReplacesTheCheckpointAndLeavesNothingBehind() throws IOException {
        Path checkpoint = dir.resolve("run/ckpt");
        try (Arena arena = Arena.ofConfined();
                Sae sae = Sae.create(config(Architecture.BATCHTOPK))) {
            train(sae, arena, 0, 2);
            Checkpoint.save(sae, checkpoint, Map.of("n", "2"));
            train(sae, arena, 2, 4);
            Checkpoint.save(sae, checkpoint, Map.of("n", "4"));
            try (var entries = Files.list(checkpoint.getParent())) {
                assertThat(entries.map(p -> p.getFileName().toString()).toList())
                        .containsExactly("ckpt");
            }
            try (Checkpoint.Loaded loaded = Checkpoint.resume(checkpoint)) {
                assertThat(loaded.extra()).containsEntry("n", "4");
                TestData.assertSameState(loaded.sae(), sae);
            }
        }
    }

    @Test
    void anInterruptedSwapIsFinishedOnResume() throws IOException {
        Path checkpoint = dir.resolve("ckpt");
        try (Arena arena = Arena.ofConfined();
                Sae sae = Sae.create(config(Architecture.TOPK))) {
            train(sae, arena, 0, 2);
            Checkpoint.save(sae, checkpoint, Map.of("n", "old"));
            train(sae, arena, 2, 3);
            // What a crash between "rename old away" and "rename new in" leaves on disk:
            Checkpoint.save(sae, dir.resolve("ckpt.incoming"), Map.of("n", "new"));
            Files.move(checkpoint, dir.resolve("ckpt.previous"));
            try (Checkpoint.Loaded loaded = Checkpoint.resume(checkpoint)) {
                assertThat(loaded.extra()).containsEntry("n", "new");
                TestData.assertSameState(loaded.sae(), sae);
            }
            assertThat(dir.resolve("ckpt.previous")).doesNotExist();
            assertThat(dir.resolve("ckpt.incoming")).doesNotExist();
        }
    }

    @Test
    void aHalfWrittenIncomingDirectoryIsIgnoredAndReplaced() throws IOException {
        Path checkpoint = dir.resolve("ckpt");
        try (Arena arena = Arena.ofConfined();
                Sae sae = Sae.create(config(Architecture.RELU))) {
            train(sae, arena, 0, 2);
            Checkpoint.save(sae, checkpoint, Map.of("n", "complete"));
            Files.createDirectories(dir.resolve("ckpt.incoming"));
            Files.writeString(dir.resolve("ckpt.incoming/cfg.json"), "{\"trunc");
            try (Checkpoint.Loaded loaded = Checkpoint.resume(checkpoint)) {
                assertThat(loaded.extra()).containsEntry("n", "complete");
            }
            Checkpoint.save(sae, checkpoint, Map.of("n", "again"));
            assertThat(dir.resolve("ckpt.incoming")).doesNotExist();
        }
    }

    @Test
    void anInferenceSaveIsNotACheckpoint() throws IOException {
        try (Sae sae = Sae.create(config(Architecture.BATCHTOPK))) {
            SaeLens.saveInference(sae, dir, Map.of());
        }
        assertThatThrownBy(() -> Checkpoint.resume(dir))
                .isInstanceOf(NoSuchFileException.class)
                .hasMessageContaining("not a training checkpoint");
    }
}
