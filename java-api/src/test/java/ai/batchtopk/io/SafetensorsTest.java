package ai.batchtopk.io;

import static ai.batchtopk.io.TestFiles.assertMalformed;
import static ai.batchtopk.io.TestFiles.fixture;
import static ai.batchtopk.io.TestFiles.safetensorsBytes;
import static ai.batchtopk.io.TestFiles.shorts;
import static ai.batchtopk.io.TestFiles.write;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {
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

    // ----------------------------------------------------------------------------- file from safetensors

    @Test
    void readsFileWrittenBySafetensorsPython() throws IOException {
        SafetensorsFile f = Safetensors.open(fixture("mixed.safetensors"), arena);
        assertThat(f.path()).isEqualTo(fixture("mixed.safetensors"));
        assertThat(f.tensors().keySet())
                .containsExactlyInAnyOrder(
                        "w_f32",
                        "h_f16",
                        "b_bf16",
                        "d_f64",
                        "idx_i64",
                        "n_i32",
                        "u_u8",
                        "m_bool",
                        "scalar_f32",
                        "empty_f32");
        assertThat(f.metadata())
                .containsOnly(
                        Map.entry("format", "pt"),
                        Map.entry("note", "made by make_fixtures.py"),
                        Map.entry("unicode", "é✓"));

        Tensor w = f.get("w_f32");
        assertThat(w.dtype()).isEqualTo(DType.F32);
        assertThat(w.shape()).containsExactly(2, 3);
        assertThat(w.toFloatArray()).containsExactly(0f, 0.25f, 0.5f, 0.75f, 1f, 1.25f);

        Tensor h = f.get("h_f16");
        assertThat(h.dtype()).isEqualTo(DType.F16);
        assertThat(h.toFloatArray()).containsExactly(0.5f, -1f, 2f, 65504f);

        Tensor b = f.get("b_bf16");
        assertThat(b.dtype()).isEqualTo(DType.BF16);
        assertThat(shorts(b.data())).containsExactly((short) 0x3f80, (short) 0xc020, (short) 0x4049);
        assertThat(b.toFloatArray()).containsExactly(1f, -2.5f, 3.140625f);

        Tensor d = f.get("d_f64");
        assertThat(d.dtype()).isEqualTo(DType.F64);
        assertThat(d.data().getAtIndex(Tensor.F64_LE, 0)).isEqualTo(0.1);
        assertThat(d.data().getAtIndex(Tensor.F64_LE, 1)).isEqualTo(-1e300);

        Tensor idx = f.get("idx_i64");
        assertThat(idx.dtype()).isEqualTo(DType.I64);
        assertThat(idx.toLongArray()).containsExactly(Long.MIN_VALUE, 0, Long.MAX_VALUE);

        Tensor n = f.get("n_i32");
        assertThat(n.dtype()).isEqualTo(DType.I32);
        assertThat(n.shape()).containsExactly(1, 2);
        assertThat(n.toLongArray()).containsExactly(-7, 8);

        assertThat(f.get("u_u8").toLongArray()).containsExactly(0, 200, 255);
        assertThat(f.get("m_bool").dtype()).isEqualTo(DType.BOOL);
        assertThat(f.get("m_bool").toLongArray()).containsExactly(1, 0);

        Tensor s = f.get("scalar_f32");
        assertThat(s.rank()).isZero();
        assertThat(s.toFloatArray()).containsExactly(7f);
        Tensor e = f.get("empty_f32");
        assertThat(e.shape()).containsExactly(0, 3);
        assertThat(e.byteSize()).isZero();

        assertThat(w.data().isReadOnly()).isTrue();
        assertThatThrownBy(() -> f.tensors().clear()).isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void missingTensorMessageNamesTensorAndFile() throws IOException {
        Path p = fixture("mixed.safetensors");
        SafetensorsFile f = Safetensors.open(p, arena);
        assertThat(f.contains("W_enc")).isFalse();
        assertMalformed(p, () -> f.get("W_enc"), "no tensor named \"W_enc\"", "w_f32");
    }

    // ----------------------------------------------------------------------------- round trips

    @Test
    void roundTripEveryDtypeIsBitIdentical() throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        int i = 0;
        for (DType t : DType.values()) {
            tensors.put("t_" + t, NpyTest.randomTensor(t, new long[] {3, 5}, i++));
            tensors.put("s_" + t, NpyTest.randomTensor(t, new long[] {}, i++));
            tensors.put("e_" + t, NpyTest.randomTensor(t, new long[] {0, 2}, i++));
        }
        tensors.put("z_u8_odd", NpyTest.randomTensor(DType.U8, new long[] {3}, 99)); // misaligns what follows
        tensors.put("y_f32_after_odd", Tensor.ofFloats(new long[] {2, 2}, 1.5f, -2f, Float.NaN, 1e-40f));
        tensors.put(
                "heap_f64",
                new Tensor(DType.F64, new long[] {2}, java.lang.foreign.MemorySegment.ofArray(new double[] {0.1, -3})));
        tensors.put(
                "heap_bf16",
                new Tensor(DType.BF16, new long[] {3}, java.lang.foreign.MemorySegment.ofArray(new short[] {
                    (short) 0x3f80, (short) 0xc020, (short) 0x4049
                })));
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "pt");
        meta.put("quote\"d", "line\nbreak é");
        Path p = dir.resolve("rt.safetensors");
        Safetensors.write(p, tensors, meta);

        SafetensorsFile f = Safetensors.open(p, arena);
        assertThat(f.tensors().keySet()).containsExactlyElementsOf(tensors.keySet());
        assertThat(f.metadata()).containsExactlyEntriesOf(meta);
        for (var e : tensors.entrySet()) {
            Tensor back = f.get(e.getKey());
            assertThat(back.dtype()).as(e.getKey()).isEqualTo(e.getValue().dtype());
            assertThat(back.shape()).as(e.getKey()).containsExactly(e.getValue().shape());
            assertThat(back.data().mismatch(e.getValue().data())).as(e.getKey()).isEqualTo(-1);
        }
        // the F32 tensor after 3 odd bytes is misaligned in the file; toFloatArray still works
        Tensor y = f.get("y_f32_after_odd");
        assertThat(y.data().address() % 4).isNotZero();
        float[] v = y.toFloatArray();
        assertThat(Float.floatToRawIntBits(v[2])).isEqualTo(Float.floatToRawIntBits(Float.NaN));
        assertThat(v).containsExactly(1.5f, -2f, Float.NaN, 1e-40f);
    }

    @Test
    void writtenLayoutIsPackedPaddedAndInOrder() throws IOException {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("b", Tensor.ofFloats(new long[] {2}, 1, 2));
        tensors.put("a", Tensor.ofLongs(new long[] {1}, 7));
        Path p = dir.resolve("w.safetensors");
        Safetensors.write(p, tensors, Map.of());
        byte[] bytes = Files.readAllBytes(p);
        long n = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertThat(n % 8).isZero();
        assertThat(bytes.length).isEqualTo(8 + n + 16);
        String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
        assertThat(header.strip())
                .isEqualTo("{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}}");
        assertThat(header).doesNotContain("__metadata__");
        assertThat(header.substring(header.strip().length())).matches(" *");
    }

    @Test
    void writeRejectsReservedName() {
        Map<String, Tensor> tensors = Map.of("__metadata__", Tensor.ofFloats(new long[] {1}, 1));
        assertThatThrownBy(() -> Safetensors.write(dir.resolve("x.safetensors"), tensors, Map.of()))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void emptyFileRoundTrips() throws IOException {
        Path p = dir.resolve("empty.safetensors");
        Safetensors.write(p, Map.of(), Map.of("k", "v"));
        SafetensorsFile f = Safetensors.open(p, arena);
        assertThat(f.tensors()).isEmpty();
        assertThat(f.metadata()).containsExactly(Map.entry("k", "v"));
        assertMalformed(p, () -> f.get("x"), "no tensor named \"x\"", "no tensors");
    }

    // ----------------------------------------------------------------------------- hostile files

    private static final String OK_ENTRY = "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

    private Path st(String header, int dataBytes) throws IOException {
        return write(dir, "h.safetensors", safetensorsBytes(header, new byte[dataBytes]));
    }

    private void assertRejected(String header, int dataBytes, String... fragments) throws IOException {
        Path f = st(header, dataBytes);
        assertMalformed(f, () -> Safetensors.open(f, arena), fragments);
    }

    @Test
    void acceptsMinimalValidFile() throws IOException {
        Path f = st("{\"x\":" + OK_ENTRY + "}", 8);
        assertThat(Safetensors.open(f, arena).get("x").shape()).containsExactly(2);
    }

    @Test
    void rejectsFileShorterThanEightBytes() throws IOException {
        for (int len : new int[] {0, 1, 7}) {
            Path f = write(dir, "short" + len + ".safetensors", new byte[len]);
            assertMalformed(f, () -> Safetensors.open(f, arena), len + " bytes long", "too short");
        }
    }

    @Test
    void rejectsHeaderLengthLargerThanFile() throws IOException {
        byte[] h = ("{\"x\":" + OK_ENTRY + "}").getBytes(StandardCharsets.UTF_8);
        Path f = write(dir, "l.safetensors", safetensorsBytes(h.length + 100, h, new byte[8]));
        assertMalformed(
                f, () -> Safetensors.open(f, arena), "header length " + (h.length + 100), "larger than the file");
        Path g = write(dir, "zero.safetensors", safetensorsBytes(1, new byte[0], new byte[0]));
        assertMalformed(g, () -> Safetensors.open(g, arena), "header length 1", "larger than the file");
    }

    @Test
    void rejectsAbsurdHeaderLength() throws IOException {
        Path f = write(dir, "a.safetensors", safetensorsBytes(-1L, new byte[0], new byte[8]));
        assertMalformed(f, () -> Safetensors.open(f, arena), "header length 18446744073709551615", "exceeds the limit");
        Path g = write(dir, "b.safetensors", safetensorsBytes(1L << 40, new byte[0], new byte[8]));
        assertMalformed(g, () -> Safetensors.open(g, arena), "exceeds the limit");
        // a sparse 200 MB file whose header length (150 MB) fits in the file but exceeds the cap
        Path h = dir.resolve("sparse.safetensors");
        try (RandomAccessFile raf = new RandomAccessFile(h.toFile(), "rw")) {
            raf.write(safetensorsBytes(150L << 20, new byte[0], new byte[0]));
            raf.setLength(200L << 20);
        }
        assertMalformed(h, () -> Safetensors.open(h, arena), "header length 157286400", "exceeds the limit");
    }

    @Test
    void rejectsInvalidJson() throws IOException {
        assertRejected("{\"x\":" + OK_ENTRY, 8, "not valid JSON", "end of input");
        assertRejected("{\"x\":" + OK_ENTRY + "}garbage", 8, "not valid JSON", "trailing");
        assertRejected("\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000", 8, "not valid JSON");
        assertRejected("[".repeat(100) + "]".repeat(100), 0, "not valid JSON", "nesting");
        Path f = write(
                dir,
                "u.safetensors",
                safetensorsBytes(4, new byte[] {'"', (byte) 0xc3, (byte) 0x28, '"'}, new byte[0]));
        assertMalformed(f, () -> Safetensors.open(f, arena), "not valid UTF-8");
    }

    @Test
    void acceptsSpacePaddedHeaderButRejectsOtherPadding() throws IOException {
        Path f = st("{\"x\":" + OK_ENTRY + "}      ", 8);
        assertThat(Safetensors.open(f, arena).tensors()).containsKey("x");
        assertRejected("{\"x\":" + OK_ENTRY + "}\u0000\u0000", 8, "not valid JSON");
    }

    @Test
    void rejectsHeaderThatIsNotAnObject() throws IOException {
        assertRejected("[1,2,3]", 0, "must be a JSON object", "an array");
        assertRejected("\"x\"", 0, "must be a JSON object", "a string");
        assertRejected("null", 0, "must be a JSON object", "null");
    }

    @Test
    void rejectsWrongValueTypes() throws IOException {
        assertRejected("{\"x\":\"F32\"}", 0, "tensor \"x\"", "entry must be an object", "a string");
        assertRejected("{\"x\":[1,2]}", 0, "tensor \"x\"", "entry must be an object", "an array");
        assertRejected(
                "{\"x\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}",
                8,
                "tensor \"x\"",
                "\"dtype\" must be a string",
                "an integer");
        assertRejected("{\"x\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "\"dtype\"", "missing");
        assertRejected(
                "{\"x\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}",
                8,
                "tensor \"x\"",
                "\"shape\" must be an array",
                "a string");
        assertRejected("{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "\"shape\"", "missing");
        assertRejected(
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{\"begin\":0}}}",
                8,
                "\"data_offsets\" must be an array of 2 integers");
        assertRejected("{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "\"data_offsets\"", "missing");
    }

    @Test
    void rejectsUnknownDtype() throws IOException {
        assertRejected(
                "{\"x\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}",
                2,
                "tensor \"x\"",
                "unknown or unsupported dtype \"F8_E4M3\"");
        assertRejected("{\"x\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype \"f32\"");
    }

    @Test
    void rejectsBadShapeDims() throws IOException {
        assertRejected(
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}",
                8,
                "tensor \"x\"",
                "negative shape dimension -2");
        assertRejected(
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}",
                8,
                "shape dimension 0 must be a non-negative integer",
                "non-integer number 2.5");
        assertRejected(
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}",
                8,
                "shape dimension 0 must be a non-negative integer");
        assertRejected(
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[1,\"2\"],\"data_offsets\":[0,8]}}",
                8,
                "shape dimension 1",
                "a string");
        assertRejected(
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,8]}}", 8, "shape dimension 0", "null");
        assertRejected(
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}",
                8,
                "shape dimension 0 must be a non-negative integer");
    }

    @Test
    void rejectsShapeProductOverflow() throws IOException {
        assertRejected(
                "{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}",
                8,
                "tensor \"x\"",
                "overflows");
        // element count fits but byte size does not
        assertRejected(
                "{\"x\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,8]}}", 8, "overflows");
    }

    @Test
    void rejectsBadDataOffsets() throws IOException {
        String pre = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":";
        assertRejected(pre + "[0,8,16]}}", 16, "\"data_offsets\" must be an array of 2 integers", "[0,8,16]");
        assertRejected(pre + "[0]}}", 16, "\"data_offsets\" must be an array of 2 integers");
        assertRejected(pre + "[0,8.0]}}", 16, "\"data_offsets\" must be an array of 2 integers");
        assertRejected(pre + "[\"0\",\"8\"]}}", 16, "\"data_offsets\" must be an array of 2 integers");
        assertRejected(pre + "[-8,0]}}", 16, "negative data_offsets");
        assertRejected(pre + "[8,0]}}", 16, "begin 8 > end 0");
        assertRejected(pre + "[8,16]}}", 12, "end 16 is beyond the end of the data section (12 bytes)");
        assertRejected(pre + "[0,12]}}", 16, "span 12 bytes", "needs 8");
        assertRejected(pre + "[0,4]}}", 16, "span 4 bytes", "needs 8");
        assertRejected(pre + "[9223372036854775800,9223372036854775807]}}", 16, "beyond the end of the data section");
    }

    @Test
    void rejectsOverlappingTensors() throws IOException {
        assertRejected(
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                12,
                "tensors \"b\" [0, 8) and \"a\" [4, 12) overlap");
        assertRejected(
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
                8,
                "overlap");
        // a zero-size tensor inside another one
        assertRejected(
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
                8,
                "overlap");
    }

    @Test
    void toleratesGapsAndAdjacentEmptyTensors() throws IOException {
        Path f = st(
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
                        + "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
                        + "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}",
                16);
        SafetensorsFile sf = Safetensors.open(f, arena);
        assertThat(sf.tensors().keySet()).containsExactly("a", "e", "b");
    }

    @Test
    void rejectsDuplicateNames() throws IOException {
        assertRejected("{\"x\":" + OK_ENTRY + ",\"x\":" + OK_ENTRY + "}", 8, "duplicate key \"x\"");
    }

    @Test
    void rejectsBadMetadata() throws IOException {
        String t = ",\"x\":" + OK_ENTRY + "}";
        assertRejected("{\"__metadata__\":\"pt\"" + t, 8, "\"__metadata__\" must be an object", "a string");
        assertRejected("{\"__metadata__\":[\"a\"]" + t, 8, "\"__metadata__\" must be an object", "an array");
        assertRejected(
                "{\"__metadata__\":{\"format\":1}" + t,
                8,
                "\"__metadata__\" value for key \"format\"",
                "must be a string",
                "an integer");
        assertRejected("{\"__metadata__\":{\"a\":{\"b\":\"c\"}}" + t, 8, "value for key \"a\"", "an object");
        assertRejected("{\"__metadata__\":{\"a\":null}" + t, 8, "value for key \"a\"", "null");
        assertRejected("{\"__metadata__\":null" + t, 8, "\"__metadata__\" must be an object", "null");
    }

    @Test
    void hostileMessagesStayShort() throws IOException {
        String longName = "n".repeat(100_000);
        Path f = st("{\"" + longName + "\":{\"dtype\":\"Q\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1);
        MalformedFileException e = assertMalformed(f, () -> Safetensors.open(f, arena), "unsupported dtype");
        assertThat(e.getMessage()).hasSizeLessThan(1000);
        Path g = st("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[" + "0,".repeat(50_000) + "0]}}", 8);
        MalformedFileException e2 = assertMalformed(g, () -> Safetensors.open(g, arena), "data_offsets");
        assertThat(e2.getMessage()).hasSizeLessThan(1000);
    }

    /** Hostile headers: deep nesting, huge numbers and strings, duplicate keys; each a clear error. */
    @Test
    void hostileJsonInTheHeaderIsAClearError() throws IOException {
        String pre = "{\"x\":{\"dtype\":\"F32\",\"shape\":";
        assertRejected("[".repeat(100_000), 0, "not valid JSON", "nesting depth");
        assertRejected("{\"x\":" + "{\"a\":".repeat(100_000), 0, "not valid JSON", "nesting depth");
        assertRejected(
                pre + "[1e1000000],\"data_offsets\":[0,8]}}", 8, "number 1e1000000 is outside the range of a double");
        assertRejected(
                pre + "[" + "9".repeat(1_000_000) + "],\"data_offsets\":[0,8]}}",
                8,
                "Number value length (1000000) exceeds the maximum allowed (1000)");
        assertRejected(pre + "[2],\"data_offsets\":[0," + "1".repeat(400) + "]}}", 8, "outside the range of a double");
        assertRejected(
                pre + "[2],\"data_offsets\":[0,18446744073709551616]}}",
                8,
                "\"data_offsets\" must be an array of 2 integers",
                "18446744073709551616");
        assertRejected(
                "{\"x\":{\"dtype\":\"" + "F".repeat(10_000_000) + "\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                8,
                "tensor \"x\"",
                "dtype \"FFFF");
        assertRejected(
                "{\"x\":{\"dtype\":\"F32\",\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                8,
                "duplicate key \"dtype\"");
        assertRejected("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"},\"x\":" + OK_ENTRY + "}", 8, "duplicate key \"a\"");
        // a huge metadata value within the header limit is data, not an attack
        Path f = st("{\"__metadata__\":{\"big\":\"" + "v".repeat(10_000_000) + "\"},\"x\":" + OK_ENTRY + "}", 8);
        assertThat(Safetensors.open(f, arena).metadata().get("big")).hasSize(10_000_000);
    }

    @Test
    void unknownEntryKeysAreIgnored() throws IOException {
        Path f = st("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":[1]}}", 8);
        assertThat(Safetensors.open(f, arena).get("x").numel()).isEqualTo(2);
    }

    @Test
    void truncatedRealFileIsRejected() throws IOException {
        byte[] real = Files.readAllBytes(fixture("mixed.safetensors"));
        Path f = write(dir, "cut.safetensors", java.util.Arrays.copyOf(real, real.length - 3));
        assertMalformed(f, () -> Safetensors.open(f, arena), "beyond the end of the data section");
        Path g = write(dir, "cut2.safetensors", java.util.Arrays.copyOf(real, 100));
        assertMalformed(g, () -> Safetensors.open(g, arena), "larger than the file");
    }
}
