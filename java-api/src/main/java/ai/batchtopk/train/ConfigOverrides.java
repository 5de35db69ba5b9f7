package ai.batchtopk.train;

import ai.batchtopk.Device;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.StepPath;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The training settings a run sets over the config of an SAE it loads (a checkpoint it resumes, an SAE it
 * starts from): null leaves the saved value. The saved seed made the saved parameters; a new one only
 * changes the shuffle order.
 */
public record ConfigOverrides(
        Double lr,
        Device device,
        StepPath path,
        Integer kAux,
        Double auxCoeff,
        Double l0Coeff,
        Double l1Coeff,
        Long deadAfterTokens,
        Long seed) {
    public static final ConfigOverrides NONE =
            new ConfigOverrides(null, null, null, null, null, null, null, null, null);

    /** The builder with these settings applied. */
    public SaeConfig.Builder apply(SaeConfig.Builder builder) {
        if (lr != null) builder.lr(lr);
        if (device != null) builder.device(device);
        if (path != null) builder.path(path);
        if (kAux != null) builder.kAux(kAux);
        if (auxCoeff != null) builder.auxCoeff(auxCoeff);
        if (l0Coeff != null) builder.l0Coeff(l0Coeff);
        if (l1Coeff != null) builder.l1Coeff(l1Coeff);
        if (deadAfterTokens != null) builder.deadAfterTokens(deadAfterTokens);
        if (seed != null) builder.seed(seed);
        return builder;
    }

    Map<String, Object> toJson() {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("lr", lr);
        json.put("device", device == null ? null : device.name());
        json.put("path", path == null ? null : path.name());
        json.put("k_aux", kAux);
        json.put("aux_coeff", auxCoeff);
        json.put("l0_coeff", l0Coeff);
        json.put("l1_coeff", l1Coeff);
        json.put("dead_after_tokens", deadAfterTokens);
        json.put("seed", seed);
        return json;
    }

    static ConfigOverrides fromJson(Map<?, ?> json) {
        return new ConfigOverrides(
                json.get("lr") instanceof Number n ? n.doubleValue() : null,
                json.get("device") instanceof String s ? Device.valueOf(s) : null,
                json.get("path") instanceof String s ? StepPath.valueOf(s) : null,
                json.get("k_aux") instanceof Number n ? n.intValue() : null,
                json.get("aux_coeff") instanceof Number n ? n.doubleValue() : null,
                json.get("l0_coeff") instanceof Number n ? n.doubleValue() : null,
                json.get("l1_coeff") instanceof Number n ? n.doubleValue() : null,
                json.get("dead_after_tokens") instanceof Number n ? n.longValue() : null,
                json.get("seed") instanceof Number n ? n.longValue() : null);
    }
}
