package ai.batchtopk.training;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.Checkpoint;
import ai.batchtopk.data.DataFingerprint;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.SafetensorsFile;
import ai.batchtopk.train.MetricsLog;
import ai.batchtopk.train.RunFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code train --resume} over data that changed since the checkpoint: the same shape but other bytes,
 * f64 in place of f32, a shard more, other held-out rows. Refused, naming the file and what changed,
 * unless {@code --allow-changed-data}; a checkpoint from before fingerprints resumes with a warning.
 */
class DataChangeTest {
    @TempDir
    Path tmp;

    private Path data;
    private Path held;

    /** A finished 4-step run whose run.json is then made to ask for 8: as if it had been killed at step 4. */
    private Path halfRun(Object... more) throws IOException {
        data = BadDataTest.write(tmp.resolve("data.npy"), DType.F32, 400, 1, -1, 0);
        held = BadDataTest.write(tmp.resolve("held.npy"), DType.F32, 100, 2, -1, 0);
        Path out = tmp.resolve("run");
        List<Object> args = new ArrayList<>(List.of(
                "train",
                "--data",
                data,
                "--d-sae",
                32,
                "--k",
                4,
                "--batch-size",
                50,
                "--steps",
                4,
                "--checkpoint-every",
                2,
                "--out",
                out));
        args.addAll(List.of(more));
        Cli.Run run = Cli.run(args.toArray());
        assertThat(run.code()).as("%s", run).isZero();
        String runJson = Files.readString(out.resolve(RunFile.FILE));
        assertThat(runJson).contains("\"--steps\", \"4\"");
        Files.writeString(out.resolve(RunFile.FILE), runJson.replace("\"--steps\", \"4\"", "\"--steps\", \"8\""));
        return out;
    }

    private static Cli.Run refused(Path out, String... fragments) throws IOException {
        List<String> metrics = Files.readAllLines(out.resolve(MetricsLog.FILE));
        Cli.Run run = Cli.run("train", "--resume", out);
        assertThat(run.code()).as("%s", run).isEqualTo(Main.FAILURE);
        assertThat(run.err())
                .startsWith("error: --resume " + out + ": the data changed since the checkpoint: ")
                .contains(fragments)
                .contains("--allow-changed-data");
        assertThat(Files.readAllLines(out.resolve(MetricsLog.FILE))).isEqualTo(metrics);
        return run;
    }

    @Test
    void anotherFileOfTheSameShapeIsRefused() throws IOException {
        Path out = halfRun();
        byte[] original = Files.readAllBytes(data);
        java.nio.file.attribute.FileTime time = Files.getLastModifiedTime(data);
        BadDataTest.write(data, DType.F32, 400, 99, -1, 0);
        refused(out, data + ": ", "content differs", "modified ");
        // Put back as it was (time included): the run goes on.
        Files.write(data, original);
        Files.setLastModifiedTime(data, time);
        Cli.Run resumed = Cli.run("train", "--resume", out);
        assertThat(resumed.code()).as("%s", resumed).isZero();
        assertThat(resumed.err()).doesNotContain("warning");
    }

    @Test
    void f64InPlaceOfF32IsRefusedNamingTheDtype() throws IOException {
        Path out = halfRun();
        BadDataTest.write(data, DType.F64, 400, 1, -1, 0);
        refused(out, data + ": dtype F32 -> F64", "size ");
    }

    @Test
    void anotherShardInTheDirectoryIsRefused() throws IOException {
        Path shards = Files.createDirectories(tmp.resolve("shards"));
        BadDataTest.write(shards.resolve("a.npy"), DType.F32, 200, 3, -1, 0);
        BadDataTest.write(shards.resolve("b.npy"), DType.F32, 200, 4, -1, 0);
        Path out = tmp.resolve("run");
        Cli.Run run = Cli.run(
                "train", "--data", shards, "--d-sae", 32, "--k", 4, "--batch-size", 50, "--steps", 4, "--out", out);
        assertThat(run.code()).isZero();
        Files.writeString(
                out.resolve(RunFile.FILE),
                Files.readString(out.resolve(RunFile.FILE)).replace("\"--steps\", \"4\"", "\"--steps\", \"8\""));
        Path c = BadDataTest.write(shards.resolve("c.npy"), DType.F32, 200, 5, -1, 0);
        refused(out, "--data now also has " + c);
        Files.delete(shards.resolve("a.npy"));
        refused(out, "--data no longer has " + shards.resolve("a.npy") + " and now also has " + c);
    }

    @Test
    void changedHeldOutDataIsRefusedToo() throws IOException {
        Path out = halfRun("--eval-data", tmp.resolve("held.npy"));
        BadDataTest.write(held, DType.F32, 100, 77, -1, 0);
        refused(out, held + ": ", "content differs");
    }

