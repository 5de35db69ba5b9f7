package ai.batchtopk.extract;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import ai.batchtopk.training.Main;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ExtractCommandTest {
    @TempDir
    Path dir;

    private record Outcome(int code, String out, String err) {}

    private static Outcome run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8),
                args);
        return new Outcome(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void writesShardsTokensDocumentsAndSummary() throws Exception {
        Path text = dir.resolve("corpus.txt");
        Files.writeString(
                text,
                "Licensed under the Apache License, Version 2.0.\n\nYou may not use this file except in"
                        + " compliance with the License.\n\n\n\tA tab\\backslash paragraph.\n");
        Path out = dir.resolve("out");
        Outcome o = run(
                "extract",
                "--layer",
                "3",
                "--site",
                "mlp",
                "--text",
                text.toString(),
                "--out",
                out.toString(),
                "--shard-tokens",
                "10",
                "--batch-size",
                "2",
                "--max-length",
                "16");
        assertThat(o.code()).as(o.err()).isZero();
        @SuppressWarnings("unchecked")
        Map<String, Object> line = (Map<String, Object>) JsonCodec.parse(o.out().strip());
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
        assertThat(Files.readAllLines(out.resolve("documents.tsv")))
                .hasSize(3)
                .first()
                .asString()
                .startsWith("0\t" + text + "\tLicensed under");
        @SuppressWarnings("unchecked")
        Map<String, Object> summary =
                (Map<String, Object>) JsonCodec.parse(Files.readString(out.resolve("extraction.json")));
        assertThat(summary)
                .containsEntry("hook", "/encoder/layer.3/intermediate/intermediate_act_fn/Mul_1_output_0")
                .containsEntry("rows", rows)
                .containsEntry("site", "mlp")
                .containsKey("tokens_per_second");

        // Every output file has the mode of any new file there (tokens.tsv was once 0600).
        Set<PosixFilePermission> ordinary = Files.getPosixFilePermissions(Files.createFile(dir.resolve("probe")));
        try (Stream<Path> files = Files.list(out)) {
            assertThat(files.toList())
                    .hasSize((int) shards + 3)
                    .allSatisfy(f -> assertThat(Files.getPosixFilePermissions(f))
                            .as("%s", f)
                            .isEqualTo(ordinary));
        }

        // A second extraction into it is refused; with --overwrite it replaces the first, and no shard of the
        // first is left beside the new one.
        String[] again = {
            "extract", "--layer", "0", "--text", text.toString(), "--out", out.toString(), "--max-tokens", "5"
        };
        Outcome refused = run(again);
        assertThat(refused.code()).isEqualTo(1);
        assertThat(refused.err().strip())
                .startsWith("error: --out " + out + " is not empty (activations-00000.npy,")
                .endsWith("pass --overwrite to replace the extraction in it, or use a new or empty directory");
        assertThat(Files.readAllLines(out.resolve("tokens.tsv"))).hasSize((int) rows);
        Outcome replaced = run(concat(again, "--overwrite"));
        assertThat(replaced.code()).as(replaced.err()).isZero();
        assertThat(Files.readAllLines(out.resolve("tokens.tsv"))).hasSize(5);
        assertThat(Files.readAllLines(out.resolve("documents.tsv"))).hasSize(1);
        try (Stream<Path> files = Files.list(out)) {
            assertThat(files.map(p -> p.getFileName().toString()).sorted().toList())
                    .containsExactly(ExtractCommand.shardName(0), "documents.tsv", "extraction.json", "tokens.tsv");
        }
    }

    private static String[] concat(String[] args, String... more) {
        return Stream.concat(Arrays.stream(args), Arrays.stream(more)).toArray(String[]::new);
    }

    @Test
    void overwriteReplacesOnlyAnExtractionAndAFailedOneLeavesTheEarlierIntact() throws Exception {
        Path text = Files.writeString(dir.resolve("a.txt"), "Some words to extract.\n\nAnd a few more.");
        Path out = dir.resolve("out");
        String[] args = {"extract", "--layer", "0", "--text", text.toString(), "--out", out.toString(), "--overwrite"};
        assertThat(run(args).code()).isZero();
        List<String> tokens = Files.readAllLines(out.resolve("tokens.tsv"));

        // A failure (here: text that is not UTF-8, found before anything is written) leaves the earlier extraction.
        Path bad = Files.write(dir.resolve("bad.txt"), new byte[] {'o', 'k', ' ', (byte) 0xE9});
        Outcome failed =
                run("extract", "--layer", "0", "--text", bad.toString(), "--out", out.toString(), "--overwrite");
        assertThat(failed.code()).isEqualTo(1);
        assertThat(failed.err()).contains(bad + " is not UTF-8 text: byte 0xE9 at offset 3 (line 1)");
        assertThat(Files.readAllLines(out.resolve("tokens.tsv"))).isEqualTo(tokens);
        try (Stream<Path> files = Files.list(out)) {
            assertThat(files.map(p -> p.getFileName().toString()).sorted().toList())
                    .containsExactly(ExtractCommand.shardName(0), "documents.tsv", "extraction.json", "tokens.tsv");
        }

        // The staging directory of a killed extraction makes the directory non-empty; --overwrite removes it.
        Path leftover = Files.createDirectories(out.resolve(".extract.tmp-0123456789abcdef"));
        Files.writeString(leftover.resolve(ExtractCommand.shardName(0)), "half");
        assertThat(run(args).code()).isZero();
        assertThat(leftover).doesNotExist();

        // A directory holding anything else is refused, --overwrite or not: nobody's files are deleted.
        Files.writeString(out.resolve("notes.txt"), "mine");
        Outcome foreign = run(args);
        assertThat(foreign.code()).isEqualTo(1);
        assertThat(foreign.err().strip())
                .isEqualTo(
                        "error: --out " + out + " holds files an extraction does not write"
                                + " (notes.txt); use a new or empty directory (--overwrite replaces only an earlier extraction)");
        assertThat(out.resolve("notes.txt")).hasContent("mine");
        assertThat(out.resolve("tokens.tsv")).exists();
    }

    @Test
    void textThatIsNotUtf8OrIsBinaryIsRefusedWithTheFileNamed() throws Exception {
        Path latin1 = Files.write(dir.resolve("cafe.txt"), "Caf\u00e9 au lait.".getBytes(StandardCharsets.ISO_8859_1));
        Outcome o = run(
                "extract",
                "--layer",
                "0",
                "--text",
                latin1.toString(),
                "--out",
                dir.resolve("o").toString());
        assertThat(o.code()).isEqualTo(1);
        assertThat(o.err().strip())
                .isEqualTo("error: " + latin1 + " is not UTF-8 text: byte 0xE9 at offset 3 (line 1) is"
                        + " not a valid UTF-8 sequence; convert the file to UTF-8, or name its encoding with --encoding"
                        + " (e.g. --encoding latin-1)");
        assertThat(dir.resolve("o")).doesNotExist();
        Outcome read = run(
                "extract",
                "--layer",
                "0",
                "--text",
                latin1.toString(),
                "--out",
                dir.resolve("o").toString(),
                "--encoding",
                "latin-1");
        assertThat(read.code()).as(read.err()).isZero();
        assertThat(Files.readAllLines(dir.resolve("o/tokens.tsv"))).contains("0\t0\tcafe");
        assertThat(((Map<?, ?>) JsonCodec.parse(Files.readString(dir.resolve("o/extraction.json")))).get("encoding"))
                .isEqualTo("ISO-8859-1");
        Outcome unknown = run(
                "extract",
                "--layer",
                "0",
                "--text",
                latin1.toString(),
                "--out",
                dir.resolve("u").toString(),
                "--encoding",
                "klingon");
        assertThat(unknown.code()).isEqualTo(2);
        assertThat(unknown.err()).contains("unknown --encoding 'klingon'");

        // A binary file named itself is refused; in a directory it is skipped with a warning.
        Path texts = Files.createDirectories(dir.resolve("texts"));
        Files.writeString(texts.resolve("notes.txt"), "Plain words.");
        Path binary = Files.write(texts.resolve("program"), new byte[] {0x7F, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0});
        Outcome named = run(
                "extract",
                "--layer",
                "0",
                "--text",
                binary.toString(),
                "--out",
                dir.resolve("b").toString());
        assertThat(named.code()).isEqualTo(1);
        assertThat(named.err()).startsWith("error: " + binary + " looks like a binary file, not text (a NUL byte at");
        Outcome skipped = run(
                "extract",
                "--layer",
                "0",
                "--text",
                texts.toString(),
                "--out",
                dir.resolve("d").toString());
        assertThat(skipped.code()).as(skipped.err()).isZero();
        assertThat(skipped.err()).contains("warning: skipped 1 binary file: " + binary);
        assertThat(Files.readAllLines(dir.resolve("d/documents.tsv")))
                .containsExactly("0\t" + texts.resolve("notes.txt") + "\tPlain words.");
    }

    @Test
    void maxTokensStopsTheReading() throws Exception {
        // An invalid byte far behind the first document: --max-tokens never reads that far; a full extraction
        // checks every file before it starts.
        StringBuilder sb = new StringBuilder("First paragraph, read.\n\n");
        while (sb.length() < 4 * TextFileReader.BLOCK) {
            sb.append("Many more words that are never read. ");
        }
        byte[] head = sb.toString().getBytes(StandardCharsets.UTF_8);
        byte[] bytes = Arrays.copyOf(head, head.length + 1);
        bytes[head.length] = (byte) 0xFF;
        Path text = Files.write(dir.resolve("long.txt"), bytes);
        Outcome limited = run(
                "extract",
                "--layer",
                "0",
                "--text",
                text.toString(),
                "--out",
                dir.resolve("a").toString(),
                "--max-tokens",
                "3",
                "--batch-size",
                "1");
        assertThat(limited.code()).as(limited.err()).isZero();
        assertThat(Files.readAllLines(dir.resolve("a/tokens.tsv")))
                .containsExactly("0\t0\tfirst", "0\t1\tparagraph", "0\t2\t,");
        Outcome full = run(
                "extract",
                "--layer",
                "0",
                "--text",
                text.toString(),
                "--out",
                dir.resolve("b").toString());
        assertThat(full.code()).isEqualTo(1);
        assertThat(full.err()).contains("byte 0xFF at offset " + head.length);
        assertThat(dir.resolve("b")).doesNotExist();
    }

    @Test
    void errorsAreOneClearLine() throws Exception {
        Path empty = dir.resolve("empty.txt");
        Files.writeString(empty, "");
        Outcome o = run(
                "extract",
                "--layer",
                "1",
                "--text",
                empty.toString(),
                "--out",
                dir.resolve("o").toString());
        assertThat(o.code()).isEqualTo(1);
        assertThat(o.err().strip()).startsWith("error: no text in " + empty);
        Outcome layer = run(
                "extract",
                "--layer",
                "7",
                "--text",
                empty.toString(),
                "--out",
                dir.resolve("o").toString());
        assertThat(layer.code()).isEqualTo(2);
        assertThat(layer.err()).contains("layer 7 does not exist: minilm has layers 0..5");
    }
}
