package ai.batchtopk.extract;

import ai.batchtopk.io.AtomicFiles;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import java.io.BufferedWriter;
import java.io.Console;
import java.io.IOException;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code batchtopk extract}: runs the model over text files in process and writes the captured
 * activations as {@code .npy} shards, with the token and document of every row.
 *
 * <p>Writes to {@code --out}: {@code activations-00000.npy}, ... (f32 {@code [n, d]}, each written as
 * soon as it is full, so memory stays bounded by one shard); {@code tokens.tsv} (one line per row over
 * all shards in order: {@code doc<TAB>pos<TAB>token}, with {@code \}, tab and newline escaped as
 * {@code \\}, {@code \t}, {@code \n}); {@code documents.tsv} ({@code doc<TAB>source file<TAB>first 80
 * characters}, escaped alike); and {@code extraction.json}. All of them are written into a staging
 * directory and moved into place when complete ({@link ExtractionDirectory}). The text is streamed
 * ({@link TextCorpus}): with {@code --max-tokens}, nothing past what those rows need is read. Prints one
 * JSON summary line.
 */
@Command(
        name = "extract",
        sortOptions = false,
        usageHelpAutoWidth = true,
        mixinStandardHelpOptions = false,
        description = "Run a transformer (ONNX Runtime, in process) over text and write one layer's activations"
                + " as .npy shards, plus tokens.tsv, documents.tsv and extraction.json.")
public final class ExtractCommand implements Callable<Integer> {
    static final String TOKENS = "tokens.tsv";
    static final String DOCUMENTS = "documents.tsv";
    static final String SUMMARY = "extraction.json";

    @Spec
    CommandSpec spec;

    @Option(
            names = {"-h", "--help"},
            usageHelp = true,
            description = "Show this help and exit.")
    boolean help;

    @Option(names = "--debug", description = "Print the stack trace of an error.")
    boolean debug;

    @Option(
            names = "--model",
            defaultValue = "minilm",
            paramLabel = "NAME",
            description = "The model (default: ${DEFAULT-VALUE}; known: minilm).")
    String model;

    @Option(names = "--layer", required = true, paramLabel = "L", description = "Layer, 0-based.")
    int layer;

    @Option(
            names = "--site",
            defaultValue = "resid",
            paramLabel = "resid|mlp",
            description = "Residual stream after the layer, or MLP activations (default: ${DEFAULT-VALUE}).")
    Site site;

    @Option(
            names = "--text",
            required = true,
            paramLabel = "FILE|DIR",
            description = "Text file, or directory read recursively; split into documents at blank lines. Repeatable.")
    List<Path> text;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory to write into.")
    Path out;

    @Option(
            names = "--max-length",
            defaultValue = "128",
            paramLabel = "T",
            description =
                    "Tokens per sequence, [CLS]/[SEP] included; longer documents are windowed (default: ${DEFAULT-VALUE}).")
    int maxLength;

    @Option(
            names = "--batch-size",
            defaultValue = "32",
            paramLabel = "B",
            description = "Sequences per ONNX run (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(
            names = "--shard-tokens",
            defaultValue = "100000",
            paramLabel = "N",
            description = "Rows per .npy shard (default: ${DEFAULT-VALUE}).")
    long shardTokens;

    @Option(names = "--max-tokens", paramLabel = "N", description = "Stop after this many rows.")
    Long maxTokens;

    @Option(
            names = "--keep-special-tokens",
            description = "Keep the rows of [CLS] and [SEP] (position -1); dropped by default.")
    boolean keepSpecialTokens;

    @Option(
            names = "--threads",
            defaultValue = "0",
            paramLabel = "N",
            description = "ONNX Runtime threads; 0 = one per core (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(
            names = "--encoding",
            defaultValue = "UTF-8",
            paramLabel = "CHARSET",
            description = "Encoding of the text files (default: ${DEFAULT-VALUE}; e.g. latin-1, windows-1252, utf-16)."
                    + " Bytes that are not text in it are an error.")
    String encoding;

    @Option(
            names = "--overwrite",
            description = "Replace the earlier extraction in --out (kept until the new one is complete); without it a"
                    + " non-empty --out is refused.")
    boolean overwrite;

