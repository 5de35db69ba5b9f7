package ai.batchtopk.reliability;

import static ai.batchtopk.reliability.HostileFiles.D;
import static ai.batchtopk.reliability.HostileFiles.ROWS;

import ai.batchtopk.reliability.HostileFile.Kind;
import ai.batchtopk.reliability.HostileFiles.Mutation;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;

/**
 * Hostile safetensors files: valid encodings of the reference rows, then seeded random picks among
 * truncations, header lengths past the end, huge or negative, broken or hostile JSON (deep nesting,
 * huge numbers and strings, duplicate keys, invalid UTF-8), hostile dtypes, shapes and data offsets
 * (reversed, past the end, overlapping) and non-finite data.
 */
final class HostileSafetensors {
    private HostileSafetensors() {}

    private static final int BYTES = ROWS * D * 4;
    private static final String SHAPE = "[" + ROWS + ", " + D + "]";

    static void addTo(HostileFiles h, int extra) {
        valid(h);
        h.mutate(
                List.of(
                        new Mutation(1, HostileSafetensors::truncated),
                        new Mutation(8, HostileSafetensors::headerLength),
                        new Mutation(JSON.length + 1, HostileSafetensors::brokenJson),
                        new Mutation(ENTRIES.length, HostileSafetensors::hostileEntry),
                        new Mutation(DTYPES.length, HostileSafetensors::hostileDtype),
                        new Mutation(SHAPES.length, HostileSafetensors::hostileShape),
                        new Mutation(OFFSETS.length + 1, HostileSafetensors::hostileOffsets),
                        new Mutation(1, HostileSafetensors::nonFinite)),
                extra);
    }

    /** One tensor entry of the header. */
    static String entry(String dtype, String shape, String offsets) {
        return "{\"dtype\": " + dtype + ", \"shape\": " + shape + ", \"data_offsets\": " + offsets + "}";
    }

    static String header(String... nameAndEntry) {
        StringBuilder sb = new StringBuilder("{\"__metadata__\": {\"format\": \"pt\"}");
        for (int i = 0; i < nameAndEntry.length; i += 2) {
            sb.append(", \"").append(nameAndEntry[i]).append("\": ").append(nameAndEntry[i + 1]);
        }
        return sb.append('}').toString();
    }

    /** The length field, the header padded with spaces to 8 bytes, the data. */
    static byte[] file(String header, byte[] data) {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        byte[] padded = Arrays.copyOf(json, (json.length + 7) / 8 * 8);
        Arrays.fill(padded, json.length, padded.length, (byte) ' ');
        return raw(padded.length, padded, data);
    }

    static byte[] raw(long headerLength, byte[] header, byte[] data) {
        byte[] n = ByteBuffer.allocate(8)
                .order(ByteOrder.LITTLE_ENDIAN)
                .putLong(headerLength)
                .array();
        return HostileFiles.concat(n, header, data);
    }

    private static String acts(String dtype, String shape, String offsets) {
        return header("acts", entry(dtype, shape, offsets));
    }

    private static byte[] reference(HostileFiles h) {
        return file(acts("\"F32\"", SHAPE, "[0, " + BYTES + "]"), HostileFiles.f32(h.rows));
    }

