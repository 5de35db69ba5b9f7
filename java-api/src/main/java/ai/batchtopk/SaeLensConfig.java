package ai.batchtopk;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import java.util.List;
import java.util.Map;

/**
 * The keys of a SAELens {@code cfg.json} that this library writes or reads (see FORMATS.md), in the
 * order it writes them; a null key is left out. SAELens writes many more, which are ignored.
 *
 * @param k an integer for TopK, a float (an average) for SAELens's BatchTopK
 * @param topkThresholdLr SAELens BatchTopK's theta momentum (read only)
 * @param matryoshkaWidths SAELens Matryoshka BatchTopK's cumulative widths (read only)
 * @param metadata model, hook and data set the SAE was trained on (values may be null)
 * @param batchtopk our own config: {@link ConfigJson}'s object plus theta
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
@JsonInclude(JsonInclude.Include.NON_NULL)
record SaeLensConfig(
        Long dIn,
        Long dSae,
        String dtype,
        String device,
        @JsonProperty("apply_b_dec_to_input") Boolean applyBDecToInput,
        String normalizeActivations,
        String reshapeActivations,
        String architecture,
        Number k,
        Boolean rescaleActsByDecoderNorm,
        Number topkThresholdLr,
        List<Long> matryoshkaWidths,
        Map<String, Object> metadata,
        JsonNode batchtopk) {}
