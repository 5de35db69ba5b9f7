package ai.batchtopk.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.Architecture;
import ai.batchtopk.Device;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.StepPath;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ConfigOverridesTest {
    private static final ConfigOverrides ALL =
            new ConfigOverrides(1e-3, Device.CPU, StepPath.NAIVE, 16, 0.5, 0.02, 0.03, 4096L, 7L);

    @Test
    void theLossWeightsApplyOverASavedConfig() {
        SaeConfig saved = SaeConfig.builder(8, 16)
                .architecture(Architecture.JUMPRELU)
                .l0Coeff(0.5)
                .l1Coeff(0.25)
                .build();
        SaeConfig applied = ALL.apply(saved.toBuilder()).build();
        assertThat(applied.l0Coeff()).isEqualTo(0.02);
        assertThat(applied.l1Coeff()).isEqualTo(0.03);
        assertThat(applied.lr()).isEqualTo(1e-3);
        assertThat(ConfigOverrides.NONE.apply(saved.toBuilder()).build()).isEqualTo(saved);
    }

    @Test
    void aSavedSpecificationKeepsEveryOverride() {
        assertThat(ConfigOverrides.fromJson(ALL.toJson())).isEqualTo(ALL);
        assertThat(ConfigOverrides.fromJson(ConfigOverrides.NONE.toJson())).isEqualTo(ConfigOverrides.NONE);
    }

    @Test
    void aSpecificationSavedBeforeTheLossWeightsLeavesThemAsSaved() {
        Map<String, Object> old = new HashMap<>(ALL.toJson());
        old.remove("l0_coeff");
        old.remove("l1_coeff");
        ConfigOverrides read = ConfigOverrides.fromJson(old);
        assertThat(read.l0Coeff()).isNull();
        assertThat(read.l1Coeff()).isNull();
        assertThat(read.lr()).isEqualTo(1e-3);
    }
}