    @Override
    public Integer call() throws IOException {
        ExtractorConfig config;
        Charset charset;
        try {
            if (shardTokens < 1) {
                throw new IllegalArgumentException("--shard-tokens " + shardTokens + " must be at least 1");
            }
            if (maxTokens != null && maxTokens < 1) {
                throw new IllegalArgumentException("--max-tokens " + maxTokens + " must be at least 1");
            }
            charset = TextCorpus.charset(encoding);
            config =
                    new ExtractorConfig(Model.of(model), layer, site, maxLength, batchSize, keepSpecialTokens, threads);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        ExtractionDirectory dir = ExtractionDirectory.check(out, overwrite);
        PrintWriter err = spec.commandLine().getErr();
        TextCorpus corpus = TextCorpus.open(text, charset);
        if (!corpus.skipped().isEmpty()) {
            err.println("warning: skipped " + corpus.skipped().size() + " binary file"
                    + (corpus.skipped().size() == 1 ? "" : "s") + ": " + TextCorpus.names(corpus.skipped()));
        }
        // Without --max-tokens every file is read anyway: checking them all first makes a bad byte in the
        // last file an error now rather than hours into the extraction.
        long totalDocuments = maxTokens == null ? corpus.validate() : -1;
        long limit = maxTokens == null ? Long.MAX_VALUE : maxTokens;
        boolean progress = terminal();

        long rows = 0;
        int shards = 0;
        int lastDocument = -1;
        long start = System.nanoTime();
        Path staging = dir.begin();
        try (Extractor extractor = Extractor.open(config);
                Arena arena = Arena.ofConfined();
                BufferedWriter tokens = Files.newBufferedWriter(staging.resolve(TOKENS), StandardCharsets.UTF_8);
                DocumentsTsv documents = new DocumentsTsv(staging.resolve(DOCUMENTS))) {
            int d = extractor.width();
            long rowBytes = d * 4L;
            long capacity = Math.min(shardTokens, limit);
            MemorySegment shard = arena.allocate(capacity * rowBytes, 64);
            long inShard = 0;
            Iterator<TextChunk> chunks = documents.watch(corpus.chunks());
            Iterator<ActivationBlock> blocks = extractor.extract(chunks);
            while (rows < limit && blocks.hasNext()) {
                ActivationBlock block = blocks.next();
                long take = Math.min(block.rows(), limit - rows);
                long done = 0;
                while (done < take) {
                    long run = Math.min(take - done, capacity - inShard);
                    MemorySegment.copy(
                            block.activations().data(), done * rowBytes, shard, inShard * rowBytes, run * rowBytes);
                    inShard += run;
                    done += run;
                    if (inShard == capacity) {
                        writeShard(staging, shards++, shard, inShard, d);
                        inShard = 0;
                    }
                }
                for (int i = 0; i < take; i++) {
                    int doc = block.documents()[i];
                    tokens.write(doc + "\t" + block.positions()[i] + "\t"
                            + escape(block.tokens().get(i)) + "\n");
                    lastDocument = Math.max(lastDocument, doc);
                }
                documents.writeUpTo(lastDocument, false);
                rows += take;
                if (progress) {
                    double s = (System.nanoTime() - start) / 1e9;
                    err.printf(
                            Locale.ROOT,
                            "\rextract: %d rows, %d%s documents, %.0f tok/s ",
                            rows,
                            lastDocument + 1,
                            totalDocuments < 0 ? "" : "/" + totalDocuments,
                            rows / Math.max(s, 1e-9));
                    err.flush();
                }
            }
            if (rows == 0) {
                throw documents.seen() == 0
                        ? corpus.noText()
                        : new IOException("the text of " + corpus.describe() + " yields no tokens");
            }
            if (inShard > 0) {
                writeShard(staging, shards++, shard, inShard, d);
            }
            documents.writeUpTo(lastDocument, true);
            if (progress) {
                err.println();
            }
        } catch (IOException | RuntimeException | Error e) {
            dir.abandon();
            throw e;
        }
        double seconds = (System.nanoTime() - start) / 1e9;

        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("model", config.model().label());
        summary.put("layer", config.layer());
        summary.put("site", config.site().label());
        summary.put("hook", config.hookName());
        summary.put("d", config.width());
        summary.put("max_length", config.maxLength());
        summary.put("batch_size", config.batchSize());
        summary.put("keep_special_tokens", config.keepSpecialTokens());
        summary.put("encoding", charset.name());
        summary.put("rows", rows);
        summary.put("shards", shards);
        summary.put("shard_tokens", shardTokens);
        summary.put("documents", lastDocument + 1);
        summary.put("seconds", seconds);
        summary.put("tokens_per_second", rows / Math.max(seconds, 1e-9));
        try {
            AtomicFiles.writeString(staging.resolve(SUMMARY), JsonCodec.writePretty(summary) + "\n");
            dir.commit();
        } catch (IOException | RuntimeException | Error e) {
            dir.abandon();
            throw e;
        }
        summary.put("out", dir.path().toString());
        spec.commandLine().getOut().println(JsonCodec.write(summary));
        return 0;
    }

    static String shardName(int index) {
        return String.format(Locale.ROOT, "activations-%05d.npy", index);
    }

    private static void writeShard(Path dir, int index, MemorySegment shard, long rows, int d) throws IOException {
        Npy.write(
                dir.resolve(shardName(index)),
                new Tensor(DType.F32, new long[] {rows, d}, shard.asSlice(0, rows * d * 4L)));
    }

    /** Escapes {@code \}, tab, newline (and carriage return) for one TSV field. */
    static String escape(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\\' -> sb.append("\\\\");
                case '\t' -> sb.append("\\t");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                default -> sb.append(c);
            }
        }
        return sb.toString();
    }

    private static boolean terminal() {
        Console console = System.console();
        return console != null && console.isTerminal();
    }
}
