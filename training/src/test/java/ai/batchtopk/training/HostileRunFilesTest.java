package ai.batchtopk.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.Checkpoint;
import ai.batchtopk.data.DataFingerprint;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.SafetensorsFile;
import ai.batchtopk.train.RunFile;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile JSON in the files {@code train --resume} reads: run.json and the checkpoint's safetensors
 * header (deep nesting, huge numbers and strings, duplicate keys). Each is one clear error line
 * naming the file and the problem: no stack trace, no StackOverflowError, no OutOfMemoryError.
 */
class HostileRunFilesTest {
    @TempDir
    Path tmp;

    private Path out;
    private String runJson;

    @BeforeEach
    void finishedRun() throws IOException {
        Path data = BadDataTest.write(tmp.resolve("data.npy"), DType.F32, 400, 1, -1, 0);
        out = tmp.resolve("run");
        Cli.Run run = Cli.run(
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
                out);
        assertThat(run.code()).as("%s", run).isZero();
        runJson = Files.readString(out.resolve(RunFile.FILE));
    }

    private void refused(Path file, String fragment) {
        Cli.Run run = Cli.run("train", "--resume", out);
        assertThat(run.code()).as("%s", run).isEqualTo(Main.FAILURE);
        assertThat(run.err())
                .as("%s", run)
                .startsWith("error: ")
                .contains(file.toString())
                .contains(fragment)
                .doesNotContain("\tat ", "Exception", "Error:");
        assertThat(run.err().strip().lines().count()).as("%s", run).isEqualTo(1);
        assertThat(run.err().length()).isLessThan(2000);
    }

    @Test
    void hostileRunJsonIsAClearError() throws IOException {
        Path file = out.resolve(RunFile.FILE);
        Map<String, String> cases = new LinkedHashMap<>();
        cases.put("[".repeat(100_000), "nesting depth (65) exceeds the maximum allowed (64)");
        cases.put("{\"a\":".repeat(100_000), "nesting depth");
        cases.put(
                runJson.replace("\"args\": [", "\"args\": [1e1000000, "),
                "number 1e1000000 is outside the range of a double");
        cases.put(
                runJson.replace("\"args\": [", "\"args\": [" + "7".repeat(1_000_000) + ", "),
                "Number value length (1000000) exceeds the maximum allowed (1000)");
        cases.put(runJson.replace("\"args\": [", "\"args\": [{}, "), "'args[0]' must be a string, got an object");
        cases.put(runJson.replace("\"command\"", "\"args\": [], \"command\""), "duplicate key \"args\"");
        String hugeKey = "k".repeat(10_000_000);
        cases.put("{\"" + hugeKey + "\": 1, \"" + hugeKey + "\": 2}", "duplicate key \"kkkk");
        cases.put(
                runJson.replace("\"command\": \"train\"", "\"command\": \"" + "x".repeat(20_000_000) + "\"")
                        .replaceFirst("\"id\": \"[^\"]*\"", "\"id\": {}"),
                "'id' must be a string, got an object");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            Files.writeString(file, c.getKey());
            refused(file, c.getValue());
        }
        // A file past the JSON size limit is not even read.
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(200L << 20);
        }
        refused(file, "bytes a JSON file may have");
    }

    @Test
    void hostileCheckpointHeaderIsAClearError() throws IOException {
        Path state = out.resolve(Checkpoint.STATE_FILE);
        Map<String, String> cases = new LinkedHashMap<>();
        cases.put("[".repeat(100_000), "nesting depth");
        cases.put("{\"__metadata__\":" + "{\"a\":".repeat(100_000), "nesting depth");
        cases.put(
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[1e1000000],\"data_offsets\":[0,4]}}",
                "outside the range of a double");
        cases.put(
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[" + "1".repeat(1_000_000) + "],\"data_offsets\":[0,4]}}",
                "Number value length (1000000)");
        cases.put(
                "{\"x\":{\"dtype\":\"" + "F".repeat(10_000_000) + "\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                "dtype \"FFFF");
        cases.put("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"x\":{}}", "duplicate key \"x\"");
        for (Map.Entry<String, String> c : cases.entrySet()) {
            byte[] header = c.getKey().getBytes(StandardCharsets.UTF_8);
            ByteBuffer b = ByteBuffer.allocate(8 + header.length + 4).order(ByteOrder.LITTLE_ENDIAN);
            Files.write(state, b.putLong(header.length).put(header).array());
            refused(state, c.getValue());
        }
    }

    @Test
    void aHostileDataFingerprintInTheCheckpointOnlyCostsTheCheck() throws IOException {
        Path state = out.resolve(Checkpoint.STATE_FILE);
        for (String fingerprint : new String[] {
            "[".repeat(100_000),
            "[" + "9".repeat(1_000_000) + "]",
            "[1e1000000]",
            "[{\"option\":\"--data\",\"option\":\"--data\"}]",
            "[null]",
            "[{}]"
        }) {
            try (Arena arena = Arena.ofConfined()) {
                SafetensorsFile file = Safetensors.open(state, arena);
                Map<String, String> metadata = new LinkedHashMap<>(file.metadata());
                metadata.put(DataFingerprint.KEY, fingerprint);
                Path hostile = tmp.resolve("hostile.safetensors");
                Safetensors.write(hostile, new LinkedHashMap<>(file.tensors()), metadata);
                Files.move(hostile, state, StandardCopyOption.REPLACE_EXISTING);
            }
            assertThatThrownBy(() -> DataFingerprint.fromJson(fingerprint))
                    .isInstanceOf(IllegalArgumentException.class);
        }
        // As if the run had been killed at step 4 of 8.
        Files.writeString(out.resolve(RunFile.FILE), runJson.replace("\"--steps\", \"4\"", "\"--steps\", \"8\""));
        Cli.Run resumed = Cli.run("train", "--resume", out);
        assertThat(resumed.code()).as("%s", resumed).isZero();
        assertThat(resumed.err()).contains("keeps no fingerprint of its data");
    }
}
