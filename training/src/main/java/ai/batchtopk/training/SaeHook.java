package ai.batchtopk.training;

import ai.batchtopk.SaeLens;
import ai.batchtopk.extract.ExtractorConfig;
import ai.batchtopk.extract.Model;
import ai.batchtopk.extract.Site;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.MalformedFileException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * Where in the model an SAE reads its activations, for {@code eval --text}: the command line's
 * {@code --layer}/{@code --site} first, else the SAELens metadata of its {@code cfg.json}
 * ({@code hook_layer}, {@code hook_site}, or a {@code hook_name} of the model; {@code context_size}), else
 * the {@code extraction.json} of the activations it was trained on (found through {@code dataset_path}:
 * an SAE trained with {@code --data} on {@code extract}'s shards).
 */
final class SaeHook {
    /** What {@code extract} writes beside its shards (ExtractCommand's SUMMARY). */
    private static final String EXTRACTION = "extraction.json";

    private SaeHook() {}

    /**
     * The extraction that gives the SAE's activations from text.
     *
     * @throws CommandFailure if the hook is unknown or does not exist in the model
     */
    static ExtractorConfig resolve(Path saeDir, Integer layer, Site site) throws IOException {
        Map<String, Object> metadata = metadata(saeDir);
        Model model = Model.MINILM;
        Object modelName = metadata.get("model_name");
        if (modelName != null && !model.modelName().equals(modelName)) {
            throw new CommandFailure("the SAE " + saeDir + " was trained on " + modelName + " (cfg.json model_name);"
                    + " eval --text runs " + model.modelName());
        }
        Map<String, Object> extraction = extraction(metadata);
        Integer savedLayer = integer(metadata.get("hook_layer"));
        Site savedSite = site(metadata.get("hook_site"));
        Integer maxLength = integer(metadata.get("context_size"));
        String from = "cfg.json metadata";
        Object hookName = metadata.get("hook_name");
        if (savedLayer == null && hookName != null) {
            int[] found = find(model, hookName.toString());
            if (found == null && layer == null) {
                throw new CommandFailure("the SAE " + saeDir + " reads " + hookName + " (cfg.json hook_name), which is"
                        + " not a tensor of " + model.label() + "; give --layer and --site");
            }
            if (found != null) {
                savedLayer = found[0];
                savedSite = Site.values()[found[1]];
            }
        }
        if (savedLayer == null && extraction != null) {
            savedLayer = integer(extraction.get("layer"));
            savedSite = site(extraction.get("site"));
            maxLength = integer(extraction.get("max_length"));
            from = "the extraction.json of its training data";
        }
        int chosenLayer;
        if (layer != null) {
            chosenLayer = layer;
            from = "--layer";
        } else if (savedLayer != null) {
            chosenLayer = savedLayer;
        } else {
            throw new CommandFailure("the SAE " + saeDir + " does not say which layer it reads (no hook_layer in"
                    + " cfg.json metadata, no extraction.json beside its training data); give --layer and --site");
        }
        Site chosenSite = site != null ? site : savedSite != null ? savedSite : Site.RESID;
        if (chosenLayer < 0 || chosenLayer >= model.layers()) {
            throw new CommandFailure("the SAE's hook does not exist in the model: layer " + chosenLayer + " (" + from
                    + ") but " + model.label() + " has layers 0.." + (model.layers() - 1));
        }
        ExtractorConfig config = ExtractorConfig.of(model, chosenLayer, chosenSite);
        if (maxLength != null) {
            try {
                config = config.withMaxLength(maxLength);
            } catch (IllegalArgumentException e) {
                throw new CommandFailure(
                        "the SAE " + saeDir + " was trained on windows of " + maxLength + " tokens (" + from + "): "
                                + e.getMessage(),
                        e);
            }
        }
        return config;
    }

    /** {layer, site ordinal} of the model's tensor named {@code hookName}, or null. */
    private static int[] find(Model model, String hookName) {
        for (int l = 0; l < model.layers(); l++) {
            for (Site s : Site.values()) {
                if (model.hookName(l, s).equals(hookName)) {
                    return new int[] {l, s.ordinal()};
                }
            }
        }
        return null;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> metadata(Path saeDir) throws IOException {
        Path cfg = saeDir.resolve(SaeLens.CONFIG_FILE);
        Object parsed = JsonCodec.readFile(cfg, Object.class);
        if (parsed instanceof Map<?, ?> map && map.get("metadata") instanceof Map<?, ?> metadata) {
            return (Map<String, Object>) metadata;
        }
        return Map.of();
    }

    /** The extraction.json beside (or in) the first of the SAE's training data paths that has one. */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> extraction(Map<String, Object> metadata) throws IOException {
        Object paths = metadata.get("dataset_path");
        if (paths == null) {
            return null;
        }
        for (String p : paths.toString().split(",")) {
            if (p.isBlank()) {
                continue;
            }
            Path path = Path.of(p);
            Path candidate =
                    (Files.isDirectory(path) ? path : path.toAbsolutePath().getParent()).resolve(EXTRACTION);
            if (Files.isRegularFile(candidate)) {
                try {
                    if (JsonCodec.readFile(candidate, Object.class) instanceof Map<?, ?> map) {
                        return (Map<String, Object>) map;
                    }
                } catch (MalformedFileException e) {
                    throw new CommandFailure(e.getMessage(), e);
                }
            }
        }
        return null;
    }

    private static Integer integer(Object value) {
        return value instanceof Number n ? n.intValue() : null;
    }

    private static Site site(Object value) {
        if (value == null) {
            return null;
        }
        try {
            return Site.valueOf(value.toString().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new CommandFailure("unknown hook site '" + value + "' in the SAE's metadata; known: resid, mlp", e);
        }
    }
}
