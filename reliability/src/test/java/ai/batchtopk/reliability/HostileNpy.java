package ai.batchtopk.reliability;

import static ai.batchtopk.reliability.HostileFiles.D;
import static ai.batchtopk.reliability.HostileFiles.ROWS;

import ai.batchtopk.reliability.HostileFile.Kind;
import ai.batchtopk.reliability.HostileFiles.Mutation;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Hostile .npy files: a few valid encodings of the reference rows that everything must read right,
 * then seeded random picks among truncations, bad magic and versions, header lengths past the end or
 * short, hostile shapes and dtypes, broken header dicts and non-finite data.
 */
final class HostileNpy {
    private HostileNpy() {}

    private static final String SHAPE = "(" + ROWS + ", " + D + ")";

    static void addTo(HostileFiles h, int extra) {
        valid(h);
        h.mutate(
                List.of(
                        new Mutation(1, HostileNpy::truncated),
                        new Mutation(1, HostileNpy::trailing),
                        new Mutation(1, HostileNpy::badMagic),
                        new Mutation(VERSIONS.length, HostileNpy::badVersion),
                        new Mutation(2, HostileNpy::headerLengthPastEnd),
                        new Mutation(1, HostileNpy::headerLengthShort),
                        new Mutation(SHAPES.length, HostileNpy::hostileShape),
                        new Mutation(DESCRS.length, HostileNpy::hostileDescr),
                        new Mutation(FORTRAN_ORDERS.length, HostileNpy::hostileFortranOrder),
                        new Mutation(DICTS.length + 1, HostileNpy::brokenDict),
                        new Mutation(1, HostileNpy::nonFinite)),
                extra);
    }

    /** The dict NumPy writes, with the given parts. */
    static String dict(String descr, String fortran, String shape) {
        return "{'descr': " + descr + ", 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
    }

