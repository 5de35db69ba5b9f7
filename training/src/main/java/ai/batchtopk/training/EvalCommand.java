package ai.batchtopk.training;

import ai.batchtopk.BatchTopKException;
import ai.batchtopk.EvalResult;
import ai.batchtopk.Evaluator;
import ai.batchtopk.NativeLibrary;
import ai.batchtopk.Sae;
import ai.batchtopk.SaeLens;
import ai.batchtopk.Status;
import ai.batchtopk.data.ActivationData;
import ai.batchtopk.data.NonFiniteValue;
import ai.batchtopk.data.RowOrigin;
import ai.batchtopk.extract.ExtractorConfig;
import ai.batchtopk.extract.Site;
import ai.batchtopk.extract.SplicedModel;
import ai.batchtopk.extract.TextChunk;
import ai.batchtopk.extract.TextCorpus;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import ai.batchtopk.train.MetricsLog;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code batchtopk eval}: reconstruction quality of an SAE on activation files, with the inference
 * rule, printed as one JSON line; with {@code --dictionary}, also how well it recovered known features; with
 * {@code --text}, on the model's activations of that text and with the SAE spliced into the model.
 */
@Command(
        name = "eval",
        sortOptions = false,
        usageHelpAutoWidth = true,
        description = "Evaluate an SAE on activation files, or spliced into the model on text; prints one JSON line.")
