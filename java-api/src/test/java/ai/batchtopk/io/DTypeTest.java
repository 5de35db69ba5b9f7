package ai.batchtopk.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class DTypeTest {
    @Test
    void sizesAndNames() {
        assertThat(DType.F32.byteSize()).isEqualTo(4);
        assertThat(DType.F64.byteSize()).isEqualTo(8);
        assertThat(DType.F16.byteSize()).isEqualTo(2);
        assertThat(DType.BF16.byteSize()).isEqualTo(2);
        assertThat(DType.I64.byteSize()).isEqualTo(8);
        assertThat(DType.I32.byteSize()).isEqualTo(4);
        assertThat(DType.U8.byteSize()).isEqualTo(1);
        assertThat(DType.BOOL.byteSize()).isEqualTo(1);
        for (DType t : DType.values()) {
            assertThat(t.safetensorsName()).isEqualTo(t.name());
            assertThat(DType.fromSafetensorsName(t.safetensorsName())).isSameAs(t);
        }
    }

    @Test
    void unknownNameIsNamedInTheMessage() {
        assertThatThrownBy(() -> DType.fromSafetensorsName("F8_E4M3"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("F8_E4M3")
                .hasMessageContaining("BF16");
        assertThatThrownBy(() -> DType.fromSafetensorsName("f32")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> DType.fromSafetensorsName(null)).isInstanceOf(IllegalArgumentException.class);
    }
}
