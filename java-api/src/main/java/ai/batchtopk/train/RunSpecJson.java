package ai.batchtopk.train;

import ai.batchtopk.Architecture;
import ai.batchtopk.ConfigJson;
import ai.batchtopk.data.ActivationFiles;
import ai.batchtopk.io.JsonCodec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@link RunSpec} as run.json keeps it ({@code "spec"}), so that {@link TrainingRun#resume(Path)}
 * needs nothing but the directory. Only data that a file can name again is kept: activation files.
 */
final class RunSpecJson {
    private RunSpecJson() {}

    /** What run.json holds besides the id: the specification, when its data can be saved. */
    static Map<String, Object> provenance(RunSpec spec) {
        Map<String, Object> data = spec.data().toJson();
        if (data == null) {
            return Map.of();
        }
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("data", data);
        List<Map<String, Object>> saes = new ArrayList<>();
        for (SaeSpec sae : spec.saes()) {
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("name", sae.name());
            if (sae.config() != null) {
                one.put("config", ConfigJson.toJson(sae.config()));
            } else {
                one.put("init", sae.init().toAbsolutePath().normalize().toString());
                one.put(
                        "architecture",
                        sae.architecture() == null ? null : sae.architecture().cliName());
                one.put("k", sae.k());
                one.put("matryoshka_widths", sae.matryoshkaWidths());
            }
            saes.add(one);
        }
        json.put("saes", saes);
        json.put("sweep", spec.sweep());
        json.put("batch_size", spec.batchSize());
        json.put("steps", spec.steps());
        json.put("lr_warmup_steps", spec.lrShape().warmupSteps());
        json.put("lr_decay", spec.lrShape().decay().name().toLowerCase(java.util.Locale.ROOT));
        json.put("lr_end_fraction", spec.lrShape().endFraction());
        json.put("overrides", spec.overrides().toJson());
        json.put(
                "eval_data",
                spec.evalData().stream()
                        .map(p -> p.toAbsolutePath().normalize().toString())
                        .toList());
        json.put("eval_tokens", spec.evalTokens());
        json.put("eval_every", spec.evalEvery());
        json.put("checkpoint_every", spec.checkpointEvery());
        json.put("log_every", spec.logEvery());
        json.put("prefetch", spec.prefetch());
        json.put("metadata", spec.metadata());
        return Map.of("spec", json);
    }

    /** The specification saved by {@link #provenance}, for the run in {@code out}. */
    @SuppressWarnings("unchecked")
    static RunSpec fromJson(Map<?, ?> json, Path out) {
        RunSpec.Builder builder = RunSpec.builder(ActivationFiles.fromJson((Map<?, ?>) json.get("data")), out);
        for (Object o : (List<?>) json.get("saes")) {
            Map<?, ?> sae = (Map<?, ?>) o;
            String name = (String) sae.get("name");
            if (sae.get("config") instanceof Map<?, ?> config) {
                builder.sae(SaeSpec.of(name, ConfigJson.fromJson(JsonCodec.parseTree(JsonCodec.write(config)))));
            } else {
                builder.sae(SaeSpec.init(
                        name,
                        Path.of((String) sae.get("init")),
                        sae.get("architecture") instanceof String a ? Architecture.fromCliName(a) : null,
                        sae.get("k") instanceof Number k ? k.intValue() : null,
                        sae.get("matryoshka_widths") instanceof List<?> widths
                                ? widths.stream()
                                        .map(w -> ((Number) w).longValue())
                                        .toList()
                                : null));
            }
        }
        if (json.get("eval_every") instanceof Number n) {
            builder.evalEvery(n.longValue());
        }
        if (json.get("log_every") instanceof Number n) {
            builder.logEvery(n.longValue());
        }
        return builder.sweep((Boolean) json.get("sweep"))
                .batchSize(number(json, "batch_size").longValue())
                .steps(number(json, "steps").longValue())
                .lrSchedule(new LrSchedule.Shape(
                        number(json, "lr_warmup_steps").longValue(),
                        LrSchedule.Decay.parse((String) json.get("lr_decay")),
                        number(json, "lr_end_fraction").doubleValue()))
                .overrides(ConfigOverrides.fromJson((Map<?, ?>) json.get("overrides")))
                .evalData(((List<?>) json.get("eval_data"))
                        .stream().map(p -> Path.of((String) p)).toList())
                .evalTokens(number(json, "eval_tokens").longValue())
                .checkpointEvery(number(json, "checkpoint_every").longValue())
                .prefetch(number(json, "prefetch").intValue())
                .metadata((Map<String, Object>) json.get("metadata"))
                .build();
    }

    private static Number number(Map<?, ?> json, String key) {
        if (!(json.get(key) instanceof Number n)) {
            throw new IllegalArgumentException("\"" + key + "\" is not a number: " + json.get(key));
        }
        return n;
    }
}
