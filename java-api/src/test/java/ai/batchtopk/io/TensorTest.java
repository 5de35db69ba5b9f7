package ai.batchtopk.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

class TensorTest {
    @Test
    void ofFloatsShapeAndValues() {
        Tensor t = Tensor.ofFloats(new long[] {2, 3}, 1, 2, 3, 4, 5, 6);
        assertThat(t.dtype()).isEqualTo(DType.F32);
        assertThat(t.shape()).containsExactly(2, 3);
        assertThat(t.numel()).isEqualTo(6);
        assertThat(t.rank()).isEqualTo(2);
        assertThat(t.rows()).isEqualTo(2);
        assertThat(t.cols()).isEqualTo(3);
        assertThat(t.byteSize()).isEqualTo(24);
        assertThat(t.toFloatArray()).containsExactly(1, 2, 3, 4, 5, 6);
        // little-endian bytes
        assertThat(t.data().get(ValueLayout.JAVA_BYTE, 3)).isEqualTo((byte) 0x3f);
    }

    @Test
    void rowsAndColsForOtherRanks() {
        Tensor v = Tensor.ofFloats(new long[] {4}, 1, 2, 3, 4);
        assertThat(v.rows()).isEqualTo(4);
        assertThat(v.cols()).isEqualTo(1);
        Tensor s = Tensor.ofFloats(new long[] {}, 7);
        assertThat(s.rank()).isZero();
        assertThat(s.numel()).isEqualTo(1);
        assertThat(s.rows()).isEqualTo(1);
        assertThat(s.cols()).isEqualTo(1);
        Tensor t3 = Tensor.ofFloats(new long[] {2, 3, 4}, new float[24]);
        assertThat(t3.rows()).isEqualTo(2);
        assertThat(t3.cols()).isEqualTo(12);
        Tensor empty = Tensor.ofFloats(new long[] {0, 5});
        assertThat(empty.numel()).isZero();
        assertThat(empty.cols()).isEqualTo(5);
        assertThat(empty.toFloatArray()).isEmpty();
    }

    @Test
    void shapeIsDefensivelyCopied() {
        long[] shape = {2, 2};
        Tensor t = Tensor.ofFloats(shape, 1, 2, 3, 4);
        shape[0] = 99;
        assertThat(t.shape()).containsExactly(2, 2);
        t.shape()[1] = 77;
        assertThat(t.dim(1)).isEqualTo(2);
    }

    @Test
    void constructorValidates() {
        MemorySegment eight = MemorySegment.ofArray(new byte[8]);
        assertThatThrownBy(() -> new Tensor(DType.F32, new long[] {3}, eight))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("8 bytes")
                .hasMessageContaining("12");
        assertThatThrownBy(() -> new Tensor(DType.F32, new long[] {-2}, eight))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("negative");
        assertThatThrownBy(() -> new Tensor(DType.F32, new long[] {1L << 40, 1L << 40}, eight))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("overflow");
        assertThatThrownBy(() -> new Tensor(DType.F64, new long[] {1L << 61}, eight))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("overflow");
        assertThatThrownBy(() -> new Tensor(null, new long[] {2}, eight)).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> Tensor.ofFloats(new long[] {2, 2}, 1, 2, 3))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("4 elements");
        assertThat(new Tensor(DType.F64, new long[] {1}, eight).numel()).isEqualTo(1);
    }

    @Test
    void toFloatArrayConvertsHalfBfloatAndDouble() {
        MemorySegment f16 = MemorySegment.ofArray(
                new short[] {Float.floatToFloat16(1.5f), Float.floatToFloat16(-2f), (short) 0x7c00 /* +inf */});
        assertThat(new Tensor(DType.F16, new long[] {3}, f16).toFloatArray())
                .containsExactly(1.5f, -2f, Float.POSITIVE_INFINITY);
        MemorySegment bf16 = MemorySegment.ofArray(new short[] {(short) 0x3f80, (short) 0xc020, (short) 0x4049});
        assertThat(new Tensor(DType.BF16, new long[] {3}, bf16).toFloatArray()).containsExactly(1f, -2.5f, 3.140625f);
        MemorySegment f64 = MemorySegment.ofArray(new double[] {0.25, -1e300});
        assertThat(new Tensor(DType.F64, new long[] {2}, f64).toFloatArray())
                .containsExactly(0.25f, Float.NEGATIVE_INFINITY);
        assertThatThrownBy(() -> Tensor.ofLongs(new long[] {1}, 5).toFloatArray())
                .isInstanceOf(UnsupportedOperationException.class)
                .hasMessageContaining("I64");
    }

    @Test
    void toLongArray() {
        assertThat(Tensor.ofLongs(new long[] {2}, Long.MIN_VALUE, 3).toLongArray())
                .containsExactly(Long.MIN_VALUE, 3);
        MemorySegment u8 = MemorySegment.ofArray(new byte[] {0, (byte) 200, (byte) 255});
        assertThat(new Tensor(DType.U8, new long[] {3}, u8).toLongArray()).containsExactly(0, 200, 255);
        MemorySegment i32 = MemorySegment.ofArray(new int[] {-1, Integer.MAX_VALUE});
        assertThat(new Tensor(DType.I32, new long[] {2}, i32).toLongArray()).containsExactly(-1, Integer.MAX_VALUE);
        assertThatThrownBy(() -> Tensor.ofFloats(new long[] {1}, 1).toLongArray())
                .isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void toFloatArrayWorksOnMisalignedNativeSegments() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(64, 64);
            MemorySegment mis = buf.asSlice(1, 12); // address % 4 == 1
            mis.setAtIndex(Tensor.F32_LE, 0, 1.25f);
            mis.setAtIndex(Tensor.F32_LE, 1, -3f);
            mis.setAtIndex(Tensor.F32_LE, 2, 1e-30f);
            Tensor t = new Tensor(DType.F32, new long[] {3}, mis);
            assertThat(t.toFloatArray()).containsExactly(1.25f, -3f, 1e-30f);
            // the aligned layout would have thrown here
            assertThatThrownBy(() -> mis.get(ValueLayout.JAVA_FLOAT, 0)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void allocateIsZeroedAndAligned() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = Tensor.allocate(DType.BF16, new long[] {3, 5}, arena);
            assertThat(t.byteSize()).isEqualTo(30);
            assertThat(t.data().address() % 64).isZero();
            assertThat(t.toFloatArray()).containsOnly(0f);
        }
    }

    @Test
    void equalityUsesShapeValues() {
        MemorySegment s = MemorySegment.ofArray(new float[4]);
        assertThat(new Tensor(DType.F32, new long[] {2, 2}, s))
                .isEqualTo(new Tensor(DType.F32, new long[] {2, 2}, s))
                .hasSameHashCodeAs(new Tensor(DType.F32, new long[] {2, 2}, s));
        assertThat(new Tensor(DType.F32, new long[] {2, 2}, s)).isNotEqualTo(new Tensor(DType.F32, new long[] {4}, s));
        assertThat(new Tensor(DType.F32, new long[] {2, 2}, s).toString())
                .contains("F32")
                .contains("[2, 2]");
    }
}
