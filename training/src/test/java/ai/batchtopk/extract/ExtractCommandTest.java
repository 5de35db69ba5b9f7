package ai.batchtopk.extract;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.io.Json;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import ai.batchtopk.training.Main;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExtractCommandTest {
    @TempDir
    Path dir;

    private record Outcome(int code, String out, String err) {}

    private static Outcome run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8), args);
        return new Outcome(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void writesShardsTokensDocumentsAndSummary() throws Exception {
        Path text = dir.resolve("corpus.txt");
        Files.writeString(text, "Licensed under the Apache License, Version 2.0.\n\nYou may not use this file except in"
                + " compliance with the License.\n\n\n\tA tab\\backslash paragraph.\n");
        Path out = dir.resolve("out");
        Outcome o = run("extract", "--layer", "3", "--site", "mlp", "--text", text.toString(), "--out", out.toString(),
                "--shard-tokens", "10", "--batch-size", "2", "--max-length", "16");
        assertThat(o.code()).as(o.err()).isZero();
        @SuppressWarnings("unchecked")
        Map<String, Object> line = (Map<String, Object>) Json.parse(o.out().strip());
        long rows = ((Number) line.get("rows")).longValue();
        long shards = ((Number) line.get("shards")).longValue();
        assertThat(rows).isGreaterThan(20);
        assertThat(shards).isEqualTo((rows + 9) / 10);
        assertThat(line.get("d")).isEqualTo(1536L);
        List<String> tokens = Files.readAllLines(out.resolve("tokens.tsv"));
        assertThat(tokens).hasSize((int) rows);
        assertThat(tokens.get(0)).isEqualTo("0\t0\tlicensed");
        assertThat(tokens).contains("2\t2\t\\\\");
        long total = 0;
        try (Arena arena = Arena.ofConfined()) {
            for (int i = 0; i < shards; i++) {
                Tensor t = Npy.map(out.resolve(ExtractCommand.shardName(i)), arena);
                assertThat(t.cols()).isEqualTo(1536);
                total += t.rows();
            }
        }
        assertThat(total).isEqualTo(rows);
        assertThat(Files.readAllLines(out.resolve("documents.tsv"))).hasSize(3)
                .first().asString().startsWith("0\t" + text + "\tLicensed under");
        @SuppressWarnings("unchecked")
        Map<String, Object> summary = (Map<String, Object>) Json.parse(Files.readString(out.resolve("extraction.json")));
        assertThat(summary).containsEntry("hook", "/encoder/layer.3/intermediate/intermediate_act_fn/Mul_1_output_0")
                .containsEntry("rows", rows).containsEntry("site", "mlp").containsKey("tokens_per_second");

        // --max-tokens stops early, and a second run replaces the first.
        Outcome again = run("extract", "--layer", "0", "--text", text.toString(), "--out", out.toString(), "--max-tokens", "5");
        assertThat(again.code()).as(again.err()).isZero();
        assertThat(Files.readAllLines(out.resolve("tokens.tsv"))).hasSize(5);
        assertThat(out.resolve(ExtractCommand.shardName(1))).doesNotExist();
    }

    @Test
    void errorsAreOneClearLine() throws Exception {
        Path empty = dir.resolve("empty.txt");
        Files.writeString(empty, "");
        Outcome o = run("extract", "--layer", "1", "--text", empty.toString(), "--out", dir.resolve("o").toString());
        assertThat(o.code()).isEqualTo(1);
        assertThat(o.err().strip()).startsWith("error: no text in " + empty);
        Outcome layer = run("extract", "--layer", "7", "--text", empty.toString(), "--out", dir.resolve("o").toString());
        assertThat(layer.code()).isEqualTo(2);
        assertThat(layer.err()).contains("layer 7 does not exist: minilm has layers 0..5");
    }
}
