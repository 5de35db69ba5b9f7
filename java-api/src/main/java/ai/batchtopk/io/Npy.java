package ai.batchtopk.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reader and writer for NumPy's <a href="https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html">.npy
 * format</a>: magic {@code \x93NUMPY}, version (1.0, 2.0 or 3.0), header length (u16 LE for 1.0, u32 LE
 * otherwise), a Python dict literal {@code {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }}
 * padded with spaces and a newline, then the raw data.
 *
 * <p>Supported descrs: {@code <f4 <f8 <f2 <i8 <i4 |u1 |b1} (single-byte types also with {@code <} or
 * {@code =}), and a raw 2-byte void {@code <V2}/{@code |V2} — the way bfloat16 arrays (ml_dtypes) are
 * saved — only when the caller names the type with {@link #map(Path, Arena, DType)}. Only C-order arrays
 * are read; big-endian data, Fortran order, structured and object dtypes are rejected with a
 * {@link MalformedFileException}. The data must be exactly as long as the shape implies: shorter means
 * truncated, longer means trailing bytes; both are rejected.
 */
public final class Npy {
    /** Largest header accepted (NumPy itself refuses headers over 10 000 bytes by default). */
    public static final int MAX_HEADER_BYTES = 1 << 20;

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final int ALIGN = 64;
    private static final Set<String> KEYS = Set.of("descr", "fortran_order", "shape");

    private Npy() {}

    /**
     * Memory-maps a .npy file (versions 1.0, 2.0, 3.0; C order only). The returned tensor is a read-only
     * view into the mapping, which lives as long as {@code arena}. A raw {@code <V2} descr is rejected;
     * use {@link #map(Path, Arena, DType)} to read bfloat16.
     *
     * <p>The view is the file itself, not a copy: if another process truncates the file, native code
     * reading the view dies of SIGBUS. {@link MappedFile} has the safe ways to read a file that may change.
     *
     * @throws MalformedFileException if the file is not a valid, supported .npy file
     * @throws java.nio.file.FileSystemException naming the file if it is not a regular file or cannot be mapped
     */
    public static Tensor map(Path file, Arena arena) throws IOException {
        return map(file, arena, null);
    }

    /**
     * Like {@link #map(Path, Arena)}, but a raw 2-byte void descr ({@code <V2} or {@code |V2}) is read as
     * {@code rawAs} (normally {@link DType#BF16}). For any other descr {@code rawAs} is ignored.
     *
     * @param rawAs a 2-byte dtype (BF16 or F16), or null to reject void descrs
     * @throws IllegalArgumentException if {@code rawAs} is not a 2-byte dtype
     */
    public static Tensor map(Path file, Arena arena, DType rawAs) throws IOException {
        if (rawAs != null && rawAs.byteSize() != 2) {
            throw new IllegalArgumentException(
                    "rawAs must be a 2-byte dtype (BF16 or F16) to read a '<V2' descr, not " + rawAs);
        }
        MemorySegment seg = MappedFile.mapReadOnly(file, arena);
        long size = seg.byteSize();
        if (size < 10) {
            throw new MalformedFileException(file, "file is " + size + " bytes long, too short for a .npy file");
        }
        for (int i = 0; i < MAGIC.length; i++) {
            if (seg.get(ValueLayout.JAVA_BYTE, i) != MAGIC[i]) {
                throw new MalformedFileException(file, "not a .npy file: bad magic (expected \\x93NUMPY)");
            }
        }
        int major = seg.get(ValueLayout.JAVA_BYTE, 6) & 0xFF;
        int minor = seg.get(ValueLayout.JAVA_BYTE, 7) & 0xFF;
        if (minor != 0 || major < 1 || major > 3) {
            throw new MalformedFileException(
                    file, "unsupported .npy format version " + major + "." + minor + " (supported: 1.0, 2.0, 3.0)");
        }
        long headerLen;
        long headerStart;
        if (major == 1) {
            headerLen = seg.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 8) & 0xFFFF;
            headerStart = 10;
        } else {
            if (size < 12) {
                throw new MalformedFileException(
                        file, "file is " + size + " bytes long, too short for a version " + major + ".0 .npy file");
            }
            headerLen = seg.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 8) & 0xFFFF_FFFFL;
            headerStart = 12;
        }
        if (headerLen > size - headerStart) {
            throw new MalformedFileException(
                    file,
                    "header length " + headerLen + " is beyond the end of the file (" + size
                            + " bytes); file truncated?");
        }
        if (headerLen > MAX_HEADER_BYTES) {
            throw new MalformedFileException(
                    file, "header length " + headerLen + " exceeds the limit of " + MAX_HEADER_BYTES + " bytes");
        }
        byte[] hb = seg.asSlice(headerStart, headerLen).toArray(ValueLayout.JAVA_BYTE);
        String header;
        if (major == 3) {
            try {
                header = StandardCharsets.UTF_8
                        .newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(hb))
                        .toString();
            } catch (CharacterCodingException e) {
                throw new MalformedFileException(file, "version 3.0 header is not valid UTF-8", e);
            }
        } else {
            header = new String(hb, StandardCharsets.ISO_8859_1);
        }

        Object parsed;
        try {
            parsed = new PyLiteral(header).parseAll();
        } catch (IllegalArgumentException e) {
            throw new MalformedFileException(
                    file,
                    "header is not a Python dict literal: " + e.getMessage() + " (header: " + abbreviate(header) + ")");
        }
        if (!(parsed instanceof Map<?, ?> dict)) {
            throw new MalformedFileException(
                    file, "header is not a Python dict literal (header: " + abbreviate(header) + ")");
        }
        for (String k : KEYS) {
            if (!dict.containsKey(k)) {
                throw new MalformedFileException(
                        file, "header is missing the key '" + k + "' (header: " + abbreviate(header) + ")");
            }
        }
        for (Object k : dict.keySet()) {
            if (!KEYS.contains(k)) {
                throw new MalformedFileException(
                        file,
                        "header has an unexpected key " + abbreviate(String.valueOf(k))
                                + " (expected exactly 'descr', 'fortran_order', 'shape')");
            }
        }
        if (!(dict.get("fortran_order") instanceof Boolean fortran)) {
            throw new MalformedFileException(file, "'fortran_order' must be True or False");
        }
        if (fortran) {
            throw new MalformedFileException(
                    file,
                    "array is stored in Fortran (column-major) order, which is not supported;"
                            + " save it in C order, e.g. np.save(path, np.ascontiguousarray(a))");
        }
        if (!(dict.get("shape") instanceof PyTuple(List<Object> dims))) {
            throw new MalformedFileException(
                    file, "'shape' must be a tuple of non-negative integers (header: " + abbreviate(header) + ")");
        }
        long[] shape = new long[dims.size()];
        for (int i = 0; i < shape.length; i++) {
            if (!(dims.get(i) instanceof Long d)) {
                throw new MalformedFileException(
                        file,
                        "shape dimension " + i + " is not an integer: "
                                + abbreviate(String.valueOf(dims.get(i))) + " (header: "
                                + abbreviate(header) + ")");
            }
            if (d < 0) {
                throw new MalformedFileException(file, "negative shape dimension " + d + " at index " + i);
            }
            shape[i] = d;
        }
        if (!(dict.get("descr") instanceof String descr)) {
            throw new MalformedFileException(
                    file,
                    "unsupported descr " + abbreviate(String.valueOf(dict.get("descr")))
                            + ": structured dtypes are not supported");
        }
        DType dtype = dtypeOf(file, descr, rawAs);

        long expected;
        try {
            expected = Tensor.byteSizeOf(dtype, shape);
        } catch (IllegalArgumentException e) {
            throw new MalformedFileException(
                    file,
                    "shape " + Arrays.toString(shape)
                            + " is too large: its element count or byte size overflows a 64-bit integer");
        }
        long dataStart = headerStart + headerLen;
        long actual = size - dataStart;
        if (actual < expected) {
            throw new MalformedFileException(
                    file,
                    "data is truncated: a " + descr + " array of shape " + Arrays.toString(shape) + " needs " + expected
                            + " bytes but only " + actual + " follow the header");
        }
        if (actual > expected) {
            throw new MalformedFileException(
                    file,
                    (actual - expected) + " unexpected trailing bytes after the data: a "
                            + descr + " array of shape " + Arrays.toString(shape) + " needs exactly " + expected
                            + " bytes but " + actual + " follow the header");
        }
        return new Tensor(dtype, shape, seg.asSlice(dataStart, expected));
    }

    private static DType dtypeOf(Path file, String descr, DType rawAs) throws MalformedFileException {
        if (descr.length() >= 2) {
            char order = descr.charAt(0);
            String code = descr.substring(1);
            boolean single = code.equals("u1") || code.equals("b1") || code.equals("V1") || code.equals("i1");
            if (order == '>' && !single) {
                throw new MalformedFileException(
                        file,
                        "big-endian descr '" + descr
                                + "' is not supported; convert with a.astype(a.dtype.newbyteorder('<'))");
            }
            if (order == '<' || order == '|' || order == '=' || (order == '>' && single)) {
                switch (code) {
                    case "f4":
                        return DType.F32;
                    case "f8":
                        return DType.F64;
                    case "f2":
                        return DType.F16;
                    case "i8":
                        return DType.I64;
                    case "i4":
                        return DType.I32;
                    case "u1":
                        return DType.U8;
                    case "b1":
                        return DType.BOOL;
                    case "V2":
                        if (rawAs == null) {
                            throw new MalformedFileException(
                                    file,
                                    "raw 2-byte descr '" + descr
                                            + "' (probably bfloat16) needs an explicit type: use Npy.map(file, arena, DType.BF16)");
                        }
                        return rawAs;
                    default:
                        break;
                }
            }
        }
        throw new MalformedFileException(
                file,
                "unknown or unsupported descr '" + abbreviate(descr)
                        + "' (supported: <f4 <f8 <f2 <i8 <i4 |u1 |b1, and <V2 as bfloat16 when named explicitly)");
    }

    /**
     * Writes {@code tensor} as a .npy file atomically (temporary file in the same directory, fsync,
     * rename over the target). Version 1.0 unless the header needs more than 65535 bytes; the header is
     * padded so the data starts at a multiple of 64 bytes. BF16 is written with descr {@code '<V2'}
     * (read it back with {@code map(file, arena, DType.BF16)}; NumPy sees 2-byte void records).
     */
    public static void write(Path file, Tensor tensor) throws IOException {
        StringBuilder shape = new StringBuilder("(");
        long[] dims = tensor.shape();
        for (int i = 0; i < dims.length; i++) {
            if (i > 0) {
                shape.append(", ");
            }
            shape.append(dims[i]);
        }
        if (dims.length == 1) {
            shape.append(',');
        }
        shape.append(')');
        String dict =
                "{'descr': '" + tensor.dtype().npyDescr() + "', 'fortran_order': False, 'shape': " + shape + ", }";
        String header = padHeader(dict, 10);
        int version = 1;
        if (header.length() > 0xFFFF) {
            version = 2;
            header = padHeader(dict, 12);
        }
        int preamble = version == 1 ? 10 : 12;
        ByteBuffer head = ByteBuffer.allocate(preamble + header.length()).order(ByteOrder.LITTLE_ENDIAN);
        head.put(MAGIC).put((byte) version).put((byte) 0);
        if (version == 1) {
            head.putShort((short) header.length());
        } else {
            head.putInt(header.length());
        }
        head.put(header.getBytes(StandardCharsets.ISO_8859_1));
        head.flip();
        MemorySegment data = tensor.data();
        AtomicFiles.write(file, ch -> {
            AtomicFiles.writeFully(ch, head);
            AtomicFiles.writeFully(ch, data);
        });
    }

    /** The dict plus spaces and a final newline so that preamble + header is a multiple of 64 bytes. */
    private static String padHeader(String dict, int preamble) {
        int total = preamble + dict.length() + 1;
        int pad = (ALIGN - total % ALIGN) % ALIGN;
        return dict + " ".repeat(pad) + "\n";
    }

    private static String abbreviate(String s) {
        String t = s.strip();
        return t.length() > 200 ? t.substring(0, 197) + "..." : t;
    }

    /** A Python tuple (as opposed to a list). */
    private record PyTuple(List<Object> items) {}

    /**
     * Parser for the subset of Python literals that appears in .npy headers: dicts, tuples, lists,
     * strings, ints (optionally with a Python 2 'L' suffix), True, False, None.
     */
    private static final class PyLiteral {
        private static final int MAX_DEPTH = 16;
        private final String s;
        private int pos;

        PyLiteral(String s) {
            this.s = s;
        }

        Object parseAll() {
            ws();
            Object v = value(0);
            ws();
            if (pos != s.length()) {
                throw err("unexpected trailing content");
            }
            return v;
        }

        private IllegalArgumentException err(String msg) {
            return new IllegalArgumentException(msg + " at offset " + pos);
        }

        private void ws() {
            while (pos < s.length()
                    && (s.charAt(pos) == ' '
                            || s.charAt(pos) == '\n'
                            || s.charAt(pos) == '\t'
                            || s.charAt(pos) == '\r'
                            || s.charAt(pos) == '\0')) {
                pos++;
            }
        }

        private char peek() {
            if (pos >= s.length()) {
                throw err("unexpected end of header");
            }
            return s.charAt(pos);
        }

        private Object value(int depth) {
            if (depth > MAX_DEPTH) {
                throw err("nesting too deep");
            }
            char c = peek();
            switch (c) {
                case '{':
                    return dict(depth + 1);
                case '(':
                    return seq(depth + 1, ')');
                case '[':
                    return seq(depth + 1, ']');
                case '\'':
                case '"':
                    return string();
                default:
                    if (c == '-' || c == '+' || (c >= '0' && c <= '9')) {
                        return integer();
                    }
                    for (String w : new String[] {"True", "False", "None"}) {
                        if (s.startsWith(w, pos)) {
                            pos += w.length();
                            return w.equals("None") ? null : Boolean.valueOf(w.equals("True"));
                        }
                    }
                    throw err("unexpected character '" + c + "'");
            }
        }

        private Map<Object, Object> dict(int depth) {
            pos++;
            Map<Object, Object> m = new LinkedHashMap<>();
            while (true) {
                ws();
                if (peek() == '}') {
                    pos++;
                    return m;
                }
                Object k = value(depth);
                if (!(k instanceof String)) {
                    throw err("dict key is not a string");
                }
                ws();
                if (peek() != ':') {
                    throw err("expected ':'");
                }
                pos++;
                ws();
                Object v = value(depth);
                if (m.containsKey(k)) {
                    throw err("duplicate key '" + k + "'");
                }
                m.put(k, v);
                ws();
                char c = peek();
                if (c == ',') {
                    pos++;
                } else if (c != '}') {
                    throw err("expected ',' or '}'");
                }
            }
        }

        /** Tuple or list. Python semantics: {@code (x)} without a comma is just x. */
        private Object seq(int depth, char close) {
            pos++;
            List<Object> items = new ArrayList<>();
            boolean comma = false;
            while (true) {
                ws();
                if (peek() == close) {
                    pos++;
                    break;
                }
                items.add(value(depth));
                ws();
                char c = peek();
                if (c == ',') {
                    comma = true;
                    pos++;
                } else if (c != close) {
                    throw err("expected ',' or '" + close + "'");
                }
            }
            if (close == ']') {
                return items;
            }
            if (items.size() == 1 && !comma) {
                return items.get(0);
            }
            return new PyTuple(items);
        }

        private String string() {
            char q = s.charAt(pos++);
            StringBuilder sb = new StringBuilder();
            while (true) {
                char c = peek();
                pos++;
                if (c == q) {
                    return sb.toString();
                }
                if (c == '\n') {
                    throw err("newline in string");
                }
                if (c == '\\') {
                    sb.append(peek());
                    pos++;
                } else {
                    sb.append(c);
                }
            }
        }

        /** An int as Long (optionally with a Python 2 'L' suffix), or a float as Double. */
        private Object integer() {
            int start = pos;
            if (s.charAt(pos) == '-' || s.charAt(pos) == '+') {
                pos++;
            }
            int digits = pos;
            while (pos < s.length() && Character.isDigit(s.charAt(pos)) && s.charAt(pos) < 0x80) {
                pos++;
            }
            if (pos == digits) {
                throw err("expected digits");
            }
            if (pos < s.length() && (s.charAt(pos) == '.' || s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
                while (pos < s.length() && "0123456789.eE+-".indexOf(s.charAt(pos)) >= 0) {
                    pos++;
                }
                try {
                    return Double.parseDouble(s.substring(start, pos));
                } catch (NumberFormatException e) {
                    throw err("invalid number " + abbreviate(s.substring(start, pos)));
                }
            }
            String text = s.substring(start, pos);
            if (pos < s.length() && (s.charAt(pos) == 'L' || s.charAt(pos) == 'l')) {
                pos++; // Python 2 long suffix, written by old NumPy versions
            }
            try {
                return Long.parseLong(text.startsWith("+") ? text.substring(1) : text);
            } catch (NumberFormatException e) {
                throw err("integer " + abbreviate(text) + " out of range");
            }
        }
    }
}
