package ai.batchtopk.data;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.FileChangedException;
import ai.batchtopk.io.MappedFile;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.SafetensorsFile;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Several memory-mapped files of activations seen as one table of rows, in the order given: .npy files,
 * safetensors files (the file's one 2-D float tensor, or {@code FILE.safetensors:NAME}), and
 * directories of shards (every .npy and .safetensors file inside, sorted by name).
 *
 * <p>Every file must hold floats (F32, F16, F64, or bfloat16 saved as raw {@code <V2}) of the same
 * width {@code d} and the same dtype: a batch that spans two files is copied byte for byte into one
 * buffer, which only works when both files store rows the same way. A file of rank 3 or more
 * ({@code [batch, seq, d]}, as activations are often saved) is read as {@code [batch * seq, d]}.
 *
 * <p>The mappings live as long as the arena given to {@link #open}. Rows leave them in one of two ways
 * (see {@link MappedFile}): {@link Part#copyRows} copies them in Java and checks the file after, so a file
 * changed meanwhile is a {@link FileChangedException} naming it; {@link Part#view} checks the file's
 * metadata first and hands out the mapping itself, for native code to read in place.
 */
public final class ActivationData {
    /** One file: its rows are rows {@code firstRow .. firstRow + rows - 1} of the whole. */
    public record Part(Path path, Tensor rows, long firstRow, MappedFile file) {
        public long rowCount() {
            return rows.dim(0);
        }

        /**
         * Rows {@code first .. first + count - 1} of this file, copied into {@code out} at
         * {@code outOffset} bytes: off-heap to off-heap, in Java, then the file checked, so a change of the
         * file is an exception ({@link MappedFile#copy}).
         */
        public void copyRows(long first, long count, MemorySegment out, long outOffset) {
            long rowBytes = rows.dim(1) * rows.dtype().byteSize();
            file.copy(rows.data(), first * rowBytes, out, outOffset, count * rowBytes);
        }

        /** Rows {@code first .. first + count - 1} of this file copied to the start of {@code staging}, as a tensor there. */
        public Tensor copyRows(long first, long count, MemorySegment staging) {
            copyRows(first, count, staging, 0);
            long rowBytes = rows.dim(1) * rows.dtype().byteSize();
            return new Tensor(rows.dtype(), new long[] {count, rows.dim(1)}, staging.asSlice(0, count * rowBytes));
        }

        /**
         * Rows {@code first .. first + count - 1} of this file as a view of the mapping, after checking the
         * file is unchanged. Native code reads the view in place; a file truncated after the check and
         * before that read still kills the process (SIGBUS): the window {@link MappedFile} describes.
         */
        public Tensor view(long first, long count) {
            file.requireUnchanged();
            long rowBytes = rows.dim(1) * rows.dtype().byteSize();
            return new Tensor(
                    rows.dtype(),
                    new long[] {count, rows.dim(1)},
                    rows.data().asSlice(first * rowBytes, count * rowBytes));
        }
    }

    private final List<Part> parts;
    private final long[] firstRows;
    private final long totalRows;
    private final long width;
    private final DType dtype;

    private ActivationData(List<Part> parts) {
        this.parts = List.copyOf(parts);
        this.firstRows = parts.stream().mapToLong(Part::firstRow).toArray();
        Part last = parts.getLast();
        this.totalRows = last.firstRow() + last.rowCount();
        this.width = parts.getFirst().rows().dim(1);
        this.dtype = parts.getFirst().rows().dtype();
    }

    /**
     * Maps the files and checks they fit together.
     *
     * @throws DataException naming the file and the problem
     * @throws IOException for a file that cannot be read or is not a valid .npy file
     */
    public static ActivationData open(List<Path> specs, Arena arena) throws IOException {
        if (specs.isEmpty()) {
            throw new DataException("no data files given");
        }
        List<Part> parts = new ArrayList<>();
        long first = 0;
        for (Source source : expand(specs)) {
            Path file = source.file();
            MappedFile snapshot = MappedFile.of(file);
            Tensor rows = asRows(source.label(), source.read(arena));
            // The file must not have changed while it was mapped and its header checked.
            snapshot.requireUnchanged();
            if (!parts.isEmpty()) {
                Part previous = parts.getFirst();
                if (rows.dim(1) != previous.rows().dim(1)) {
                    throw new DataException(source.label() + " has width d = " + rows.dim(1) + " but " + previous.path()
                            + " has d = " + previous.rows().dim(1)
                            + "; all the files read together must have the same width");
                }
                if (rows.dtype() != previous.rows().dtype()) {
                    throw new DataException(source.label() + " holds " + rows.dtype() + " but " + previous.path()
                            + " holds " + previous.rows().dtype()
                            + "; all the files read together must have the same dtype");
                }
            }
            parts.add(new Part(file, rows, first, snapshot));
            first += rows.dim(0);
        }
        return new ActivationData(parts);
    }

    /**
     * One file to read: a .npy file, or a .safetensors file with the name of the tensor to take (null:
     * its only 2-D float tensor).
     */
    public record Source(Path file, String tensor) {
        public String label() {
            return tensor == null ? file.toString() : file + ":" + tensor;
        }

        public Tensor read(Arena arena) throws IOException {
            if (!isSafetensors(file)) {
                return Npy.map(file, arena, DType.BF16);
            }
            SafetensorsFile st = Safetensors.open(file, arena);
            if (tensor != null) {
                return st.get(tensor);
            }
            List<String> candidates = st.tensors().entrySet().stream()
                    .filter(e ->
                            e.getValue().rank() == 2 && e.getValue().dtype().isFloatingPoint())
                    .map(Map.Entry::getKey)
                    .toList();
            if (candidates.size() != 1) {
                throw new DataException(file + " holds " + (candidates.isEmpty() ? "no" : candidates.size())
                        + " 2-D float tensors"
                        + (candidates.isEmpty() ? "" : " (" + String.join(", ", candidates) + ")")
                        + "; name the one to read: " + file + ":NAME");
            }
            return st.tensors().get(candidates.getFirst());
        }
    }

    public static boolean isSafetensors(Path file) {
        return file.getFileName() != null && file.getFileName().toString().endsWith(".safetensors");
    }

    private static boolean isActivationFile(Path file) {
        String name = file.getFileName().toString();
        return Files.isRegularFile(file)
                && !name.startsWith(".")
                && (name.endsWith(".npy") || name.endsWith(".safetensors"));
    }

    /**
     * What {@code --data} values stand for: a file; {@code FILE.safetensors:NAME}, one tensor of a
     * file; or a directory: every .npy and .safetensors file directly inside it, sorted by name.
     */
    public static List<Source> expand(List<Path> specs) throws IOException {
        List<Source> sources = new ArrayList<>();
        for (Path spec : specs) {
            if (Files.isDirectory(spec)) {
                List<Path> files;
                try (Stream<Path> entries = Files.list(spec)) {
                    files = entries.filter(ActivationData::isActivationFile)
                            .sorted(Comparator.comparing(p -> p.getFileName().toString()))
                            .toList();
                }
                if (files.isEmpty()) {
                    throw new DataException("data directory " + spec + " holds no .npy or .safetensors files");
                }
                files.forEach(f -> sources.add(new Source(f, null)));
                continue;
            }
            String text = spec.toString();
            int colon = text.lastIndexOf(':');
            if (!Files.exists(spec) && colon > 0 && text.substring(0, colon).endsWith(".safetensors")) {
                Path file = Path.of(text.substring(0, colon));
                checkFile(file);
                sources.add(new Source(file, text.substring(colon + 1)));
                continue;
            }
            checkFile(spec);
            sources.add(new Source(spec, null));
        }
        return sources;
    }

    private static void checkFile(Path file) {
        if (!Files.exists(file)) {
            throw new DataException("data file not found: " + file);
        }
        if (!Files.isRegularFile(file)) {
            throw new DataException("data file is not a regular file: " + file);
        }
    }

    /** The file's tensor as a {@code rows x d} matrix over the same mapped bytes. */
    private static Tensor asRows(String file, Tensor tensor) {
        if (!tensor.dtype().isFloatingPoint()) {
            throw new DataException(
                    file + ": dtype " + tensor.dtype() + " (" + tensor.dtype().npyDescr()
                            + ") is not a float type; activations must be f32, f16, f64 or bf16 (saved as <V2)");
        }
        if (tensor.rank() < 2) {
            throw new DataException(file + ": shape " + Arrays.toString(tensor.shape())
                    + " is not a matrix; activations must be [tokens, d] (or [..., d])");
        }
        long d = tensor.dim(tensor.rank() - 1);
        long rows = d == 0 ? 0 : tensor.numel() / d;
        if (rows == 0) {
            throw new DataException(file + ": shape " + Arrays.toString(tensor.shape()) + " holds no activations");
        }
        return new Tensor(tensor.dtype(), new long[] {rows, d}, tensor.data());
    }

    public List<Part> parts() {
        return parts;
    }

    /**
     * The error for a fault while reading the mappings in Java (the JVM's {@link InternalError}, which may
     * surface after the read that caused it): names the first file that changed.
     */
    public FileChangedException faulted(InternalError fault) {
        for (Part part : parts) {
            if (!part.file().isUnchanged()) {
                return part.file().readFailed(fault);
            }
        }
        return new FileChangedException(
                null,
                "reading the memory-mapped data (" + describe() + ") faulted although"
                        + " none of its files looks changed; an I/O error of the disk or network file system?",
                fault);
    }

    public long rows() {
        return totalRows;
    }

    /** Width of one row, d. */
    public long width() {
        return width;
    }

    public DType dtype() {
        return dtype;
    }

    public long rowBytes() {
        return width * dtype.byteSize();
    }

    /** The part holding a row (0 &lt;= row &lt; rows()). */
    public Part partOf(long row) {
        int i = Arrays.binarySearch(firstRows, row);
        // Not found: -(insertion point) - 1; the part is the one before the insertion point.
        return parts.get(i >= 0 ? i : -i - 2);
    }

    /** "3 files: 12000 rows of d = 64 F32" for messages. */
    public String describe() {
        return (parts.size() == 1 ? parts.getFirst().path().toString() : parts.size() + " files") + ": " + totalRows
                + " rows of d = " + width + " " + dtype;
    }
}