    private static void valid(HostileFiles h) {
        float[] rows = h.rows;
        accepted(h, "f32", reference(h), rows, true, true);
        accepted(
                h,
                "f64",
                file(acts("\"F64\"", SHAPE, "[0, " + BYTES * 2 + "]"), HostileFiles.f64(rows)),
                rows,
                true,
                true);
        float[] half = rows.clone();
        byte[] f16 = HostileFiles.f16(half);
        accepted(h, "f16", file(acts("\"F16\"", SHAPE, "[0, " + BYTES / 2 + "]"), f16), half, true, true);
        float[] brain = rows.clone();
        byte[] bf16 = HostileFiles.bf16(brain);
        accepted(h, "bf16", file(acts("\"BF16\"", SHAPE, "[0, " + BYTES / 2 + "]"), bf16), brain, true, true);
        accepted(
                h,
                "no-metadata",
                file("{\"acts\": " + entry("\"F32\"", SHAPE, "[0, " + BYTES + "]") + "}", HostileFiles.f32(rows)),
                rows,
                true,
                true);
        accepted(
                h,
                "unknown-entry-key",
                file(
                        header(
                                "acts",
                                entry("\"F32\"", SHAPE, "[0, " + BYTES + "]")
                                        .replace("}", ", \"extra\": [1, {\"a\": null}]}")),
                        HostileFiles.f32(rows)),
                rows,
                true,
                true);
        accepted(
                h,
                "gap-before-data",
                file(
                        acts("\"F32\"", SHAPE, "[64, " + (64 + BYTES) + "]"),
                        HostileFiles.concat(new byte[64], HostileFiles.f32(rows))),
                rows,
                true,
                true);
        accepted(h, "trailing-bytes", HostileFiles.concat(reference(h), new byte[13]), rows, true, true);
        accepted(
                h,
                "huge-metadata-string",
                file(
                        header("acts", entry("\"F32\"", SHAPE, "[0, " + BYTES + "]"))
                                .replace("\"pt\"", "\"" + "p".repeat(1 << 20) + "\""),
                        HostileFiles.f32(rows)),
                rows,
                true,
                true);
        accepted(
                h,
                "second-tensor-not-2d",
                file(
                        header(
                                "acts",
                                entry("\"F32\"", SHAPE, "[0, " + BYTES + "]"),
                                "tokens",
                                entry("\"I64\"", "[" + ROWS + "]", "[" + BYTES + ", " + (BYTES + ROWS * 8) + "]")),
                        HostileFiles.concat(HostileFiles.f32(rows), new byte[ROWS * 8])),
                rows,
                true,
                true);
        // Valid files that the command line must refuse all the same.
        accepted(
                h,
                "two-2d-tensors",
                file(
                        header(
                                "acts",
                                entry("\"F32\"", SHAPE, "[0, " + BYTES + "]"),
                                "more",
                                entry("\"F32\"", SHAPE, "[" + BYTES + ", " + 2 * BYTES + "]")),
                        HostileFiles.concat(HostileFiles.f32(rows), HostileFiles.f32(rows))),
                rows,
                false,
                false);
        accepted(
                h,
                "one-dimensional",
                file(acts("\"F32\"", "[" + ROWS * D + "]", "[0, " + BYTES + "]"), HostileFiles.f32(rows)),
                rows,
                false,
                false);
        accepted(
                h,
                "int32",
                file(acts("\"I32\"", SHAPE, "[0, " + BYTES + "]"), HostileFiles.f32(rows)),
                null,
                false,
                false);
        accepted(
                h,
                "transposed-width-40",
                file(acts("\"F32\"", "[" + D + ", " + ROWS + "]", "[0, " + BYTES + "]"), HostileFiles.f32(rows)),
                rows,
                true,
                false);
    }

    private static void accepted(
            HostileFiles h, String tag, byte[] bytes, float[] stored, boolean train, boolean eval) {
        String id = h.nextId("safetensors", tag);
        h.data(Kind.SAFETENSORS, id, h.write(id + ".safetensors", bytes), stored, train, eval, tag);
    }

    private static void refused(HostileFiles h, String tag, byte[] bytes, String note) {
        String id = h.nextId("safetensors", tag);
        h.refused(Kind.SAFETENSORS, id, h.write(id + ".safetensors", bytes), note);
    }

    private static void truncated(HostileFiles h, int v) {
        byte[] full = reference(h);
        int at = h.random.nextInt(full.length);
        refused(h, "truncated", Arrays.copyOf(full, at), "cut to " + at + " of " + full.length + " bytes");
    }

    private static void headerLength(HostileFiles h, int v) {
        byte[] full = reference(h);
        byte[] json = Arrays.copyOfRange(full, 8, full.length - BYTES);
        long[] lengths = {
            json.length + BYTES + 1L,
            json.length + BYTES + 1L + h.random.nextInt(1 << 20),
            1L << 40,
            -1L,
            Long.MIN_VALUE,
            0,
            2,
            json.length / 2
        };
        long n = lengths[v];
        refused(
                h,
                "header-length",
                raw(n, json, HostileFiles.f32(h.rows)),
                "header length field " + Long.toUnsignedString(n) + " for " + json.length + " header bytes");
    }

    private static final String OK = entry("\"F32\"", SHAPE, "[0, " + BYTES + "]");
    private static final String[] JSON = {
        "{",
        "[]",
        "null",
        "\"acts\"",
        "{\"acts\": }",
        "{\"acts\": " + OK + ",}",
        "{\"acts\": " + OK + "} x",
        "{'acts': " + OK.replace('"', '\'') + "}",
        "{\"__metadata__\": " + "[".repeat(100_000) + "]".repeat(100_000) + ", \"acts\": " + OK + "}",
        "{\"acts\": " + OK + ", \"acts\": " + OK + "}",
        "{\"__metadata__\": {\"format\": 1}, \"acts\": " + OK + "}",
        "{\"__metadata__\": [\"format\"], \"acts\": " + OK + "}",
        "{\"__metadata__\": {\"format\": \"pt\", \"format\": \"np\"}, \"acts\": " + OK + "}",
        "{\"__metadata__\": {\"n\": \"" + "\\u0000".repeat(10) + "\"}, \"acts\": " + OK.replace("0, ", "0e99999, ")
                + "}",
        "{\"acts\": " + OK.replace("[0, ", "[1e400, ") + "}",
        "{\"acts\": " + OK.replace("\"F32\"", "\"F32\\ud800\"") + "}",
        ""
    };

