package ai.batchtopk.training;

import ai.batchtopk.Architecture;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.SaeLens;
import ai.batchtopk.data.ActivationData;
import ai.batchtopk.data.ActivationFiles;
import ai.batchtopk.data.DataSource;
import ai.batchtopk.data.RowOrder;
import ai.batchtopk.extract.ExtractorConfig;
import ai.batchtopk.extract.Model;
import ai.batchtopk.extract.Site;
import ai.batchtopk.extract.TextCorpus;
import ai.batchtopk.io.DType;
import ai.batchtopk.train.ConfigOverrides;
import ai.batchtopk.train.LrSchedule;
import ai.batchtopk.train.RunListener;
import ai.batchtopk.train.RunSpec;
import ai.batchtopk.train.SaeSpec;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The {@code train} options, checked ({@link TrainOptionChecks}), turned into the library's {@link RunSpec}:
 * the data source, the SAEs (new ones, or the {@code --init} directory), the schedule, what run.json keeps
 * (the arguments, so that {@code --resume} parses them again) and the SAELens metadata. What the machine
 * cannot hold is refused here, before anything is allocated ({@link ResourceLimits}).
 */
final class TrainSpecs {
    private final TrainCommand c;
    private final boolean resuming;

    TrainSpecs(TrainCommand options, boolean resuming) {
        this.c = options;
        this.resuming = resuming;
    }

    RunSpec build(RunListener listener) throws IOException {
        List<SweepGrid.Variant> variants = Sweep.variants(c);
        DataSource source;
        long width;
        if (c.input.text != null) {
            ExtractorConfig config = extractorConfig(c);
            width = config.width();
            ResourceLimits.checkTrain(c.spec.commandLine(), c.prefetch, c.batchSize, width, DType.F32, dSaes(variants));
            source = new TextData(c.input.text, textEncoding(), config);
        } else {
            // A first look at the files (headers only) for their width; the run maps them again.
            DType dtype;
            try (Arena arena = Arena.ofConfined()) {
                ActivationData files = ActivationData.open(c.input.data, arena);
                if (c.batchSize > files.rows()) {
                    throw new CommandFailure(
                            "--batch-size " + c.batchSize + " is larger than the data (" + files.describe() + ")");
                }
                width = files.width();
                dtype = files.dtype();
            }
            ResourceLimits.checkTrain(c.spec.commandLine(), c.prefetch, c.batchSize, width, dtype, dSaes(variants));
            source = new ActivationFiles(
                    c.input.data, c.shuffle ? new RowOrder(true, c.shuffleBuffer) : RowOrder.SEQUENTIAL);
        }
        RunSpec.Builder run = RunSpec.builder(source, c.out).sweep(c.sweeping());
        for (SweepGrid.Variant variant : variants) {
            run.sae(
                    c.init == null
                            ? SaeSpec.of(variant.name(), newConfig(width, variant))
                            : SaeSpec.init(variant.name(), c.init, c.architecture, c.k, c.matryoshkaWidths));
        }
        if (c.init != null) {
            checkAgainstInit();
        }
        if (c.evalEvery != null) {
            run.evalEvery(c.evalEvery);
        }
        if (c.logEvery != null) {
            run.logEvery(c.logEvery);
        }
        try {
            return run.batchSize(c.batchSize)
                    .steps(c.steps())
                    .lrSchedule(
                            new LrSchedule.Shape(c.lrWarmupSteps, LrSchedule.Decay.parse(c.lrDecay), c.lrEndFraction))
                    .overrides(overrides())
                    .evalData(c.evalData == null ? List.of() : c.evalData)
                    .evalTokens(c.evalTokens)
                    .checkpointEvery(c.checkpointEvery)
                    .prefetch(c.prefetch)
                    .overwrite(c.overwrite)
                    .metadata(metadata())
                    .provenance(resuming ? Map.of() : provenance())
                    .listener(listener)
                    .build();
        } catch (IllegalArgumentException e) {
            throw c.usage(e.getMessage());
        }
    }

