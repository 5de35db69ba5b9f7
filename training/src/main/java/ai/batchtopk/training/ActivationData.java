package ai.batchtopk.training;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Several memory-mapped .npy files of activations seen as one table of rows, in the order given.
 *
 * <p>Every file must hold floats (F32, F16, F64, or bfloat16 saved as raw {@code <V2}) of the same
 * width {@code d} and the same dtype: a batch that spans two files is copied byte for byte into one
 * buffer, which only works when both files store rows the same way. A file of rank 3 or more
 * ({@code [batch, seq, d]}, as activations are often saved) is read as {@code [batch * seq, d]}.
 *
 * <p>The mappings live as long as the arena given to {@link #open}.
 */
final class ActivationData {
    /** One file: its rows are rows {@code firstRow .. firstRow + rows - 1} of the whole. */
    record Part(Path path, Tensor rows, long firstRow) {
        long rowCount() {
            return rows.dim(0);
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
     * @throws CommandFailure naming the file and the problem
     * @throws IOException for a file that cannot be read or is not a valid .npy file
     */
    static ActivationData open(List<Path> files, Arena arena) throws IOException {
        if (files.isEmpty()) {
            throw new CommandFailure("no data files given");
        }
        List<Part> parts = new ArrayList<>();
        long first = 0;
        for (Path file : files) {
            if (!Files.exists(file)) {
                throw new CommandFailure("data file not found: " + file);
            }
            if (!Files.isRegularFile(file)) {
                throw new CommandFailure("data file is not a regular file: " + file);
            }
            Tensor rows = asRows(file, Npy.map(file, arena, DType.BF16));
            if (!parts.isEmpty()) {
                Part previous = parts.getFirst();
                if (rows.dim(1) != previous.rows().dim(1)) {
                    throw new CommandFailure(file + " has width d = " + rows.dim(1) + " but " + previous.path()
                            + " has d = " + previous.rows().dim(1) + "; all --data files must have the same width");
                }
                if (rows.dtype() != previous.rows().dtype()) {
                    throw new CommandFailure(file + " holds " + rows.dtype() + " but " + previous.path() + " holds "
                            + previous.rows().dtype() + "; all --data files must have the same dtype");
                }
            }
            parts.add(new Part(file, rows, first));
            first += rows.dim(0);
        }
        return new ActivationData(parts);
    }

    /** The file's tensor as a {@code rows x d} matrix over the same mapped bytes. */
    private static Tensor asRows(Path file, Tensor tensor) {
        if (!tensor.dtype().isFloatingPoint()) {
            throw new CommandFailure(file + ": dtype " + tensor.dtype() + " (" + tensor.dtype().npyDescr()
                    + ") is not a float type; activations must be f32, f16, f64 or bf16 (saved as <V2)");
        }
        if (tensor.rank() < 2) {
            throw new CommandFailure(file + ": shape " + Arrays.toString(tensor.shape())
                    + " is not a matrix; activations must be [tokens, d] (or [..., d])");
        }
        long d = tensor.dim(tensor.rank() - 1);
        long rows = d == 0 ? 0 : tensor.numel() / d;
        if (rows == 0) {
            throw new CommandFailure(file + ": shape " + Arrays.toString(tensor.shape()) + " holds no activations");
        }
        return new Tensor(tensor.dtype(), new long[] {rows, d}, tensor.data());
    }

    List<Part> parts() {
        return parts;
    }

    long rows() {
        return totalRows;
    }

    /** Width of one row, d. */
    long width() {
        return width;
    }

    DType dtype() {
        return dtype;
    }

    long rowBytes() {
        return width * dtype.byteSize();
    }

    /** The part holding a row (0 &lt;= row &lt; rows()). */
    Part partOf(long row) {
        int i = Arrays.binarySearch(firstRows, row);
        // Not found: -(insertion point) - 1; the part is the one before the insertion point.
        return parts.get(i >= 0 ? i : -i - 2);
    }

    /** "3 files: 12000 rows of d = 64 F32" for messages. */
    String describe() {
        return (parts.size() == 1 ? parts.getFirst().path().toString() : parts.size() + " files") + ": " + totalRows
                + " rows of d = " + width + " " + dtype;
    }
}
