package ai.batchtopk.report;

import ai.batchtopk.NativeLibrary;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code batchtopk report}: writes RUN/report.html and prints its path. */
@Command(
        name = "report",
        sortOptions = false,
        usageHelpAutoWidth = true,
        mixinStandardHelpOptions = false,
        description = "Write RUN/report.html: training curves, L0 and firing-density histograms of a data sample, "
                + "top-activating token contexts; prints its path.")
public final class ReportCommand implements Callable<Integer> {
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
            names = "--run",
            required = true,
            paramLabel = "DIR",
            description = "The output directory of a train run (metrics.jsonl).")
    Path run;

    @Option(names = "--sae", paramLabel = "DIR", description = "The SAELens directory (default: the run directory).")
    Path sae;

    @Option(
            names = "--data",
            paramLabel = "FILE.npy|DIR",
            description = "Activations to sample (repeatable; a directory means its activations-*.npy shards). "
                    + "Default: the SAE's dataset_path when readable.")
    List<Path> data = new ArrayList<>();

    @Option(
            names = "--tokens",
            paramLabel = "FILE.tsv",
            description = "Token table (doc, pos, token per data row). Default: tokens.tsv beside the data.")
    Path tokens;

    @Option(
            names = "--sample-tokens",
            paramLabel = "N",
            defaultValue = "16384",
            description = "Rows to encode, from the first (default: ${DEFAULT-VALUE}).")
    long sampleTokens;

    @Option(
            names = "--latents",
            paramLabel = "N",
            defaultValue = "24",
            description = "Latents to show in context (default: ${DEFAULT-VALUE}).")
    int latents;

    @Option(
            names = "--seed",
            paramLabel = "S",
            defaultValue = "0",
            description = "Picks the latents (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(
            names = "--threads",
            paramLabel = "N",
            description = "Native intra-op threads (default: the number of cores).")
    Integer threads;

    @Override
    public Integer call() throws IOException {
        if (sampleTokens <= 0) {
            throw new ParameterException(spec.commandLine(), "--sample-tokens must be positive, got " + sampleTokens);
        }
        if (latents < 0) {
            throw new ParameterException(spec.commandLine(), "--latents must be at least 0, got " + latents);
        }
        if (threads != null && threads <= 0) {
            throw new ParameterException(spec.commandLine(), "--threads must be positive, got " + threads);
        }
        try {
            NativeLibrary.setNumThreads(
                    threads != null ? threads : Runtime.getRuntime().availableProcessors());
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--threads: " + e.getMessage());
        }
        ReportInputs inputs = ReportInputs.defaults()
                .withSae(sae)
                .withData(data)
                .withTokens(tokens)
                .withSampleTokens(sampleTokens)
                .withLatents(latents)
                .withSeed(seed);
        Path written = Report.write(run, inputs);
        spec.commandLine().getOut().println(written.toAbsolutePath().normalize());
        return 0;
    }
}