final class EvalCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Spec
    CommandSpec spec;

    @Option(names = "--sae", required = true, paramLabel = "DIR", description = "An SAELens directory.")
    Path saeDir;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    /** What to evaluate on: activation files or text, exactly one (picocli says so otherwise). */
    static final class Input {
        @Option(names = "--data", required = true, paramLabel = "FILE.npy", description = "Activations; repeatable.")
        List<Path> data;

        @Option(
                names = "--text",
                required = true,
                paramLabel = "FILE|DIR",
                description = "Instead of --data: text run through the model, the SAE spliced in at its hook; adds the"
                        + " downstream_* figures. Repeatable.")
        List<Path> text;
    }

    @Option(
            names = "--layer",
            paramLabel = "L",
            description = "With --text: the hooked layer (default: from the SAE's cfg.json metadata).")
    Integer layer;

    @Option(
            names = "--site",
            paramLabel = "resid|mlp",
            description = "With --text: the hooked site (default: from the SAE's cfg.json metadata, else resid).")
    Site site;

    @Option(
            names = "--batch-size",
            defaultValue = "4096",
            paramLabel = "B",
            description = "Tokens per evaluation batch (default: ${DEFAULT-VALUE}).")
    long batchSize;

    @Option(
            names = "--dictionary",
            paramLabel = "TRUE_DICT.npy",
            description = "[n_true, d] true feature directions: adds dictionary_recovery.")
    Path dictionary;

    @Option(
            names = "--threads",
            paramLabel = "N",
            description = "Native intra-op threads (default: the number of cores; some libtorch builds default to 1).")
    Integer threads;

    @Override
    public Integer call() throws IOException {
        if (batchSize <= 0) {
            throw new ParameterException(spec.commandLine(), "--batch-size must be positive, got " + batchSize);
        }
        if (threads != null && threads <= 0) {
            throw new ParameterException(spec.commandLine(), "--threads must be positive, got " + threads);
        }
        if (input.text == null && (layer != null || site != null)) {
            throw new ParameterException(spec.commandLine(), "--layer and --site go with --text");
        }
        ResourceLimits.checkThreads(spec.commandLine(), threads);
        NativeLibrary.setNumThreads(
                threads != null ? threads : Runtime.getRuntime().availableProcessors());
        if (input.text != null) {
            return evaluateText();
        }
        try (Arena arena = Arena.ofConfined()) {
            ActivationData activations = ActivationData.open(input.data, arena);
            checkSaeDir();
            try (Sae sae = SaeLens.load(saeDir)) {
                if (sae.dIn() != activations.width()) {
                    throw new CommandFailure("the data has width d = " + activations.width() + " ("
                            + activations.describe() + ") but the SAE " + saeDir + " has d_in = " + sae.dIn());
                }
                Map<String, Object> line = evaluate(sae, activations);
                if (dictionary != null) {
                    line.put("dictionary_recovery", recovery(sae, arena));
                }
                spec.commandLine().getOut().println(JsonCodec.write(line));
                return Main.OK;
            }
        }
    }

    /** {@code --text}: the SAE spliced into the model at its hook ({@link DownstreamFidelity}). */
    private int evaluateText() throws IOException {
        checkSaeDir();
        List<String> documents = documentsOf(input.text);
        try (Sae sae = SaeLens.load(saeDir);
                Arena arena = Arena.ofConfined()) {
            ExtractorConfig config = SaeHook.resolve(saeDir, layer, site);
            if (sae.dIn() != config.width()) {
                throw new CommandFailure("the SAE " + saeDir + " has d_in = " + sae.dIn() + " but "
                        + config.model().label()
                        + "'s layer " + config.layer() + " " + config.site().label() + " activations have d = "
                        + config.width());
            }
            try (SplicedModel model = SplicedModel.open(config)) {
                Map<String, Object> line = DownstreamFidelity.measure(sae, model, documents);
                if (dictionary != null) {
                    line.put("dictionary_recovery", recovery(sae, arena));
                }
                spec.commandLine().getOut().println(JsonCodec.write(line));
                return Main.OK;
            }
        }
    }

    /**
     * The documents of the text files, whole: the spliced model windows each one as {@code extract} does.
     * The text is checked as {@code extract} checks it (UTF-8, not binary), with the file named.
     */
    static List<String> documentsOf(List<Path> text) {
        List<StringBuilder> documents = new ArrayList<>();
        try {
            TextCorpus corpus = TextCorpus.open(text, StandardCharsets.UTF_8);
            for (Iterator<TextChunk> chunks = corpus.chunks(); chunks.hasNext(); ) {
                TextChunk chunk = chunks.next();
                while (documents.size() <= chunk.document()) {
                    documents.add(new StringBuilder());
                }
                documents.get(chunk.document()).append(chunk.text());
            }
        } catch (IOException | UncheckedIOException e) {
            String message = e instanceof UncheckedIOException u ? u.getCause().getMessage() : e.getMessage();
            throw new CommandFailure("--text: " + message, e);
        }
        return documents.stream().map(StringBuilder::toString).toList();
    }

    private void checkSaeDir() {
        if (!Files.isDirectory(saeDir)) {
            throw new CommandFailure(
                    "--sae " + saeDir + ": " + (Files.exists(saeDir) ? "not a directory" : "no such directory"));
        }
    }

    /**
     * Every row once, in batches that never span two files, each copied off-heap into one staging buffer
     * first: a file truncated meanwhile is then an error naming it, not a crash in native code.
     *
     * @throws CommandFailure naming the file and row of a NaN or an infinity, or why the data has no NMSE
     */
    private Map<String, Object> evaluate(Sae sae, ActivationData activations) {
        long largest = activations.parts().stream()
                .mapToLong(ActivationData.Part::rowCount)
                .max()
                .orElseThrow();
        ResourceLimits.checkEval(
                spec.commandLine(),
                batchSize,
                Math.min(batchSize, largest),
                activations.width(),
                activations.dtype(),
                sae.dSae());
        try (Evaluator evaluator = new Evaluator(sae);
                Arena staging = Arena.ofConfined()) {
            MemorySegment buffer = staging.allocate(Math.min(batchSize, largest) * activations.rowBytes(), 64);
            for (ActivationData.Part part : activations.parts()) {
                for (long first = 0; first < part.rowCount(); first += batchSize) {
                    long rows = Math.min(batchSize, part.rowCount() - first);
                    Tensor batch = part.copyRows(first, rows, buffer);
                    try {
                        evaluator.add(batch);
                    } catch (BatchTopKException e) {
                        Optional<NonFiniteValue> bad =
                                e.status() == Status.NON_FINITE ? NonFiniteValue.firstIn(batch) : Optional.empty();
                        if (bad.isEmpty()) {
                            throw e;
                        }
                        throw new CommandFailure(
                                RowOrigin.of(
                                                activations,
                                                part.firstRow()
                                                        + first
                                                        + bad.get().row()) + " holds "
                                        + bad.get().describe() + "; evaluation needs finite activations",
                                e);
                    }
                }
            }
            EvalResult result;
            try {
                result = evaluator.result();
            } catch (BatchTopKException e) {
                throw new CommandFailure("cannot evaluate on " + activations.describe() + ": " + e.nativeMessage(), e);
            }
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("nmse", MetricsLog.finite(result.nmse()));
            MetricsLog.putPrefixNmse(line, result);
            line.put("explained_variance", MetricsLog.finite(result.explainedVariance()));
            line.put("l0", MetricsLog.finite(result.l0()));
            line.put("dead_fraction", result.deadFraction());
            line.put("tokens", result.tokens());
            return line;
        }
    }

    private double recovery(Sae sae, Arena arena) throws IOException {
        if (!Files.exists(dictionary)) {
            throw new CommandFailure("dictionary file not found: " + dictionary);
        }
        Tensor truth = Npy.map(dictionary, arena, DType.BF16);
        if (!truth.dtype().isFloatingPoint() || truth.rank() != 2 || truth.dim(0) == 0 || truth.dim(1) != sae.dIn()) {
            throw new CommandFailure(dictionary + ": a dictionary must be a float [n_true, d_in = " + sae.dIn()
                    + "] matrix, got " + truth.dtype() + " " + Arrays.toString(truth.shape()));
        }
        return DictionaryRecovery.meanBestCosine(truth, sae.state("W_dec", arena));
    }
}