    private static void brokenJson(HostileFiles h, int v) {
        if (v == JSON.length) {
            byte[] latin = acts("\"F32\"", SHAPE, "[0, " + BYTES + "]")
                    .replace("\"pt\"", "\"p\u00e9\"")
                    .getBytes(StandardCharsets.ISO_8859_1);
            refused(
                    h,
                    "header-not-utf8",
                    raw(latin.length, latin, HostileFiles.f32(h.rows)),
                    "a Latin-1 byte in the header");
            return;
        }
        String header = JSON[v];
        refused(
                h,
                "json",
                file(header, HostileFiles.f32(h.rows)),
                "header " + (header.length() > 60 ? header.substring(0, 60) + "..." : header));
    }

    private static final String[] ENTRIES = {
        "42",
        "[]",
        "\"F32\"",
        "null",
        "{}",
        "{\"shape\": " + SHAPE + ", \"data_offsets\": [0, " + BYTES + "]}",
        "{\"dtype\": \"F32\", \"data_offsets\": [0, " + BYTES + "]}",
        "{\"dtype\": \"F32\", \"shape\": " + SHAPE + "}"
    };

    private static void hostileEntry(HostileFiles h, int v) {
        refused(h, "entry", file(header("acts", ENTRIES[v]), HostileFiles.f32(h.rows)), "entry " + ENTRIES[v]);
    }

    private static final String[] DTYPES = {
        "\"F33\"",
        "\"f32\"",
        "\"\"",
        "42",
        "null",
        "\"F16\"",
        "\"BF16\"",
        "\"F64\"",
        "\"BOOL\"",
        "\"U8\"",
        "\"F8_E4M3\"",
        "\"" + "F".repeat(1 << 16) + "\"",
        "[\"F32\"]"
    };

    private static void hostileDtype(HostileFiles h, int v) {
        String dtype = DTYPES[v];
        refused(
                h,
                "dtype",
                file(acts(dtype, SHAPE, "[0, " + BYTES + "]"), HostileFiles.f32(h.rows)),
                "dtype " + (dtype.length() > 40 ? dtype.substring(0, 40) + "..." : dtype));
    }

    private static final String[] SHAPES = {
        "[-40, 8]",
        "[40, -8]",
        "[4611686018427387904, 8]",
        "[4294967296, 4294967296]",
        "[9223372036854775807, 2]",
        "[99999999999999999999, 8]",
        "[40.0, 8]",
        "[\"40\", 8]",
        "[true, 8]",
        "[[40], 8]",
        "[null, 8]",
        "[41, 8]",
        "[40, 9]",
        "[]",
        "[40, 8, 2]",
        "40",
        "{\"0\": 40}",
        "[40, 8" + ", 1".repeat(100_000) + ", 0]"
    };

    private static void hostileShape(HostileFiles h, int v) {
        String shape = SHAPES[v];
        refused(
                h,
                "shape",
                file(acts("\"F32\"", shape, "[0, " + BYTES + "]"), HostileFiles.f32(h.rows)),
                "shape " + (shape.length() > 40 ? shape.substring(0, 40) + "..." : shape));
    }

    private static final String[] OFFSETS = {
        "[" + BYTES + ", 0]",
        "[0, " + (BYTES + 1) + "]",
        "[-1, " + (BYTES - 1) + "]",
        "[0, 9223372036854775807]",
        "[9223372036854775800, 9223372036854775807]",
        "[0]",
        "[0, 1, 2]",
        "\"0," + BYTES + "\"",
        "[0.0, " + BYTES + ".0]",
        "[8, " + (BYTES + 8) + "]",
        "[0, " + (BYTES - 4) + "]",
        "[0, 18446744073709551616]",
        "null"
    };

    private static void hostileOffsets(HostileFiles h, int v) {
        if (v == OFFSETS.length) {
            String header = header(
                    "acts",
                    entry("\"F32\"", SHAPE, "[0, " + BYTES + "]"),
                    "other",
                    entry("\"F32\"", "[20, 8]", "[" + BYTES / 2 + ", " + (BYTES / 2 + 640) + "]"));
            refused(h, "overlapping", file(header, HostileFiles.f32(h.rows)), "two tensors overlapping");
            return;
        }
        refused(
                h,
                "offsets",
                file(acts("\"F32\"", SHAPE, OFFSETS[v]), HostileFiles.f32(h.rows)),
                "data_offsets " + OFFSETS[v]);
    }

    private static void nonFinite(HostileFiles h, int v) {
        float[] values = h.withNonFinite();
        String id = h.nextId("safetensors", "non-finite");
        h.data(
                Kind.SAFETENSORS,
                id,
                h.write(
                        id + ".safetensors",
                        file(acts("\"F32\"", SHAPE, "[0, " + BYTES + "]"), HostileFiles.f32(values))),
                values,
                false,
                false,
                "a NaN or infinity in the data");
    }
}