    @Test
    void allowChangedDataGoesOnWithAWarningAndKeepsTheNewFingerprint() throws IOException {
        Path out = halfRun();
        BadDataTest.write(data, DType.F32, 400, 99, -1, 0);
        Cli.Run resumed = Cli.run("train", "--resume", out, "--allow-changed-data");
        assertThat(resumed.code()).as("%s", resumed).isZero();
        assertThat(resumed.json().get("step")).isEqualTo(8L);
        assertThat(resumed.err())
                .startsWith("warning: --resume " + out + ": the data changed since the checkpoint (" + data
                        + ": content differs");
        // Its checkpoint now describes the data as it is: a longer run goes on without a word.
        Files.writeString(
                out.resolve(RunFile.FILE),
                Files.readString(out.resolve(RunFile.FILE)).replace("\"--steps\", \"8\"", "\"--steps\", \"10\""));
        Cli.Run more = Cli.run("train", "--resume", out);
        assertThat(more.code()).as("%s", more).isZero();
        assertThat(more.err()).isEmpty();
    }

    @Test
    void dataOfAnotherLengthIsReadFromItsStartWithAllowChangedData() throws IOException {
        Path out = halfRun();
        BadDataTest.write(data, DType.F32, 333, 1, -1, 0);
        refused(out, "shape [400, 8] -> [333, 8]");
        Cli.Run resumed = Cli.run("train", "--resume", out, "--allow-changed-data");
        assertThat(resumed.code()).as("%s", resumed).isZero();
        assertThat(resumed.err()).contains("it is read from its start");
    }

    @Test
    void aCheckpointWithoutAFingerprintResumesWithAWarning() throws IOException {
        Path out = halfRun();
        Path state = out.resolve(Checkpoint.STATE_FILE);
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile file = Safetensors.open(state, arena);
            Map<String, String> metadata = new LinkedHashMap<>(file.metadata());
            assertThat(metadata.remove(DataFingerprint.KEY)).contains(data.toString());
            Path older = tmp.resolve("older.safetensors");
            Safetensors.write(older, new LinkedHashMap<>(file.tensors()), metadata);
            Files.move(older, state, StandardCopyOption.REPLACE_EXISTING);
        }
        Cli.Run resumed = Cli.run("train", "--resume", out);
        assertThat(resumed.code()).as("%s", resumed).isZero();
        assertThat(resumed.err())
                .isEqualTo("warning: --resume " + out + ": the checkpoint keeps no fingerprint of its data"
                        + " (saved by an earlier version), so changed data files cannot be detected\n");
    }

    @Test
    void allowChangedDataOnlyGoesWithResume() throws IOException {
        Path file = BadDataTest.write(tmp.resolve("data.npy"), DType.F32, 100, 1, -1, 0);
        Cli.Run run = Cli.run(
                "train",
                "--data",
                file,
                "--d-sae",
                32,
                "--k",
                4,
                "--batch-size",
                50,
                "--steps",
                2,
                "--allow-changed-data",
                "--out",
                tmp.resolve("run"));
        assertThat(run.code()).isEqualTo(Main.USAGE);
        assertThat(run.err()).contains("--allow-changed-data only applies with --resume");
    }

    @Test
    void theFingerprintSamplesLargeFilesAndReadsSmallOnesWhole() throws IOException {
        // Large: a byte changed inside a sampled block is seen, one between the blocks is not (but the time is).
        Path big = tmp.resolve("big.bin");
        long size = 40L * DataFingerprint.BLOCK + 123;
        try (var channel = java.nio.channels.FileChannel.open(
                big, java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE)) {
            channel.write(java.nio.ByteBuffer.allocate(1), size - 1);
        }
        DataFingerprint before = DataFingerprint.ofText("--text", List.of(big));
        long sampled = (size - DataFingerprint.BLOCK) / (DataFingerprint.SAMPLES + 1) * 3 + 10;
        long between = (size - DataFingerprint.BLOCK) / (DataFingerprint.SAMPLES + 1) * 3 + DataFingerprint.BLOCK + 10;
        poke(big, between);
        DataFingerprint unseen = DataFingerprint.ofText("--text", List.of(big));
        assertThat(unseen.sources().getFirst().sample())
                .isEqualTo(before.sources().getFirst().sample());
        poke(big, sampled);
        DataFingerprint seen = DataFingerprint.ofText("--text", List.of(big));
        assertThat(seen.changesSince(before)).singleElement().asString().contains("content differs");
        assertThat(DataFingerprint.fromJson(seen.toJson())).isEqualTo(seen);

        Path small = Files.write(tmp.resolve("small.bin"), new byte[3 * DataFingerprint.BLOCK]);
        DataFingerprint whole = DataFingerprint.ofText("--text", List.of(small));
        poke(small, 2L * DataFingerprint.BLOCK + 7);
        assertThat(DataFingerprint.ofText("--text", List.of(small))
                        .sources()
                        .getFirst()
                        .sample())
                .isNotEqualTo(whole.sources().getFirst().sample());
    }

    private static void poke(Path file, long at) throws IOException {
        try (var channel = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.WRITE)) {
            channel.write(java.nio.ByteBuffer.wrap(new byte[] {42}), at);
        }
    }
}
