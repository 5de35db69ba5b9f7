package ai.batchtopk.io;

import com.fasterxml.jackson.databind.JsonNode;
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
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reader and writer for the <a href="https://github.com/huggingface/safetensors">safetensors</a> format:
 * {@code u64-LE N | N bytes of UTF-8 JSON header | data}. The header maps each tensor name to
 * {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative to the data section), plus
 * an optional {@code "__metadata__"} string-to-string map.
 *
 * <p>Reading memory-maps the file; tensors are read-only views into the mapping, never copied. The
 * header is validated fully and any inconsistency is reported as a {@link MalformedFileException} naming
 * the file and the problem. Unlike the reference implementation, gaps between tensors and unused bytes
 * at the end of the data section are tolerated; overlapping tensors are not. Unknown keys in a tensor
 * entry are ignored.
 */
public final class Safetensors {
    /** Largest header accepted, as in the reference implementation. */
    public static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    private static final String METADATA_KEY = "__metadata__";

    private Safetensors() {}

    /**
     * Memory-maps and validates a .safetensors file. The mapping (and every tensor's segment) lives as
     * long as {@code arena}. The tensors are views of the file itself: see {@link MappedFile} for reading
     * a file that another process may truncate.
     *
     * @throws MalformedFileException if the file is not a valid safetensors file
     * @throws IOException if it cannot be read
     */
    public static SafetensorsFile open(Path file, Arena arena) throws IOException {
        MemorySegment seg = MappedFile.mapReadOnly(file, arena);
        long size = seg.byteSize();
        if (size < 8) {
            throw new MalformedFileException(
                    file,
                    "file is " + size
                            + " bytes long, too short for a safetensors file (needs at least the 8-byte header length)");
        }
        long n = seg.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (n < 0 || n > MAX_HEADER_BYTES) {
            throw new MalformedFileException(
                    file,
                    "header length " + Long.toUnsignedString(n) + " exceeds the limit of " + MAX_HEADER_BYTES
                            + " bytes (100 MB); not a safetensors file?");
        }
        if (n > size - 8) {
            throw new MalformedFileException(
                    file,
                    "header length " + n + " is larger than the file (" + size + " bytes, " + (size - 8)
                            + " after the length field); file truncated or not safetensors");
        }
        byte[] headerBytes = seg.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
        String headerText;
        try {
            headerText = StandardCharsets.UTF_8
                    .newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(headerBytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new MalformedFileException(file, "header is not valid UTF-8", e);
        }
        JsonNode header;
        try {
            header = JsonCodec.parseTree(headerText);
        } catch (JsonCodec.InvalidJsonException e) {
            throw new MalformedFileException(file, "header is not valid JSON: " + e.getMessage(), e);
        }
        if (!header.isObject()) {
            throw new MalformedFileException(file, "header must be a JSON object, found " + kind(header));
        }

        long dataStart = 8 + n;
        long dataLen = size - dataStart;
        Map<String, String> metadata = new LinkedHashMap<>();
        record Entry(String name, DType dtype, long[] shape, long begin, long end) {}
        List<Entry> entries = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : header.properties()) {
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals(METADATA_KEY)) {
                if (!v.isObject()) {
                    throw new MalformedFileException(
                            file, "\"__metadata__\" must be an object mapping strings to strings, found " + kind(v));
                }
                for (Map.Entry<String, JsonNode> me : v.properties()) {
                    if (!me.getValue().isTextual()) {
                        throw new MalformedFileException(
                                file,
                                "\"__metadata__\" value for key " + quoteShort(me.getKey())
                                        + " must be a string, found " + kind(me.getValue()));
                    }
                    metadata.put(me.getKey(), me.getValue().textValue());
                }
                continue;
            }
            String where = "tensor " + quoteShort(name);
            if (!v.isObject()) {
                throw new MalformedFileException(
                        file, where + ": entry must be an object with dtype, shape and data_offsets, found " + kind(v));
            }
            // dtype
            JsonNode dt = v.path("dtype");
            if (!dt.isTextual()) {
                throw new MalformedFileException(file, where + ": \"dtype\" must be a string, found " + kind(dt));
            }
            String dtName = dt.textValue();
            DType dtype;
            try {
                dtype = DType.fromSafetensorsName(dtName);
            } catch (IllegalArgumentException ex) {
                throw new MalformedFileException(file, where + ": " + ex.getMessage());
            }
            // shape
            JsonNode sh = v.path("shape");
            if (!sh.isArray()) {
                throw new MalformedFileException(
                        file, where + ": \"shape\" must be an array of non-negative integers, found " + kind(sh));
            }
            long[] shape = new long[sh.size()];
            for (int i = 0; i < shape.length; i++) {
                JsonNode d = sh.get(i);
                if (!isLong(d)) {
                    throw new MalformedFileException(
                            file,
                            where + ": shape dimension " + i + " must be a non-negative integer, found " + kind(d) + " "
                                    + snippet(d));
                }
                long dim = d.longValue();
                if (dim < 0) {
                    throw new MalformedFileException(
                            file, where + ": negative shape dimension " + dim + " at index " + i);
                }
                shape[i] = dim;
            }
            long nbytes;
            try {
                nbytes = Tensor.byteSizeOf(dtype, shape);
            } catch (IllegalArgumentException ex) {
                throw new MalformedFileException(
                        file,
                        where + ": shape " + Arrays.toString(shape)
                                + " is too large: its element count or byte size overflows a 64-bit integer");
            }
            // data_offsets
            JsonNode off = v.path("data_offsets");
            if (!off.isArray() || off.size() != 2 || !isLong(off.get(0)) || !isLong(off.get(1))) {
                throw new MalformedFileException(
                        file,
                        where + ": \"data_offsets\" must be an array of 2 integers [begin, end], found "
                                + (off.isMissingNode() ? "nothing (missing)" : snippet(off)));
            }
            long begin = off.get(0).longValue();
            long end = off.get(1).longValue();
            if (begin < 0 || end < 0) {
                throw new MalformedFileException(file, where + ": negative data_offsets [" + begin + ", " + end + "]");
            }
            if (begin > end) {
                throw new MalformedFileException(file, where + ": data_offsets begin " + begin + " > end " + end);
            }
            if (end > dataLen) {
                throw new MalformedFileException(
                        file,
                        where + ": data_offsets end " + end + " is beyond the end of the data section (" + dataLen
                                + " bytes); file truncated?");
            }
            if (end - begin != nbytes) {
                throw new MalformedFileException(
                        file,
                        where + ": data_offsets [" + begin + ", " + end + "] span "
                                + (end - begin) + " bytes but a " + dtype.safetensorsName() + " tensor of shape "
                                + Arrays.toString(shape) + " needs " + nbytes);
            }
            entries.add(new Entry(name, dtype, shape, begin, end));
        }

        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        for (int i = 1; i < sorted.size(); i++) {
            Entry prev = sorted.get(i - 1);
            Entry cur = sorted.get(i);
            if (cur.begin() < prev.end()) {
                throw new MalformedFileException(
                        file,
                        "tensors " + quoteShort(prev.name()) + " [" + prev.begin()
                                + ", " + prev.end() + ") and " + quoteShort(cur.name()) + " [" + cur.begin() + ", "
                                + cur.end() + ") overlap");
            }
        }

        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Entry en : entries) {
            MemorySegment data = seg.asSlice(dataStart + en.begin(), en.end() - en.begin());
            tensors.put(en.name(), new Tensor(en.dtype(), en.shape(), data));
        }
        return new SafetensorsFile(file, tensors, metadata);
    }

    /**
     * Writes a safetensors file atomically (temporary file in the same directory, fsync, rename over the
     * target). Tensors are written in the map's iteration order (use a {@link LinkedHashMap}) with data
     * packed back to back in that order; {@code __metadata__} is written first, and omitted when
     * {@code metadata} is empty or null. The header is padded with spaces to a multiple of 8 bytes, so the
     * data section starts 8-byte aligned in the file.
     *
     * @throws IllegalArgumentException if a name is null or {@code "__metadata__"}, or a tensor or
     *     metadata key/value is null
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        if (metadata != null && !metadata.isEmpty()) {
            Map<String, Object> meta = new LinkedHashMap<>();
            for (Map.Entry<String, String> e : metadata.entrySet()) {
                if (e.getKey() == null || e.getValue() == null) {
                    throw new IllegalArgumentException("metadata keys and values must not be null: " + e);
                }
                meta.put(e.getKey(), e.getValue());
            }
            header.put(METADATA_KEY, meta);
        }
        List<MemorySegment> segments = new ArrayList<>(tensors.size());
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            String name = e.getKey();
            Tensor t = e.getValue();
            if (name == null || name.equals(METADATA_KEY)) {
                throw new IllegalArgumentException("invalid tensor name " + name);
            }
            if (t == null) {
                throw new IllegalArgumentException("tensor " + name + " is null");
            }
            long end = offset + t.byteSize();
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("dtype", t.dtype().safetensorsName());
            info.put("shape", t.shape());
            info.put("data_offsets", List.of(offset, end));
            header.put(name, info);
            segments.add(t.data());
            offset = end;
        }
        byte[] json = JsonCodec.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) & ~7;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded);
        head.put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();
        AtomicFiles.write(file, ch -> {
            AtomicFiles.writeFully(ch, head);
            for (MemorySegment s : segments) {
                AtomicFiles.writeFully(ch, s);
            }
        });
    }

    /** An integer that fits a long (a shape dimension or an offset). */
    private static boolean isLong(JsonNode v) {
        return v.isIntegralNumber() && v.canConvertToLong();
    }

    private static String kind(JsonNode v) {
        return JsonCodec.kind(v);
    }

    /** {@code name} as a JSON string, truncated for messages. */
    static String quoteShort(String name) {
        return JsonCodec.quoteShort(name);
    }

    /** Compact JSON of {@code v}, truncated so hostile headers cannot blow up the message. */
    private static String snippet(JsonNode v) {
        return JsonCodec.snippet(v);
    }
}
