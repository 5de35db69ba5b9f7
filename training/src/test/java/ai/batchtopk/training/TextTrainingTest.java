package ai.batchtopk.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.data.BatchSource;
import ai.batchtopk.data.DataPosition;
import ai.batchtopk.data.PrefetchingBatches;
import ai.batchtopk.extract.ActivationBlock;
import ai.batchtopk.extract.Extractor;
import ai.batchtopk.extract.ExtractorConfig;
import ai.batchtopk.extract.Model;
import ai.batchtopk.extract.Site;
import ai.batchtopk.extract.TextCorpus;
import ai.batchtopk.extract.TextSource;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.Tensor;
import ai.batchtopk.train.RunFile;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code train --text}: activations extracted from text as training goes ({@link ExtractedBatches}). */
class TextTrainingTest {
    private static final List<String> DOCS = List.of(
            "The quick brown fox jumps over the lazy dog.",
            "Sparse autoencoders find interpretable features in the activations of language models.",
            "A longer paragraph, cut into several windows of the maximum length, so that every token is seen"
                    + " exactly once; unbelievably, it still works.",
            "Short.");

    private static final String TEXT = String.join("\n\n", DOCS) + "\n";

    @TempDir
    Path tmp;

    /** Every row of one pass, copied out, as the extractor (and so {@code extract}) gives them. */
    private static List<float[]> extractedRows(Extractor x) {
        List<float[]> rows = new ArrayList<>();
        Iterator<ActivationBlock> it = x.extract(DOCS);
        while (it.hasNext()) {
            ActivationBlock b = it.next();
            for (int r = 0; r < b.rows(); r++) {
                rows.add(row(b.activations().data(), r, x.width()));
            }
        }
        return rows;
    }

    private static float[] row(MemorySegment m, long r, long width) {
        return m.asSlice(r * width * 4, width * 4).toArray(ValueLayout.JAVA_FLOAT);
    }

