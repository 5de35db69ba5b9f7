package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.batchtopk.bindings.batchtopk_h;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Bad input must come back as an exception with a status and a message, and leave the JVM and SAE usable. */
class SaeErrorsTest {
    private Arena arena;
    private Sae sae;

    @BeforeEach
    void setUp() {
        arena = Arena.ofConfined();
        sae = Sae.create(SaeConfig.builder(64, 256).k(8).build());
    }

    @AfterEach
    void tearDown() {
        sae.close();
        arena.close();
    }

    private void stillTrains() {
        StepMetrics m = sae.trainStep(TestData.gaussian(arena, 32, 64, 99));
        assertThat(m.loss()).isFinite();
    }

    @Test
    void wrongColumnCountIsAShapeError() {
        assertThatThrownBy(() -> sae.trainStep(TestData.gaussian(arena, 10, 100, 1)))
                .isInstanceOfSatisfying(BatchTopKException.class, e -> {
                    assertThat(e.status()).isEqualTo(Status.SHAPE);
                    assertThat(e.function()).isEqualTo("btk_sae_train_step");
                    // The function's name once: native code names the problem, Java the function.
                    assertThat(e.getMessage())
                            .isEqualTo("btk_sae_train_step: batch has 100 columns but 64 are expected (SHAPE)");
                    assertThat(e.nativeMessage()).isEqualTo("batch has 100 columns but 64 are expected");
                });
        stillTrains();
    }

    @Test
    void aSuccessfulCallClearsTheLastError() {
        assertThatThrownBy(() -> sae.trainStep(TestData.gaussian(arena, 10, 100, 1)))
                .isInstanceOf(BatchTopKException.class);
        assertThat(lastError()).isEqualTo("batch has 100 columns but 64 are expected");
        stillTrains();
        assertThat(lastError()).isEmpty();
        assertThatThrownBy(() -> sae.state("no_such_tensor")).isInstanceOf(BatchTopKException.class);
        assertThat(lastError()).contains("no_such_tensor");
        sae.stateInfo("W_enc");
        assertThat(lastError()).isEmpty();
    }

    private static String lastError() {
        return batchtopk_h.btk_last_error().reinterpret(Long.MAX_VALUE).getString(0);
    }

    @Test
    void aBatchMustBeAMatrix() {
        Tensor vector = Tensor.allocate(DType.F32, new long[] {64}, arena);
        assertThatThrownBy(() -> sae.trainStep(vector))
                .isInstanceOfSatisfying(
                        BatchTopKException.class, e -> assertThat(e.status()).isEqualTo(Status.SHAPE))
                .hasMessageContaining("[64]");
    }

    @Test
    void integerBatchesAreDtypeErrors() {
        Tensor longs = Tensor.allocate(DType.I64, new long[] {4, 64}, arena);
        assertThatThrownBy(() -> sae.trainStep(longs))
                .isInstanceOfSatisfying(
                        BatchTopKException.class, e -> assertThat(e.status()).isEqualTo(Status.DTYPE))
                .hasMessageContaining("I64");
        Tensor ints = Tensor.allocate(DType.I32, new long[] {4, 64}, arena);
        assertThatThrownBy(() -> sae.trainStep(ints))
                .isInstanceOfSatisfying(
                        BatchTopKException.class, e -> assertThat(e.status()).isEqualTo(Status.DTYPE))
                .hasMessageContaining("I32");
        stillTrains();
    }

