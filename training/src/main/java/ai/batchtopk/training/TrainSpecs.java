package ai.batchtopk.training;

import ai.batchtopk.Architecture;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.SaeLens;
import ai.batchtopk.data.ActivationData;
import ai.batchtopk.data.ActivationFiles;
import ai.batchtopk.data.DataSource;
import ai.batchtopk.data.RowOrder;
import ai.batchtopk.extract.ExtractorConfig;
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
            ResourceLimits.checkTrain(
                    c.spec.commandLine(), c.loading.prefetch, c.schedule.batchSize, width, DType.F32, dSaes(variants));
            source = new TextData(c.input.text, textEncoding(), config);
        } else {
            // A first look at the files (headers only) for their width; the run maps them again.
            DType dtype;
            try (Arena arena = Arena.ofConfined()) {
                ActivationData files = ActivationData.open(c.input.data, arena);
                if (c.schedule.batchSize > files.rows()) {
                    throw new CommandFailure("--batch-size " + c.schedule.batchSize + " is larger than the data ("
                            + files.describe() + ")");
                }
                width = files.width();
                dtype = files.dtype();
            }
            ResourceLimits.checkTrain(
                    c.spec.commandLine(), c.loading.prefetch, c.schedule.batchSize, width, dtype, dSaes(variants));
            source = new ActivationFiles(
                    c.input.data,
                    c.loading.shuffle ? new RowOrder(true, c.loading.shuffleBuffer) : RowOrder.SEQUENTIAL);
        }
        RunSpec.Builder run = RunSpec.builder(source, c.output.out).sweep(c.sae.sweeping());
        for (SweepGrid.Variant variant : variants) {
            run.sae(
                    c.sae.init == null
                            ? SaeSpec.of(variant.name(), newConfig(width, variant))
                            : SaeSpec.init(
                                    variant.name(), c.sae.init, c.sae.architecture, c.sae.k, c.sae.matryoshkaWidths));
        }
        if (c.sae.init != null) {
            checkAgainstInit();
        }
        if (c.eval.evalEvery != null) {
            run.evalEvery(c.eval.evalEvery);
        }
        if (c.output.logEvery != null) {
            run.logEvery(c.output.logEvery);
        }
        try {
            return run.batchSize(c.schedule.batchSize)
                    .steps(c.steps())
                    .lrSchedule(new LrSchedule.Shape(
                            c.schedule.lrWarmupSteps,
                            LrSchedule.Decay.parse(c.schedule.lrDecay),
                            c.schedule.lrEndFraction))
                    .overrides(overrides())
                    .evalData(c.eval.evalData == null ? List.of() : c.eval.evalData)
                    .evalTokens(c.eval.evalTokens)
                    .checkpointEvery(c.output.checkpointEvery)
                    .prefetch(c.loading.prefetch)
                    .overwrite(c.output.overwrite)
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
        SaeOptions s = c.sae;
        return new ConfigOverrides(
                c.schedule.lr, s.device, s.path, s.kAux, s.auxCoeff, s.l0Coeff, s.l1Coeff, s.deadAfterTokens, s.seed);
    }

    /** The config of a new SAE: what was given, library defaults for the rest. */
    private SaeConfig newConfig(long dIn, SweepGrid.Variant variant) {
        SaeConfig.Builder builder = SaeConfig.builder(dIn, variant.dSae()).architecture(variant.architecture());
        if (variant.k() != null) {
            builder.k(variant.k());
        }
        if (c.sae.matryoshkaWidths != null && variant.architecture() == Architecture.MATRYOSHKA_BATCHTOPK) {
            builder.matryoshkaWidths(c.sae.matryoshkaWidths);
        }
        if (variant.l0Coeff() != null) {
            builder.l0Coeff(variant.l0Coeff());
        }
        if (variant.l1Coeff() != null) {
            builder.l1Coeff(variant.l1Coeff());
        }
        if (c.sae.normalization != null) {
            builder.normalization(c.sae.normalization);
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
        if (!Files.isDirectory(c.sae.init)) {
            return; // the library names the missing directory
        }
        SaeConfig saved = SaeLens.config(c.sae.init);
        if (!resuming
                && c.sae.architecture != null
                && Files.exists(c.output.out)
                && Files.isSameFile(c.output.out, c.sae.init)
                && saved.architecture() != c.sae.architecture) {
            throw c.usage(
                    "--out " + c.output.out + " is the --init directory: a run of another architecture would replace"
                            + " the SAE it starts from; give another --out");
        }
        if (c.sae.dSae != null && c.sae.dSae != saved.dSae()) {
            throw conflict("--d-sae " + c.sae.dSae, "d_sae = " + saved.dSae());
        }
        boolean warmStart = c.sae.architecture != null && c.sae.architecture != saved.architecture();
        if (c.sae.k != null && saved.architecture().usesK() && !warmStart && c.sae.k != saved.k()) {
            throw conflict("--k " + c.sae.k, "k = " + saved.k());
        }
        if (c.sae.matryoshkaWidths != null && !warmStart && !c.sae.matryoshkaWidths.equals(saved.matryoshkaWidths())) {
            throw conflict(
                    "--matryoshka-widths " + widthsText(c.sae.matryoshkaWidths),
                    saved.matryoshkaWidths().isEmpty()
                            ? "architecture " + saved.architecture().cliName()
                            : "matryoshka widths " + widthsText(saved.matryoshkaWidths()));
        }
        if (c.sae.normalization != null && c.sae.normalization != saved.normalization()) {
            throw conflict(
                    "--normalize " + c.sae.normalization.cliName(),
                    "normalization " + saved.normalization().cliName());
        }
    }

    private static String widthsText(List<Long> widths) {
        return widths.stream().map(String::valueOf).collect(java.util.stream.Collectors.joining(","));
    }

    private RuntimeException conflict(String given, String saved) {
        return c.usage(given + " conflicts with the --init SAE " + c.sae.init + ", which has " + saved
                + "; leave the option out or give the saved value");
    }

    /** The charset of --encoding (a usage error if unknown). */
    private Charset textEncoding() {
        try {
            return c.extraction.encoding == null ? StandardCharsets.UTF_8 : TextCorpus.charset(c.extraction.encoding);
        } catch (IllegalArgumentException e) {
            throw c.usage(e.getMessage());
        }
    }

    /** The extraction --text asks for (usage errors for impossible values). */
    static ExtractorConfig extractorConfig(TrainCommand c) {
        try {
            return c.extraction.config();
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