    /** The next {@code n} batches' rows. */
    private static List<float[]> draw(BatchSource source, int n, long batch, long width) {
        List<float[]> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Tensor t = source.next();
            assertThat(t.shape()).containsExactly(batch, width);
            for (int r = 0; r < batch; r++) {
                rows.add(row(t.data(), r, width));
            }
        }
        return rows;
    }

    @Test
    void batchesAreTheExtractedRowsInOrderAcrossBlocksBatchesAndEpochs() {
        // Short windows and small model batches: many blocks, batches spanning blocks and epochs.
        ExtractorConfig config = ExtractorConfig.of(Model.MINILM, 1, Site.RESID)
                .withMaxLength(12)
                .withBatchSize(2);
        try (Extractor x = Extractor.open(config);
                Arena arena = Arena.ofShared()) {
            List<float[]> pass = extractedRows(x);
            int n = pass.size();
            long batch = 7;
            int batches = (int) (2.5 * n / batch) + 1; // more than two epochs
            ExtractedBatches direct = new ExtractedBatches(x, TextSource.of(DOCS), batch, DataPosition.START, arena);
            List<float[]> got = draw(direct, batches, batch, 384);
            for (int i = 0; i < got.size(); i++) {
                assertThat(got.get(i)).as("row %d (pass row %d)", i, i % n).containsExactly(pass.get(i % n));
            }
            assertThat(direct.position())
                    .isEqualTo(new DataPosition((batches * batch - 1) / n, (batches * batch - 1) % n + 1));

            // Resuming at a saved position re-extracts, skips, and goes on with the same rows.
            ExtractedBatches first = new ExtractedBatches(x, TextSource.of(DOCS), batch, DataPosition.START, arena);
            draw(first, 5, batch, 384);
            DataPosition at = first.position();
            List<float[]> expected = draw(first, 3, batch, 384);
            ExtractedBatches resumed = new ExtractedBatches(x, TextSource.of(DOCS), batch, at, arena);
            List<float[]> again = draw(resumed, 3, batch, 384);
            for (int i = 0; i < expected.size(); i++) {
                assertThat(again.get(i)).containsExactly(expected.get(i));
            }

            // Behind a prefetch thread (which then runs the model): the same rows and positions.
            try (PrefetchingBatches prefetching = new PrefetchingBatches(
                    new ExtractedBatches(x, TextSource.of(DOCS), batch, DataPosition.START, arena), 2, arena)) {
                List<float[]> fetched = draw(prefetching, batches, batch, 384);
                for (int i = 0; i < fetched.size(); i++) {
                    assertThat(fetched.get(i)).containsExactly(got.get(i));
                }
                assertThat(prefetching.position()).isEqualTo(direct.position());
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void mlpRowsAreWide() throws IOException {
        try (Extractor x = Extractor.open(
                        ExtractorConfig.of(Model.MINILM, 0, Site.MLP).withMaxLength(16));
                Arena arena = Arena.ofShared()) {
            ExtractedBatches batches = new ExtractedBatches(x, TextSource.of(DOCS), 5, DataPosition.START, arena);
            assertThat(batches.width()).isEqualTo(1536);
            assertThat(batches.next().shape()).containsExactly(5L, 1536L);
        }
    }

    @Test
    void textWithoutTokensIsRefused() throws IOException {
        try (Extractor x = Extractor.open(ExtractorConfig.of(Model.MINILM, 0, Site.RESID));
                Arena arena = Arena.ofShared()) {
            assertThatThrownBy(() -> new ExtractedBatches(
                            x, TextSource.of(List.of("\u0000\u0001")), 4, DataPosition.START, arena))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("no tokens");
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void trainTextWritesAnSaeOfTheModelsWidthWithMetrics() throws IOException {
        Path text = Files.writeString(tmp.resolve("corpus.txt"), TEXT.repeat(3));
        Path out = tmp.resolve("sae");
        Cli.Run run = Cli.run(
                "train",
                "--text",
                text,
                "--model",
                "minilm",
                "--layer",
                2,
                "--site",
                "resid",
                "--max-length",
                32,
                "--extract-batch-size",
                4,
                "--d-sae",
                256,
                "--k",
                8,
                "--batch-size",
                64,
                "--steps",
                4,
                "--checkpoint-every",
                2,
                "--threads",
                1,
                "--out",
                out);
        assertThat(run.code()).as(run.toString()).isZero();
        assertThat(run.json().get("step")).isEqualTo(4L);
        Map<String, Object> cfg = (Map<String, Object>) JsonCodec.parse(Files.readString(out.resolve("cfg.json")));
        assertThat(cfg.get("d_in")).isEqualTo(384L);
        Map<String, Object> meta = (Map<String, Object>) cfg.get("metadata");
        assertThat(meta)
                .containsEntry("model_name", "all-MiniLM-L6-v2")
                .containsEntry("hook_name", Model.MINILM.hookName(2, Site.RESID))
                .containsEntry("hook_layer", 2L)
                .containsEntry("hook_site", "resid");
        assertThat(Files.readAllLines(out.resolve("metrics.jsonl"))).hasSize(4);
        Map<String, Object> runFile =
                (Map<String, Object>) JsonCodec.parse(Files.readString(out.resolve(RunFile.FILE)));
        assertThat((Map<String, Object>) runFile.get("extraction"))
                .containsEntry("layer", 2L)
                .containsEntry("site", "resid")
                .containsEntry("model_name", "all-MiniLM-L6-v2");

        Cli.Run done = Cli.run("train", "--resume", out);
        assertThat(done.code()).as(done.toString()).isEqualTo(Main.FAILURE);
        assertThat(done.err()).contains("already complete");
    }

    @Test
    void aTextSweepResumedAfterItsFirstCheckpointEndsAsAnUninterruptedOne() throws IOException {
        Path text = Files.writeString(tmp.resolve("corpus.txt"), TEXT.repeat(2));
        Object[] common = {
            "--text",
            text,
            "--layer",
            1,
            "--site",
            "mlp",
            "--max-length",
            24,
            "--d-sae",
            64,
            "--sweep",
            "k=4,8",
            "--batch-size",
            32,
            "--checkpoint-every",
            2,
            "--threads",
            1
        };
        Path whole = tmp.resolve("whole");
        Cli.Run full = Cli.run(concat(common, "--steps", 4, "--out", whole));
        assertThat(full.code()).as(full.toString()).isZero();
        // The same run stopped after its step-2 checkpoint (as if killed): run.json says 4 steps.
        Path part = tmp.resolve("part");
        Cli.Run half = Cli.run(concat(common, "--steps", 2, "--out", part));
        assertThat(half.code()).as(half.toString()).isZero();
        String runJson =
                Files.readString(part.resolve(RunFile.FILE)).replace("\"--steps\", \"2\"", "\"--steps\", \"4\"");
        assertThat(runJson).contains("\"--steps\", \"4\"");
        Files.writeString(part.resolve(RunFile.FILE), runJson);
        Cli.Run resumed = Cli.run("train", "--resume", part);
        assertThat(resumed.code()).as(resumed.toString()).isZero();
        for (String name : List.of("batchtopk-dsae64-k4", "batchtopk-dsae64-k8")) {
            assertThat(part.resolve(name).resolve("cfg.json")).exists();
            TrainingRunTest.assertSameState(part.resolve(name), whole.resolve(name));
        }
    }

    @Test
    void aRowOfTextIsNamedByItsTokenDocumentAndFile() throws IOException {
        Path a = tmp.resolve("a.txt");
        Path b = tmp.resolve("b.txt");
        Files.writeString(a, DOCS.get(0) + "\n\n" + DOCS.get(1) + "\n");
        Files.writeString(b, DOCS.get(2) + "\n\n" + DOCS.get(3) + "\n");
        TextCorpus documents = TextCorpus.open(List.of(a, b), java.nio.charset.StandardCharsets.UTF_8);
        ExtractorConfig config = ExtractorConfig.of(Model.MINILM, 1, Site.RESID)
                .withMaxLength(12)
                .withBatchSize(2);
        List<String> expected = new ArrayList<>();
        try (Extractor x = Extractor.open(config)) {
            Iterator<ActivationBlock> it = x.extract(DOCS);
            while (it.hasNext()) {
                ActivationBlock block = it.next();
                for (int r = 0; r < block.rows(); r++) {
                    int doc = block.documents()[r];
                    expected.add("token '" + block.tokens().get(r) + "' (position " + block.positions()[r]
                            + ") of document " + (doc % 2) + " of " + (doc < 2 ? a : b) + " ");
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        int n = expected.size();
        TextRowOrigin origin = new TextRowOrigin(config, documents);
        assertThat(origin.describe(DataPosition.START, 0)).startsWith(expected.get(0));
        assertThat(origin.describe(new DataPosition(3, 5), 7)).startsWith(expected.get(12));
        assertThat(origin.describe(new DataPosition(1, n - 40), 39)).startsWith(expected.get(n - 1));
        // A batch that runs over the end of a pass goes on with the next one.
        assertThat(origin.describe(new DataPosition(0, n - 2), 5)).startsWith(expected.get(3));
    }

    @Test
    void changedTextIsRefusedOnResumeNamingTheFile() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("texts"));
        Path first = Files.writeString(dir.resolve("a.txt"), TEXT);
        Path second = Files.writeString(dir.resolve("b.txt"), TEXT.repeat(2));
        Path out = tmp.resolve("sae");
        Cli.Run run = Cli.run(concat(
                new Object[] {
                    "--text",
                    dir,
                    "--layer",
                    0,
                    "--max-length",
                    16,
                    "--d-sae",
                    64,
                    "--k",
                    4,
                    "--batch-size",
                    16,
                    "--threads",
                    1
                },
                "--steps",
                2,
                "--out",
                out));
        assertThat(run.code()).as(run.toString()).isZero();
        Files.writeString(
                out.resolve(RunFile.FILE),
                Files.readString(out.resolve(RunFile.FILE)).replace("\"--steps\", \"2\"", "\"--steps\", \"3\""));
        Files.writeString(second, "One more paragraph.\n", java.nio.file.StandardOpenOption.APPEND);
        Cli.Run refused = Cli.run("train", "--resume", out);
        assertThat(refused.code()).as(refused.toString()).isEqualTo(Main.FAILURE);
        assertThat(refused.err())
                .contains("the data changed since the checkpoint: " + second + ": size ")
                .doesNotContain(first.toString());
        Cli.Run allowed = Cli.run("train", "--resume", out, "--allow-changed-data");
        assertThat(allowed.code()).as(allowed.toString()).isZero();
        assertThat(allowed.err())
                .contains("warning: ")
                .contains(second.toString())
                .contains("read from its start");
    }

    private static Object[] concat(Object[] a, Object... b) {
        Object[] all = new Object[a.length + b.length + 1];
        all[0] = "train";
        System.arraycopy(a, 0, all, 1, a.length);
        System.arraycopy(b, 0, all, 1 + a.length, b.length);
        return all;
    }

    @Test
    void textAndDataTogetherIsAUsageError() throws IOException {
        Path text = Files.writeString(tmp.resolve("corpus.txt"), TEXT);
        Cli.Run run = Cli.run(
                "train",
                "--text",
                text,
                "--data",
                tmp.resolve("x.npy"),
                "--layer",
                0,
                "--d-sae",
                64,
                "--k",
                4,
                "--batch-size",
                8,
                "--steps",
                1,
                "--out",
                tmp.resolve("o"));
        assertThat(run.code()).as(run.toString()).isEqualTo(Main.USAGE);
        assertThat(run.err()).contains("--data=FILE|DIR, --text=FILE|DIR are mutually exclusive (specify only one)");
    }

    @Test
    void textOptionsAreChecked() throws IOException {
        Path text = Files.writeString(tmp.resolve("corpus.txt"), TEXT);
        Object[] base = {
            "train", "--text", text, "--d-sae", 64, "--k", 4, "--batch-size", 8, "--steps", 1, "--out", tmp.resolve("o")
        };
        Cli.Run noLayer = Cli.run(base);
        assertThat(noLayer.code()).isEqualTo(Main.USAGE);
        assertThat(noLayer.err()).contains("--text needs --layer");
        Cli.Run shuffled = Cli.run(concatRaw(base, "--layer", 0, "--shuffle"));
        assertThat(shuffled.code()).isEqualTo(Main.USAGE);
        assertThat(shuffled.err()).contains("--shuffle cannot be used with --text");
        Cli.Run badLayer = Cli.run(concatRaw(base, "--layer", 6));
        assertThat(badLayer.code()).isEqualTo(Main.USAGE);
        assertThat(badLayer.err()).contains("layer 6 does not exist");
        Cli.Run layerWithData = Cli.run(
                "train",
                "--data",
                tmp.resolve("x.npy"),
                "--layer",
                0,
                "--d-sae",
                64,
                "--k",
                4,
                "--batch-size",
                8,
                "--steps",
                1,
                "--out",
                tmp.resolve("o"));
        assertThat(layerWithData.code()).isEqualTo(Main.USAGE);
        assertThat(layerWithData.err()).contains("--layer only applies with --text");
    }

    private static Object[] concatRaw(Object[] a, Object... b) {
        Object[] all = new Object[a.length + b.length];
        System.arraycopy(a, 0, all, 0, a.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    @Test
    void emptyTextIsAClearError() throws IOException {
        Path empty = Files.writeString(tmp.resolve("empty.txt"), "  \n\n \t\n");
        Cli.Run run = Cli.run(
                "train",
                "--text",
                empty,
                "--layer",
                0,
                "--d-sae",
                64,
                "--k",
                4,
                "--batch-size",
                8,
                "--steps",
                1,
                "--out",
                tmp.resolve("o"));
        assertThat(run.code()).as(run.toString()).isEqualTo(Main.FAILURE);
        assertThat(run.err()).contains("--text " + empty).contains("no text in");
    }
}