    /** A well-formed file: magic, version, the right header length, the header padded to 64 bytes, data. */
    static byte[] npy(int major, String dict, byte[] data) {
        int preamble = major == 1 ? 10 : 12;
        int pad = (64 - (preamble + dict.length() + 1) % 64) % 64;
        byte[] header = (dict + " ".repeat(pad) + "\n")
                .getBytes(major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        return raw(major, 0, header.length, header, data);
    }

    /** Any file: the magic, the version bytes, a header length field (2 bytes for 1.x, else 4), header, data. */
    static byte[] raw(int major, int minor, long headerLength, byte[] header, byte[] data) {
        int field = major == 1 ? 2 : 4;
        ByteBuffer b = ByteBuffer.allocate(8 + field).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'})
                .put((byte) major)
                .put((byte) minor);
        if (field == 2) {
            b.putShort((short) headerLength);
        } else {
            b.putInt((int) headerLength);
        }
        return HostileFiles.concat(b.array(), header, data);
    }

    private static byte[] reference(HostileFiles h) {
        return npy(1, dict("'<f4'", "False", SHAPE), HostileFiles.f32(h.rows));
    }

    private static void valid(HostileFiles h) {
        float[] rows = h.rows;
        accepted(h, "v1", npy(1, dict("'<f4'", "False", SHAPE), HostileFiles.f32(rows)), rows, true, true);
        accepted(h, "v2", npy(2, dict("'<f4'", "False", SHAPE), HostileFiles.f32(rows)), rows, true, true);
        accepted(h, "v3", npy(3, dict("'<f4'", "False", SHAPE), HostileFiles.f32(rows)), rows, true, true);
        accepted(h, "f64", npy(1, dict("'<f8'", "False", SHAPE), HostileFiles.f64(rows)), rows, true, true);
        float[] half = rows.clone();
        byte[] f16 = HostileFiles.f16(half);
        accepted(h, "f16", npy(1, dict("'<f2'", "False", SHAPE), f16), half, true, true);
        float[] brain = rows.clone();
        byte[] bf16 = HostileFiles.bf16(brain);
        accepted(h, "bf16-as-V2", npy(1, dict("'<V2'", "False", SHAPE), bf16), brain, true, true);
        accepted(
                h,
                "keys-reordered",
                npy(1, "{'shape': " + SHAPE + ", 'fortran_order': False, 'descr': '<f4'}", HostileFiles.f32(rows)),
                rows,
                true,
                true);
        accepted(
                h,
                "python2-long-dims",
                npy(1, dict("'<f4'", "False", "(40L, 8L)"), HostileFiles.f32(rows)),
                rows,
                true,
                true);
        accepted(h, "rank3", npy(1, dict("'<f4'", "False", "(5, 8, 8)"), HostileFiles.f32(rows)), rows, true, true);
        byte[] unpadded = (dict("'<f4'", "False", SHAPE) + "\n").getBytes(StandardCharsets.ISO_8859_1);
        accepted(h, "unpadded-header", raw(1, 0, unpadded.length, unpadded, HostileFiles.f32(rows)), rows, true, true);
        // Valid files that the command line must refuse all the same.
        accepted(
                h,
                "one-dimensional",
                npy(1, dict("'<f4'", "False", "(" + ROWS * D + ",)"), HostileFiles.f32(rows)),
                rows,
                false,
                false);
        accepted(
                h,
                "transposed-width-40",
                npy(1, dict("'<f4'", "False", "(" + D + ", " + ROWS + ")"), HostileFiles.f32(rows)),
                rows,
                true,
                false);
        accepted(
                h,
                "zero-rows",
                npy(1, dict("'<f4'", "False", "(0, " + D + ")"), new byte[0]),
                new float[0],
                false,
                false);
        accepted(h, "int32", npy(1, dict("'<i4'", "False", SHAPE), HostileFiles.f32(rows)), null, false, false);
    }

    private static void accepted(
            HostileFiles h, String tag, byte[] bytes, float[] stored, boolean train, boolean eval) {
        String id = h.nextId("npy", tag);
        h.data(Kind.NPY, id, h.write(id + ".npy", bytes), stored, train, eval, tag);
    }

    private static void refused(HostileFiles h, String tag, byte[] bytes, String note) {
        String id = h.nextId("npy", tag);
        Path path = h.write(id + ".npy", bytes);
        h.refused(Kind.NPY, id, path, note);
    }

    private static void truncated(HostileFiles h, int v) {
        byte[] full = reference(h);
        int at = h.random.nextInt(full.length);
        refused(h, "truncated", Arrays.copyOf(full, at), "cut to " + at + " of " + full.length + " bytes");
    }

    private static void trailing(HostileFiles h, int v) {
        byte[] extra = new byte[1 + h.random.nextInt(64)];
        h.random.nextBytes(extra);
        refused(h, "trailing", HostileFiles.concat(reference(h), extra), extra.length + " bytes after the data");
    }

    private static void badMagic(HostileFiles h, int v) {
        byte[] bytes = reference(h);
        int at = h.random.nextInt(6);
        bytes[at] ^= (byte) (1 << h.random.nextInt(8));
        refused(h, "bad-magic", bytes, "magic byte " + at + " flipped");
    }

    /** Unsupported versions; the last one is drawn at random. */
    private static final int[][] VERSIONS = {{0, 0}, {4, 0}, {1, 1}, {2, 5}, {255, 255}, {-1, -1}};

    private static void badVersion(HostileFiles h, int v) {
        int[] version =
                v < VERSIONS.length - 1 ? VERSIONS[v] : new int[] {h.random.nextInt(256), 1 + h.random.nextInt(255)};
        byte[] bytes = npy(version[0] == 1 ? 1 : 2, dict("'<f4'", "False", SHAPE), HostileFiles.f32(h.rows));
        bytes[6] = (byte) version[0];
        bytes[7] = (byte) version[1];
        refused(h, "version", bytes, "version " + version[0] + "." + version[1]);
    }

    private static void headerLengthPastEnd(HostileFiles h, int v) {
        byte[] header = (dict("'<f4'", "False", SHAPE) + "\n").getBytes(StandardCharsets.ISO_8859_1);
        byte[] data = HostileFiles.f32(h.rows);
        boolean v1 = v == 0;
        long length = v1
                ? header.length + data.length + 1 + h.random.nextInt(0xFFFF - header.length - data.length)
                : new long[] {
                            header.length + data.length + 1L,
                            0xFFFF_FFFFL,
                            1L << 31,
                            1 + (h.random.nextLong() & 0xFFFF_FFFFL)
                        }
                        [h.random.nextInt(4)];
        refused(
                h,
                "header-length-past-end",
                raw(v1 ? 1 : 2, 0, length, header, data),
                "header length field " + length + " in a " + (header.length + data.length) + "-byte body");
    }

    private static void headerLengthShort(HostileFiles h, int v) {
        byte[] header = (dict("'<f4'", "False", SHAPE) + "\n").getBytes(StandardCharsets.ISO_8859_1);
        int length = h.random.nextInt(header.length);
        refused(
                h,
                "header-length-short",
                raw(1, 0, length, header, HostileFiles.f32(h.rows)),
                "header length field " + length + " for a " + header.length + "-byte header");
    }

    private static void hostileShape(HostileFiles h, int v) {
        String shape = SHAPES[v];
        refused(
                h,
                "shape",
                npy(shape.length() > 60000 ? 2 : 1, dict("'<f4'", "False", shape), HostileFiles.f32(h.rows)),
                "shape " + (shape.length() > 40 ? shape.substring(0, 40) + "..." : shape));
    }

    private static final String[] SHAPES = {
        "(-40, 8)",
        "(40, -8)",
        "(4611686018427387904, 8)",
        "(9223372036854775807, 9223372036854775807)",
        "(99999999999999999999, 8)",
        "(1099511627776, 1099511627776)",
        "()",
        "(40.0, 8)",
        "('40', 8)",
        "(True, 8)",
        "((40,), 8)",
        "(None, 8)",
        "(41, 8)",
        "(40, 9)",
        "(39, 8)",
        "[40, 8]",
        "(40 8)",
        "(40, 8",
        "(0, 8)",
        "(320, 8)",
        "(4, 0)",
        "(40, 8, 2)",
        "(" + "(".repeat(500) + ")".repeat(500) + ")",
        "(-9223372036854775808, 8)",
        "(2147483648, 2147483648)"
    };

    private static void hostileDescr(HostileFiles h, int v) {
        String descr = DESCRS[v];
        refused(
                h,
                "descr",
                npy(descr.length() > 60000 ? 2 : 1, dict(descr, "False", SHAPE), HostileFiles.f32(h.rows)),
                "descr " + (descr.length() > 40 ? descr.substring(0, 40) + "..." : descr));
    }

    private static final String[] DESCRS = {
        "'<f3'",
        "'>f4'",
        "'|O'",
        "'<c8'",
        "'<U4'",
        "'f4'",
        "''",
        "'<<f4'",
        "'<f4\\x00'",
        "'<f8'",
        "'<f2'",
        "'<i8'",
        "'|b1'",
        "[('a', '<f4')]",
        "'<M8[ns]'",
        "None",
        "42",
        "'<V4'",
        "'" + "x".repeat(100_000) + "'",
        "'<f4",
        "'<f4\u00e9'"
    };

    private static void hostileFortranOrder(HostileFiles h, int v) {
        refused(
                h,
                "fortran-order",
                npy(1, dict("'<f4'", FORTRAN_ORDERS[v], SHAPE), HostileFiles.f32(h.rows)),
                "fortran_order " + FORTRAN_ORDERS[v]);
    }

    private static final String[] FORTRAN_ORDERS = {"True", "1", "'False'", "None", "Fals", "()"};

    private static void brokenDict(HostileFiles h, int v) {
        if (v == DICTS.length) {
            // Version 3.0 promises UTF-8: a header with bytes that are not.
            byte[] dict = dict("'<f4'", "False", SHAPE)
                    .replace("'<f4'", "'<f4\u00ff'")
                    .getBytes(StandardCharsets.ISO_8859_1);
            byte[] header = HostileFiles.concat(dict, "\n".getBytes(StandardCharsets.ISO_8859_1));
            refused(
                    h,
                    "v3-not-utf8",
                    raw(3, 0, header.length, header, HostileFiles.f32(h.rows)),
                    "invalid UTF-8 in a 3.0 header");
            return;
        }
        String d = DICTS[v];
        refused(
                h,
                "header-dict",
                npy(d.length() > 60000 ? 2 : 1, d, HostileFiles.f32(h.rows)),
                "header " + (d.length() > 60 ? d.substring(0, 60) + "..." : d));
    }

    private static final String DEEP = "[".repeat(10_000) + "]".repeat(10_000);
    private static final String[] DICTS = {
        "{'fortran_order': False, 'shape': " + SHAPE + "}",
        "{'descr': '<f4', 'shape': " + SHAPE + "}",
        "{'descr': '<f4', 'fortran_order': False}",
        dict("'<f4'", "False", SHAPE).replace("}", "'extra': 1, }"),
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': " + SHAPE + "}",
        "['<f4', False, " + SHAPE + "]",
        dict("'<f4'", "False", SHAPE).replace("}", "'deep': " + DEEP + ", }"),
        dict("'<f4'", "False", SHAPE).replace("}", "'big': " + "9".repeat(5000) + ", }"),
        "{'descr': '<f4, 'fortran_order': False, 'shape': " + SHAPE + "}",
        "",
        "   ",
        dict("'<f4'", "False", SHAPE) + " + 1",
        "{'descr': '<f4' 'fortran_order': False 'shape': " + SHAPE + "}",
        "{1: '<f4', 'fortran_order': False, 'shape': " + SHAPE + "}",
    };

    private static void nonFinite(HostileFiles h, int v) {
        float[] values = h.withNonFinite();
        String id = h.nextId("npy", "non-finite");
        h.data(
                Kind.NPY,
                id,
                h.write(id + ".npy", npy(1, dict("'<f4'", "False", SHAPE), HostileFiles.f32(values))),
                values,
                false,
                false,
                "a NaN or infinity in the data");
    }
}