    @ParameterizedTest
    @ValueSource(floats = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY})
    void nonFiniteValuesAreRejectedAndChangeNothing(float bad) {
        Tensor batch = TestData.gaussian(arena, 32, 64, 2);
        batch.data().setAtIndex(ValueLayout.JAVA_FLOAT, 5 * 64 + 3, bad);
        Tensor before = sae.state("W_enc");
        assertThatThrownBy(() -> sae.trainStep(batch)).isInstanceOfSatisfying(BatchTopKException.class, e -> {
            assertThat(e.status()).isEqualTo(Status.NON_FINITE);
            assertThat(e.nativeMessage()).contains("row 5");
        });
        assertThat(sae.state("W_enc").data().mismatch(before.data())).isEqualTo(-1);
        assertThat(sae.state("step").data().get(Tensor.I64_LE, 0)).isZero();
        stillTrains();
    }

    @Test
    void zeroRowsAreAShapeError() {
        MemorySegment empty = arena.allocate(4);
        assertThatThrownBy(() -> sae.trainStep(empty, 0))
                .isInstanceOfSatisfying(
                        BatchTopKException.class, e -> assertThat(e.status()).isEqualTo(Status.SHAPE));
        stillTrains();
    }

    @Test
    void segmentsTooSmallNeverReachNativeCode() {
        MemorySegment small = arena.allocate(10 * 64 * 4 - 1);
        assertThatThrownBy(() -> sae.trainStep(small, 10))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("batch holds 2559 bytes but 10 x 64 F32 needs 2560");
        Tensor batch = TestData.gaussian(arena, 10, 64, 3);
        assertThatThrownBy(() -> sae.encode(batch, Selection.INFERENCE, arena.allocate(10 * 256 * 4 - 4)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("codes holds 10236 bytes but 10 x 256 F32 needs 10240");
        assertThatThrownBy(() -> sae.reconstruct(batch, Selection.INFERENCE, arena.allocate(64)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("out holds 64 bytes");
        assertThatThrownBy(() -> sae.decode(arena.allocate(256 * 4), 2, arena.allocate(2 * 64 * 4)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("codes holds 1024 bytes");
    }

    @Test
    void heapSegmentsAreRejected() {
        MemorySegment heap = MemorySegment.ofArray(new float[4 * 64]);
        assertThatThrownBy(() -> sae.trainStep(heap, 4))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("heap segment");
        Tensor heapTensor = new Tensor(DType.F32, new long[] {4, 64}, heap);
        assertThatThrownBy(() -> sae.trainStep(heapTensor)).hasMessageContaining("heap segment");
    }

    @Test
    void readOnlyOutputsAreRejected() {
        Tensor batch = TestData.gaussian(arena, 2, 64, 3);
        MemorySegment readOnly = arena.allocate(2 * 256 * 4).asReadOnly();
        assertThatThrownBy(() -> sae.encode(batch, Selection.INFERENCE, readOnly))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("codes is read-only but is written to");
    }

    @Test
    void otherFloatTypesAreAccepted() {
        for (DType dtype : new DType[] {DType.F64, DType.F16, DType.BF16}) {
            Tensor batch = Tensor.allocate(dtype, new long[] {16, 64}, arena);
            float[] values = TestData.gaussian(arena, 16, 64, 4).toFloatArray();
            for (int i = 0; i < values.length; i++) {
                switch (dtype) {
                    case F64 -> batch.data().setAtIndex(ValueLayout.JAVA_DOUBLE, i, values[i]);
                    case F16 -> batch.data().setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16(values[i]));
                    default ->
                        batch.data().setAtIndex(ValueLayout.JAVA_SHORT, i, (short)
                                (Float.floatToRawIntBits(values[i]) >>> 16));
                }
            }
            assertThat(sae.trainStep(batch).loss()).as("%s", dtype).isFinite();
        }
    }

    @Test
    void stateMustMatchInShapeAndType() {
        assertThatThrownBy(() -> sae.setState("W_enc", Tensor.allocate(DType.F32, new long[] {64, 128}, arena)))
                .isInstanceOfSatisfying(
                        BatchTopKException.class, e -> assertThat(e.status()).isEqualTo(Status.SHAPE))
                .hasMessage("btk_sae_state_set: 'W_enc' is F32 [64, 256] but the value given is F32 [64, 128] (SHAPE)");
        assertThatThrownBy(() -> sae.setState("b_dec", Tensor.allocate(DType.F64, new long[] {64}, arena)))
                .isInstanceOfSatisfying(
                        BatchTopKException.class, e -> assertThat(e.status()).isEqualTo(Status.DTYPE));
        Tensor nan = Tensor.allocate(DType.F32, new long[] {64}, arena);
        nan.data().setAtIndex(ValueLayout.JAVA_FLOAT, 7, Float.NaN);
        assertThatThrownBy(() -> sae.setState("b_dec", nan))
                .isInstanceOfSatisfying(
                        BatchTopKException.class, e -> assertThat(e.status()).isEqualTo(Status.NON_FINITE));
        assertThatThrownBy(() -> sae.state("no_such_tensor"))
                .isInstanceOfSatisfying(
                        BatchTopKException.class, e -> assertThat(e.status()).isEqualTo(Status.INVALID_ARGUMENT))
                .hasMessageContaining("no_such_tensor");
        assertThatThrownBy(() -> sae.state("grad.W_enc"))
                .isInstanceOfSatisfying(
                        BatchTopKException.class, e -> assertThat(e.status()).isEqualTo(Status.INVALID_ARGUMENT));
        stillTrains();
    }

    @Test
    void gradientsAreReadableAfterLossAndGradients() {
        Tensor batch = TestData.gaussian(arena, 32, 64, 5);
        Tensor before = sae.state("W_enc");
        StepMetrics m = sae.lossAndGradients(batch, true);
        assertThat(m.loss()).isPositive();
        assertThat(m.step()).isZero();
        assertThat(sae.state("grad.W_enc").shape()).containsExactly(64, 256);
        assertThat(sae.state("W_enc").data().mismatch(before.data())).isEqualTo(-1);
    }

    @Test
    void cudaOnACpuBuildIsADeviceError() {
        org.junit.jupiter.api.Assumptions.assumeFalse(NativeLibrary.cudaAvailable(), "this build has CUDA");
        SaeConfig cuda = SaeConfig.builder(64, 256).device(Device.CUDA).build();
        assertThatThrownBy(() -> Sae.create(cuda))
                .isInstanceOfSatisfying(
                        BatchTopKException.class, e -> assertThat(e.status()).isEqualTo(Status.DEVICE))
                .hasMessageStartingWith("btk_sae_create: ");
    }
}