    /** d_sae of each SAE as one process holds it: with --parallel latents, its shard's (at most). */
    private List<Long> dSaes(List<SweepGrid.Variant> variants) {
        boolean sharded = "latents".equals(c.parallel) && c.group != null;
        return variants.stream()
                .map(v -> sharded && v.dSae() != null ? (Long) Math.ceilDiv(v.dSae(), c.group.worldSize()) : v.dSae())
                .toList();
    }

    /** The settings this run sets over a saved config (and over the library's defaults for a new one). */
    private ConfigOverrides overrides() {
        return new ConfigOverrides(
                c.lr, c.device, c.path, c.kAux, c.auxCoeff, c.l0Coeff, c.l1Coeff, c.deadAfterTokens, c.seed);
    }

    /** The config of a new SAE: what was given, library defaults for the rest. */
    private SaeConfig newConfig(long dIn, SweepGrid.Variant variant) {
        SaeConfig.Builder builder = SaeConfig.builder(dIn, variant.dSae()).architecture(variant.architecture());
        if (variant.k() != null) {
            builder.k(variant.k());
        }
        if (c.matryoshkaWidths != null && variant.architecture() == Architecture.MATRYOSHKA_BATCHTOPK) {
            builder.matryoshkaWidths(c.matryoshkaWidths);
        }
        if (variant.l0Coeff() != null) {
            builder.l0Coeff(variant.l0Coeff());
        }
        if (variant.l1Coeff() != null) {
            builder.l1Coeff(variant.l1Coeff());
        }
        if (c.normalization != null) {
            builder.normalization(c.normalization);
        }
        try {
            return overrides().apply(builder).build();
        } catch (IllegalArgumentException e) {
            throw c.usage(e.getMessage());
        }
    }

    /**
     * What {@code --init} gives must not contradict options given explicitly, nor be replaced by a run of
     * another architecture in the same directory.
     */
    private void checkAgainstInit() throws IOException {
        if (!Files.isDirectory(c.init)) {
            return; // the library names the missing directory
        }
        SaeConfig saved = SaeLens.config(c.init);
        if (!resuming
                && c.architecture != null
                && Files.exists(c.out)
                && Files.isSameFile(c.out, c.init)
                && saved.architecture() != c.architecture) {
            throw c.usage("--out " + c.out + " is the --init directory: a run of another architecture would replace"
                    + " the SAE it starts from; give another --out");
        }
        if (c.dSae != null && c.dSae != saved.dSae()) {
            throw conflict("--d-sae " + c.dSae, "d_sae = " + saved.dSae());
        }
        boolean warmStart = c.architecture != null && c.architecture != saved.architecture();
        if (c.k != null && saved.architecture().usesK() && !warmStart && c.k != saved.k()) {
            throw conflict("--k " + c.k, "k = " + saved.k());
        }
        if (c.matryoshkaWidths != null && !warmStart && !c.matryoshkaWidths.equals(saved.matryoshkaWidths())) {
            throw conflict(
                    "--matryoshka-widths " + widthsText(c.matryoshkaWidths),
                    saved.matryoshkaWidths().isEmpty()
                            ? "architecture " + saved.architecture().cliName()
                            : "matryoshka widths " + widthsText(saved.matryoshkaWidths()));
        }
        if (c.normalization != null && c.normalization != saved.normalization()) {
            throw conflict(
                    "--normalize " + c.normalization.cliName(),
                    "normalization " + saved.normalization().cliName());
        }
    }

    private static String widthsText(List<Long> widths) {
        return widths.stream().map(String::valueOf).collect(java.util.stream.Collectors.joining(","));
    }

    private RuntimeException conflict(String given, String saved) {
        return c.usage(given + " conflicts with the --init SAE " + c.init + ", which has " + saved
                + "; leave the option out or give the saved value");
    }

