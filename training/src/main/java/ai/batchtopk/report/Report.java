package ai.batchtopk.report;

import ai.batchtopk.Sae;
import ai.batchtopk.SaeLens;
import ai.batchtopk.io.AtomicFiles;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.TextFiles;
import ai.batchtopk.train.EvalLine;
import ai.batchtopk.train.MetricsLine;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code report.html} for a training run: one self-contained page (inline CSS and SVG, no scripts)
 * with the run's configuration, its curves over training ({@code metrics.jsonl}, {@code eval.jsonl}),
 * the per-token L0 and latent firing-density histograms of a data sample encoded with the inference
 * rule, and, for text data, the top-activating token contexts of a sample of latents.
 */
public final class Report {
    public static final String FILE = "report.html";

    private Report() {}

    /**
     * Writes {@code runDir/report.html} atomically.
     *
     * @return the file written
     * @throws ReportException when an input is missing or does not fit (no metrics.jsonl, the data's
     *     width is not the SAE's d_in...)
     * @throws IOException when a file cannot be read or written
     */
    public static Path write(Path runDir, ReportInputs inputs) throws IOException {
        if (!Files.isDirectory(runDir)) {
            throw new ReportException("run directory " + runDir + ": "
                    + (Files.exists(runDir) ? "not a directory" : "no such directory"));
        }
        Path saeDir = inputs.saeDir() != null ? inputs.saeDir() : runDir;
        Path metricsFile = inputs.metrics() != null ? inputs.metrics() : runDir.resolve("metrics.jsonl");
        if (!Files.isRegularFile(metricsFile)) {
            throw new ReportException("no training log " + metricsFile + ": give the output directory of a "
                    + "'batchtopk train' run (it writes metrics.jsonl)");
        }
        List<MetricsLine> metrics = readJsonLines(metricsFile, MetricsLine.class);
        if (metrics.isEmpty()) {
            throw new ReportException(metricsFile + " holds no metrics lines");
        }
        Path evalFile = inputs.eval() != null ? inputs.eval() : runDir.resolve("eval.jsonl");
        List<EvalLine> eval = Files.isRegularFile(evalFile) ? readJsonLines(evalFile, EvalLine.class) : List.of();
        if (inputs.eval() != null && !Files.isRegularFile(evalFile)) {
            throw new ReportException("eval file not found: " + evalFile);
        }
        Path cfgFile = saeDir.resolve(SaeLens.CONFIG_FILE);
        if (!Files.isRegularFile(cfgFile)) {
            throw new ReportException(
                    "no SAE in " + saeDir + " (" + SaeLens.CONFIG_FILE + " is missing); give --sae DIR");
        }
        JsonNode cfg = JsonCodec.readFile(cfgFile, JsonNode.class);
        if (!cfg.isObject()) {
            throw new ReportException(cfgFile + ": expected a JSON object");
        }

        ReportPage page = new ReportPage(runDir, saeDir, cfg, metrics, eval);
        List<Path> dataArgs = inputs.data().isEmpty() ? dataFromMetadata(cfg) : inputs.data();
        if (dataArgs.isEmpty()) {
            page.note("No activation data was given (--data) and the SAE's dataset_path is not readable here: "
                    + "the L0 and firing-density histograms and the latent contexts need a data sample.");
        } else {
            List<Path> files = ActivationFiles.resolve(dataArgs);
            try (Arena arena = Arena.ofConfined();
                    Sae sae = SaeLens.load(saeDir)) {
                ActivationFiles data = ActivationFiles.open(files, sae.dIn(), arena);
                ActivationSample sample = ActivationSample.encode(sae, data, inputs.sampleTokens(), 8);
                page.sample(sample, describe(files, data, sample));
                Path tokens = inputs.tokens() != null ? inputs.tokens() : findTokens(dataArgs);
                if (tokens == null) {
                    page.note(
                            "No token table (tokens.tsv) beside the data and none given with --tokens: no latent contexts.");
                } else if (inputs.latents() > 0) {
                    TokenContexts.Table table =
                            TokenContexts.read(tokens, Math.min(data.rows(), sample.tokens + TokenContexts.AFTER));
                    if (table.tokens().length < sample.tokens) {
                        throw new ReportException(
                                tokens + " has " + table.tokens().length + " lines but the sample has " + sample.tokens
                                        + " activation rows; the token table must have one line per row of the data");
                    }
                    int[] latents = TokenContexts.pick(sample.fires, inputs.latents(), inputs.seed());
                    page.contexts(tokens, latents.length, TokenContexts.html(table, sample, latents, sae, data));
                }
            }
        }
        Path out = runDir.resolve(FILE);
        AtomicFiles.writeString(out, page.html());
        return out;
    }

    /** One JSON object per line; a last line cut short (a killed run) is left out. */
    public static <T> List<T> readJsonLines(Path file, Class<T> type) throws IOException {
        List<String> lines = TextFiles.readLines(file, Long.MAX_VALUE);
        List<T> out = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) {
                continue;
            }
            try {
                out.add(JsonCodec.read(line, type));
            } catch (IllegalArgumentException e) {
                if (i == lines.size() - 1) {
                    break;
                }
                throw new ReportException(file + " line " + (i + 1) + ": " + e.getMessage(), e);
            }
        }
        return out;
    }

    /** The training data named in cfg.json, when every file is still there. */
    private static List<Path> dataFromMetadata(JsonNode cfg) {
        String paths = cfg.path("metadata").path("dataset_path").textValue();
        if (paths != null && !paths.isBlank()) {
            List<Path> files = Arrays.stream(paths.split(",")).map(Path::of).toList();
            if (files.stream().allMatch(Files::isRegularFile)) {
                return files;
            }
        }
        return List.of();
    }

    /** tokens.tsv in the first data directory, or beside the first data file. */
    private static Path findTokens(List<Path> dataArgs) {
        Path first = dataArgs.getFirst().toAbsolutePath();
        Path candidate = Files.isDirectory(first) ? first.resolve("tokens.tsv") : first.resolveSibling("tokens.tsv");
        return Files.isRegularFile(candidate) ? candidate : null;
    }

    private static String describe(List<Path> files, ActivationFiles data, ActivationSample sample) {
        String what =
                files.size() == 1 ? files.getFirst().toString() : files.size() + " files from " + files.getFirst();
        return String.format(
                "the first %,d of %,d rows of %s (d = %d, %s)",
                sample.tokens, data.rows(), what, data.width(), data.dtype());
    }
}
