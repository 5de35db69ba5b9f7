package ai.batchtopk.training;

import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.Npy;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code batchtopk synth}: writes toy activations with a known dictionary ({@link SyntheticData}),
 * to try training end to end and to measure recovery with {@code eval --dictionary}.
 */
@Command(
        name = "synth",
        sortOptions = false,
        usageHelpAutoWidth = true,
        description = "Write sparse-superposition toy data: DIR/activations.npy [T, D] and DIR/dictionary.npy [N, D].")
final class SynthCommand implements Callable<Integer> {
    static final String ACTIVATIONS = "activations.npy";
    static final String DICTIONARY = "dictionary.npy";

    @Mixin
    CommonOptions common;

    @Spec
    CommandSpec spec;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory to write into.")
    Path out;

    @Option(names = "--d-in", required = true, paramLabel = "D", description = "Width of each token.")
    long dIn;

    @Option(names = "--features", required = true, paramLabel = "N", description = "Number of true directions.")
    long features;

    @Option(names = "--tokens", required = true, paramLabel = "T", description = "Number of tokens (rows).")
    long tokens;

    @Option(
            names = "--active",
            defaultValue = "4",
            paramLabel = "A",
            description = "Features active in each token (default: ${DEFAULT-VALUE}).")
    int active;

    @Option(
            names = "--noise",
            defaultValue = "0.01",
            paramLabel = "STD",
            description = "Std of the Gaussian noise added (default: ${DEFAULT-VALUE}).")
    double noise;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "S", description = "Seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Override
    public Integer call() throws IOException {
        SyntheticData.Spec data;
        try {
            data = new SyntheticData.Spec(dIn, features, tokens, active, noise, seed);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        ResourceLimits.checkSynth(spec.commandLine(), tokens, features, dIn);
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new CommandFailure("--out " + out + " exists and is not a directory");
        }
        Files.createDirectories(out);
        Path activations = out.resolve(ACTIVATIONS);
        Path dictionary = out.resolve(DICTIONARY);
        // The two files are a pair: both are written into a staging directory first, so a failed write
        // (a full disk) leaves the earlier pair as it was, never a new dictionary beside old activations.
        Path staging = Files.createTempDirectory(out, ".synth.tmp-");
        try (Arena arena = Arena.ofConfined()) {
            SyntheticData.Generated generated = SyntheticData.generate(data, arena);
            Npy.write(staging.resolve(DICTIONARY), generated.dictionary());
            Npy.write(staging.resolve(ACTIVATIONS), generated.activations());
            // Activations go first and come back last: a crash in between leaves a pair with a file
            // missing (a clear error when read), not two files of different runs.
            Files.deleteIfExists(activations);
            Files.move(
                    staging.resolve(DICTIONARY),
                    dictionary,
                    StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
            Files.move(staging.resolve(ACTIVATIONS), activations, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(staging.resolve(DICTIONARY));
            Files.deleteIfExists(staging.resolve(ACTIVATIONS));
            Files.deleteIfExists(staging);
        }
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("activations", activations.toAbsolutePath().normalize().toString());
        line.put("dictionary", dictionary.toAbsolutePath().normalize().toString());
        line.put("tokens", tokens);
        line.put("d_in", dIn);
        line.put("features", features);
        line.put("active", active);
        line.put("noise", noise);
        line.put("seed", seed);
        spec.commandLine().getOut().println(JsonCodec.write(line));
        return Main.OK;
    }
}
