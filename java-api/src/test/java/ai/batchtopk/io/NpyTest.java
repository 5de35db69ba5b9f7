package ai.batchtopk.io;

import static ai.batchtopk.io.TestFiles.assertMalformed;
import static ai.batchtopk.io.TestFiles.fixture;
import static ai.batchtopk.io.TestFiles.npyBytes;
import static ai.batchtopk.io.TestFiles.shorts;
import static ai.batchtopk.io.TestFiles.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class NpyTest {
    @TempDir
    Path dir;

    Arena arena;

    @BeforeEach
    void open() {
        arena = Arena.ofShared();
    }

    @AfterEach
    void close() {
        arena.close();
    }

    // ----------------------------------------------------------------------------- files from numpy

    @Test
    void readsNumpyF32TwoDimensionalV1() throws IOException {
        Tensor t = Npy.map(fixture("f32_2d_v1.npy"), arena);
        assertThat(t.dtype()).isEqualTo(DType.F32);
        assertThat(t.shape()).containsExactly(3, 4);
        assertThat(t.rows()).isEqualTo(3);
        assertThat(t.cols()).isEqualTo(4);
        assertThat(t.toFloatArray())
                .containsExactly(-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 3.5f, 4.0f, 4.5f);
        assertThat(t.data().isReadOnly()).isTrue();
        assertThat(t.data().isMapped()).isTrue();
    }

    @Test
    void readsNumpyF16() throws IOException {
        Tensor t = Npy.map(fixture("f16_1d.npy"), arena);
        assertThat(t.dtype()).isEqualTo(DType.F16);
        assertThat(t.shape()).containsExactly(8);
        float[] v = t.toFloatArray();
        assertThat(v).containsExactly(0f, 1f, -2f, 0.5f, 65504f, 0x1p-14f, 0x1p-24f, -0f);
        assertThat(Float.floatToRawIntBits(v[7])).isEqualTo(0x8000_0000); // -0.0 kept
    }

    @Test
    void readsNumpyF64() throws IOException {
        Tensor t = Npy.map(fixture("f64_1d.npy"), arena);
        assertThat(t.dtype()).isEqualTo(DType.F64);
        assertThat(t.shape()).containsExactly(7);
        double[] v = new double[7];
        MemorySegment.copy(t.data(), Tensor.F64_LE, 0, v, 0, 7);
        assertThat(v).containsExactly(0, 0.25, 0.5, 0.75, 1.0, 1e300, -1e-300);
    }

    @Test
    void readsNumpyVersion2() throws IOException {
        Tensor t = Npy.map(fixture("i64_2d_v2.npy"), arena);
        assertThat(t.dtype()).isEqualTo(DType.I64);
        assertThat(t.shape()).containsExactly(2, 3);
        assertThat(t.toLongArray()).containsExactly(-3, -2, -1, 0, 1, 2);
    }

    @Test
    void readsNumpyVersion3() throws IOException {
        Tensor t = Npy.map(fixture("f32_1d_v3.npy"), arena);
        assertThat(t.shape()).containsExactly(3);
        assertThat(t.toFloatArray()).containsExactly(0f, 1f, 2f);
    }

    @Test
    void readsNumpyIntegersAndBool() throws IOException {
        Tensor i32 = Npy.map(fixture("i32_1d.npy"), arena);
        assertThat(i32.dtype()).isEqualTo(DType.I32);
        assertThat(i32.toLongArray()).containsExactly(Integer.MIN_VALUE, -1, 0, 1, Integer.MAX_VALUE);
        Tensor u8 = Npy.map(fixture("u8_1d.npy"), arena);
        assertThat(u8.dtype()).isEqualTo(DType.U8);
        assertThat(u8.toLongArray()).containsExactly(0, 1, 127, 128, 255);
        Tensor b = Npy.map(fixture("bool_1d.npy"), arena);
        assertThat(b.dtype()).isEqualTo(DType.BOOL);
        assertThat(b.toLongArray()).containsExactly(1, 0, 1, 1);
    }

    @Test
    void readsNumpyScalarAndEmpty() throws IOException {
        Tensor s = Npy.map(fixture("scalar_f32.npy"), arena);
        assertThat(s.rank()).isZero();
        assertThat(s.numel()).isEqualTo(1);
        assertThat(s.toFloatArray()).containsExactly(3.5f);
        Tensor e = Npy.map(fixture("empty_f32.npy"), arena);
        assertThat(e.shape()).containsExactly(0, 4);
        assertThat(e.byteSize()).isZero();
    }

    @Test
    void readsRawBf16WhenNamed() throws IOException {
        for (String name : new String[] {"bf16_raw_v1.npy", "bf16_void_v1.npy"}) {
            Tensor t = Npy.map(fixture(name), arena, DType.BF16);
            assertThat(t.dtype()).isEqualTo(DType.BF16);
            assertThat(t.shape()).containsExactly(4);
            assertThat(shorts(t.data()))
                    .containsExactly((short) 0x3f80, (short) 0xc020, (short) 0x4049, (short) 0x3c00);
            assertThat(t.toFloatArray()).containsExactly(1.0f, -2.5f, 3.140625f, 0.0078125f);
        }
    }

    @Test
    void rawDescrIgnoredForOrdinaryDtypes() throws IOException {
        assertThat(Npy.map(fixture("f32_1d_v3.npy"), arena, DType.BF16).dtype()).isEqualTo(DType.F32);
    }

    @Test
    void rawBf16WithoutExplicitTypeIsRejected() {
        Path f = fixture("bf16_raw_v1.npy");
        assertMalformed(f, () -> Npy.map(f, arena), "'<V2'", "DType.BF16");
    }

    @Test
    void rawAsMustBeTwoBytes() {
        assertThatThrownBy(() -> Npy.map(fixture("bf16_raw_v1.npy"), arena, DType.F32))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("2-byte");
    }

    @Test
    void rejectsNumpyFortranOrder() {
        Path f = fixture("fortran_f32.npy");
        assertMalformed(f, () -> Npy.map(f, arena), "Fortran", "not supported");
    }

    @Test
    void rejectsNumpyBigEndian() {
        Path f = fixture("bigendian_f32.npy");
        assertMalformed(f, () -> Npy.map(f, arena), "big-endian", "'>f4'");
    }

    @Test
    void rejectsNumpyComplex() {
        Path f = fixture("complex64.npy");
        assertMalformed(f, () -> Npy.map(f, arena), "unsupported descr", "'<c8'");
    }

    // ----------------------------------------------------------------------------- round trips

    static Tensor randomTensor(DType dtype, long[] shape, long seed) {
        Tensor t = Tensor.allocate(dtype, shape, Arena.ofAuto());
        Random r = new Random(seed);
        byte[] b = new byte[(int) t.byteSize()];
        r.nextBytes(b);
        if (dtype == DType.BOOL) {
            for (int i = 0; i < b.length; i++) {
                b[i] &= 1;
            }
        }
        MemorySegment.copy(b, 0, t.data(), ValueLayout.JAVA_BYTE, 0, b.length);
        return t;
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void roundTripIsBitIdentical(DType dtype) throws IOException {
        long[][] shapes = {{}, {0}, {7}, {3, 5}, {2, 3, 4}, {0, 6}};
        for (long[] shape : shapes) {
            Tensor t = randomTensor(dtype, shape, 42 + shape.length);
            Path f = dir.resolve(dtype + "_" + shape.length + ".npy");
            Npy.write(f, t);
            Tensor back = Npy.map(f, arena, dtype == DType.BF16 ? DType.BF16 : null);
            assertThat(back.dtype()).isEqualTo(dtype);
            assertThat(back.shape()).containsExactly(shape);
            assertThat(back.data().mismatch(t.data())).isEqualTo(-1);
            // numpy layout: version 1.0, data starts at a multiple of 64
            assertThat(Files.size(f) - back.byteSize()).isEqualTo(alignedHeaderSize(f));
        }
    }

    private static long alignedHeaderSize(Path f) throws IOException {
        byte[] b = Files.readAllBytes(f);
        assertThat(b[6]).isEqualTo((byte) 1);
        int len = (b[8] & 0xff) | (b[9] & 0xff) << 8;
        assertThat((10 + len) % 64).isZero();
        assertThat(b[10 + len - 1]).isEqualTo((byte) '\n');
        return 10 + len;
    }

    @Test
    void writesHeapArraySegments() throws IOException {
        Path f = dir.resolve("heap.npy");
        Npy.write(f, new Tensor(DType.I32, new long[] {2, 2}, MemorySegment.ofArray(new int[] {
            1, -2, 3, Integer.MIN_VALUE
        })));
        assertThat(Npy.map(f, arena).toLongArray()).containsExactly(1, -2, 3, Integer.MIN_VALUE);
        Npy.write(f, new Tensor(DType.F16, new long[] {1}, MemorySegment.ofArray(new short[] {Float.floatToFloat16(0.5f)
        })));
        assertThat(Npy.map(f, arena).toFloatArray()).containsExactly(0.5f);
    }

    @Test
    void writtenHeaderMatchesNumpyConventions() throws IOException {
        Path f = dir.resolve("a.npy");
        Npy.write(f, Tensor.ofFloats(new long[] {3}, 1, 2, 3));
        String text = new String(Files.readAllBytes(f), StandardCharsets.ISO_8859_1);
        assertThat(text)
                .startsWith("\u0093NUMPY\u0001\u0000")
                .contains("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }");
        Npy.write(f, Tensor.ofFloats(new long[] {}, 1));
        assertThat(Files.readString(f, StandardCharsets.ISO_8859_1)).contains("'shape': (), }");
        Npy.write(f, Tensor.allocate(DType.BF16, new long[] {2, 2}, arena));
        assertThat(Files.readString(f, StandardCharsets.ISO_8859_1))
                .contains("'descr': '<V2'")
                .contains("(2, 2)");
    }

    @Test
    void writeReplacesAtomicallyEvenWhileOldFileIsMapped() throws IOException {
        Path f = dir.resolve("x.npy");
        Npy.write(f, Tensor.ofFloats(new long[] {2}, 1, 2));
        Tensor old = Npy.map(f, arena);
        Npy.write(f, Tensor.ofFloats(new long[] {3}, 7, 8, 9));
        assertThat(old.toFloatArray()).containsExactly(1, 2); // old mapping still valid (old inode)
        assertThat(Npy.map(f, arena).toFloatArray()).containsExactly(7, 8, 9);
        try (var s = Files.list(dir)) {
            assertThat(s.count()).isEqualTo(1);
        }
    }

    // ----------------------------------------------------------------------------- hostile files

    private static final String F32_3 = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n";

    private Path npy(String header, int dataBytes) throws IOException {
        return write(dir, "h.npy", npyBytes(1, 0, header, new byte[dataBytes]));
    }

    @Test
    void acceptsHandWrittenUnpaddedHeader() throws IOException {
        Path f = npy(F32_3, 12);
        assertThat(Npy.map(f, arena).shape()).containsExactly(3);
        Path g = write(
                dir,
                "g.npy",
                npyBytes(1, 0, "{\"shape\":(2,3),\"fortran_order\":False,\"descr\":\"<f4\"}", new byte[24]));
        assertThat(Npy.map(g, arena).shape()).containsExactly(2, 3);
        Path l = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }", 12); // Python 2 numpy
        assertThat(Npy.map(l, arena).shape()).containsExactly(3);
    }

    @Test
    void rejectsTooShortFile() throws IOException {
        Path f = write(dir, "s.npy", new byte[] {(byte) 0x93, 'N', 'U'});
        assertMalformed(f, () -> Npy.map(f, arena), "too short");
        Path e = write(dir, "e.npy", new byte[0]);
        assertMalformed(e, () -> Npy.map(e, arena), "0 bytes", "too short");
    }

    @Test
    void rejectsBadMagic() throws IOException {
        byte[] b = npyBytes(1, 0, F32_3, new byte[12]);
        b[1] = 'X';
        Path f = write(dir, "m.npy", b);
        assertMalformed(f, () -> Npy.map(f, arena), "bad magic");
        Path t = write(dir, "t.npy", "just some text file, not numpy".getBytes(StandardCharsets.US_ASCII));
        assertMalformed(t, () -> Npy.map(t, arena), "bad magic");
    }

    @Test
    void rejectsUnsupportedVersion() throws IOException {
        Path f = write(dir, "v.npy", npyBytes(4, 0, F32_3, new byte[12]));
        assertMalformed(f, () -> Npy.map(f, arena), "unsupported .npy format version 4.0");
        Path g = write(dir, "w.npy", npyBytes(1, 1, F32_3, new byte[12]));
        assertMalformed(g, () -> Npy.map(g, arena), "version 1.1");
    }

    @Test
    void rejectsHeaderLengthBeyondFile() throws IOException {
        byte[] b = npyBytes(1, 0, F32_3, new byte[12]);
        b[8] = (byte) 0xff;
        b[9] = (byte) 0x7f;
        Path f = write(dir, "l.npy", b);
        assertMalformed(f, () -> Npy.map(f, arena), "header length 32767", "beyond the end of the file");
        byte[] c = npyBytes(2, 0, F32_3, new byte[12]);
        ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putInt(8, -1); // 4 GiB - 1
        Path g = write(dir, "l2.npy", c);
        assertMalformed(g, () -> Npy.map(g, arena), "header length 4294967295", "beyond the end of the file");
    }

    @Test
    void rejectsHeaderThatIsNotADictLiteral() throws IOException {
        Path f = npy("this is not a dict", 12);
        assertMalformed(f, () -> Npy.map(f, arena), "not a Python dict literal");
        Path g = npy("(1, 2)", 12);
        assertMalformed(g, () -> Npy.map(g, arena), "not a Python dict literal");
        Path h = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), } trailing", 12);
        assertMalformed(h, () -> Npy.map(h, arena), "not a Python dict literal", "trailing");
        Path i = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), ", 12);
        assertMalformed(i, () -> Npy.map(i, arena), "not a Python dict literal", "end of header");
        Path j = npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", 12);
        assertMalformed(j, () -> Npy.map(j, arena), "duplicate key 'descr'");
        Path k = npy("{'shape': " + "(".repeat(1000) + ")".repeat(1000) + "}", 12);
        assertMalformed(k, () -> Npy.map(k, arena), "nesting too deep");
    }

    @Test
    void rejectsMissingAndUnexpectedKeys() throws IOException {
        Path f = npy("{'descr': '<f4', 'fortran_order': False}", 12);
        assertMalformed(f, () -> Npy.map(f, arena), "missing the key 'shape'");
        Path g = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1}", 12);
        assertMalformed(g, () -> Npy.map(g, arena), "unexpected key extra");
    }

    @Test
    void rejectsFortranOrder() throws IOException {
        Path f = npy("{'descr': '<f4', 'fortran_order': True, 'shape': (3, 1), }", 12);
        assertMalformed(f, () -> Npy.map(f, arena), "Fortran (column-major) order", "not supported");
        Path g = npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }", 12);
        assertMalformed(g, () -> Npy.map(g, arena), "'fortran_order' must be True or False");
    }

    @Test
    void rejectsUnknownAndBigEndianDescr() throws IOException {
        Path f = npy("{'descr': '<u2', 'fortran_order': False, 'shape': (3,), }", 6);
        assertMalformed(f, () -> Npy.map(f, arena), "unsupported descr '<u2'");
        Path g = npy("{'descr': 'float32', 'fortran_order': False, 'shape': (3,), }", 12);
        assertMalformed(g, () -> Npy.map(g, arena), "unsupported descr 'float32'");
        Path h = npy("{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }", 24);
        assertMalformed(h, () -> Npy.map(h, arena), "big-endian descr '>f8'");
        Path i = npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", 12);
        assertMalformed(i, () -> Npy.map(i, arena), "structured");
        Path j = npy("{'descr': '<V4', 'fortran_order': False, 'shape': (3,), }", 12);
        assertMalformed(j, () -> Npy.map(j, arena, DType.BF16), "unsupported descr '<V4'");
    }

    @Test
    void rejectsBadShapes() throws IOException {
        Path f = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }", 12);
        assertMalformed(f, () -> Npy.map(f, arena), "negative shape dimension -3");
        Path g = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,), }", 12);
        assertMalformed(g, () -> Npy.map(g, arena), "shape dimension 0 is not an integer", "2.5");
        Path h = npy("{'descr': '<f4', 'fortran_order': False, 'shape': [3], }", 12);
        assertMalformed(h, () -> Npy.map(h, arena), "'shape' must be a tuple");
        Path i = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3), }", 12);
        assertMalformed(i, () -> Npy.map(i, arena), "'shape' must be a tuple");
        Path j = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 12);
        assertMalformed(j, () -> Npy.map(j, arena), "overflows");
        Path k = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 12);
        assertMalformed(k, () -> Npy.map(k, arena), "out of range");
        Path l = npy("{'descr': '<f4', 'fortran_order': False, 'shape': ('3',), }", 12);
        assertMalformed(l, () -> Npy.map(l, arena), "not an integer");
    }

    @Test
    void rejectsTruncatedData() throws IOException {
        Path f = npy(F32_3, 11);
        assertMalformed(f, () -> Npy.map(f, arena), "truncated", "needs 12 bytes", "only 11");
        byte[] numpy = Files.readAllBytes(fixture("f32_2d_v1.npy"));
        Path g = write(dir, "cut.npy", java.util.Arrays.copyOf(numpy, numpy.length - 4));
        assertMalformed(g, () -> Npy.map(g, arena), "truncated", "needs 48 bytes", "only 44");
        Path h = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }", 12);
        assertMalformed(h, () -> Npy.map(h, arena), "truncated");
    }

    @Test
    void rejectsTrailingData() throws IOException {
        Path f = npy(F32_3, 13);
        assertMalformed(f, () -> Npy.map(f, arena), "1 unexpected trailing bytes", "exactly 12");
    }

    @Test
    void rejectsInvalidUtf8InVersion3Header() throws IOException {
        byte[] b = npyBytes(3, 0, F32_3, new byte[12]);
        b[14] = (byte) 0xff; // inside 'descr'
        Path f = write(dir, "u.npy", b);
        assertMalformed(f, () -> Npy.map(f, arena), "not valid UTF-8");
    }
}