    /** The charset of --encoding (a usage error if unknown). */
    private Charset textEncoding() {
        try {
            return c.encoding == null ? StandardCharsets.UTF_8 : TextCorpus.charset(c.encoding);
        } catch (IllegalArgumentException e) {
            throw c.usage(e.getMessage());
        }
    }

    /** The extraction --text asks for (usage errors for impossible values). */
    static ExtractorConfig extractorConfig(TrainCommand c) {
        try {
            return new ExtractorConfig(
                    Model.of(c.model != null ? c.model : "minilm"),
                    c.layer,
                    c.site != null ? c.site : Site.RESID,
                    c.maxLength != null ? c.maxLength : ExtractorConfig.DEFAULT_MAX_LENGTH,
                    c.extractBatchSize != null ? c.extractBatchSize : ExtractorConfig.DEFAULT_BATCH_SIZE,
                    false,
                    0);
        } catch (IllegalArgumentException e) {
            throw c.usage(e.getMessage());
        }
    }

    /** SAELens's metadata in cfg.json: where the activations came from. */
    private Map<String, Object> metadata() {
        Map<String, Object> metadata = new LinkedHashMap<>();
        List<Path> sources = c.input.text != null ? c.input.text : c.input.data;
        metadata.put(
                "dataset_path",
                sources.stream()
                        .map(p -> p.toAbsolutePath().normalize().toString())
                        .collect(Collectors.joining(",")));
        if (c.input.text != null) {
            ExtractorConfig config = extractorConfig(c);
            metadata.put("model_name", config.model().modelName());
            metadata.put("hook_name", config.hookName());
            metadata.put("hook_layer", config.layer());
            metadata.put("hook_site", config.site().label());
            metadata.put("context_size", config.maxLength());
            metadata.put("prepend_bos", false);
        }
        return metadata;
    }

    /** run.json: the arguments as given, data paths made absolute, and for --text what it extracts. */
    private Map<String, Object> provenance() {
        Map<String, Object> provenance = new LinkedHashMap<>();
        provenance.put("args", savedArgs());
        if (c.input.text != null) {
            ExtractorConfig config = extractorConfig(c);
            Map<String, Object> source = new LinkedHashMap<>();
            source.put(
                    "text",
                    c.input.text.stream()
                            .map(p -> p.toAbsolutePath().normalize().toString())
                            .toList());
            source.put("model", config.model().label());
            source.put("model_name", config.model().modelName());
            source.put("layer", config.layer());
            source.put("site", config.site().label());
            source.put("hook_name", config.hookName());
            source.put("d", config.width());
            source.put("max_length", config.maxLength());
            source.put("extract_batch_size", config.batchSize());
            provenance.put("extraction", source);
        }
        return provenance;
    }

    private List<String> savedArgs() {
        List<String> all = c.spec.commandLine().getParseResult().originalArgs();
        // The whole command line: keep what follows the subcommand's name.
        int at = all.indexOf(c.spec.name());
        List<String> original = at >= 0 ? all.subList(at + 1, all.size()) : all;
        List<String> args = new ArrayList<>();
        Set<String> pathOptions = Set.of("--data", "--text", "--eval-data", "--init");
        for (int i = 0; i < original.size(); i++) {
            String arg = original.get(i);
            if (arg.equals("--debug") || arg.equals("--overwrite")) {
                continue;
            }
            int eq = arg.indexOf('=');
            if (arg.startsWith("--") && eq > 0 && pathOptions.contains(arg.substring(0, eq))) {
                args.add(arg.substring(0, eq));
                args.add(absolute(arg.substring(eq + 1)));
            } else if (pathOptions.contains(arg) && i + 1 < original.size()) {
                args.add(arg);
                args.add(absolute(original.get(++i)));
            } else {
                args.add(arg);
            }
        }
        return args;
    }

    private static String absolute(String path) {
        return Path.of(path).toAbsolutePath().normalize().toString();
    }
}
