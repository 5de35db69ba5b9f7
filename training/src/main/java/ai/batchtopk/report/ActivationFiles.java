package ai.batchtopk.report;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.MappedFile;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

/**
 * Activation rows from memory-mapped .npy files, in order, as {@code rows x d} matrices. A directory
 * stands for its {@code activations-*.npy} shards sorted by name (an extraction directory), or else its
 * {@code activations.npy} (a synth directory).
 *
 * <p>Rows are only read by copying them off-heap in Java ({@link MappedFile#copy}), never handed to
 * native code as views of the mappings: a file truncated while the report reads it is an error that
 * names it, not a crash.
 */
final class ActivationFiles {
    private final List<Path> files;
    private final List<Tensor> parts;
    private final List<MappedFile> snapshots;
    private final long width;
    private final long rows;

    private ActivationFiles(List<Path> files, List<Tensor> parts, List<MappedFile> snapshots) {
        this.files = List.copyOf(files);
        this.parts = List.copyOf(parts);
        this.snapshots = List.copyOf(snapshots);
        this.width = parts.getFirst().dim(1);
        this.rows = parts.stream().mapToLong(t -> t.dim(0)).sum();
    }

    /** The .npy files that {@code --data} arguments name, directories expanded. */
    static List<Path> resolve(List<Path> args) throws IOException {
        List<Path> files = new ArrayList<>();
        for (Path arg : args) {
            if (Files.isDirectory(arg)) {
                List<Path> shards;
                try (Stream<Path> list = Files.list(arg)) {
                    shards = list.filter(p -> {
                                String n = p.getFileName().toString();
                                return n.startsWith("activations-") && n.endsWith(".npy");
                            })
                            .sorted()
                            .toList();
                }
                if (shards.isEmpty() && Files.isRegularFile(arg.resolve("activations.npy"))) {
                    shards = List.of(arg.resolve("activations.npy"));
                }
                if (shards.isEmpty()) {
                    throw new ReportException("--data " + arg + ": the directory holds no activations-*.npy shards "
                            + "and no activations.npy");
                }
                files.addAll(shards);
            } else if (Files.isRegularFile(arg)) {
                files.add(arg);
            } else {
                throw new ReportException("data file not found: " + arg);
            }
        }
        return files;
    }

    /**
     * Maps the files and checks each holds floats of width {@code dIn}.
     *
     * @throws ReportException naming the file and the problem
     */
    static ActivationFiles open(List<Path> files, long dIn, Arena arena) throws IOException {
        if (files.isEmpty()) {
            throw new ReportException("no data files given");
        }
        List<Tensor> parts = new ArrayList<>();
        List<MappedFile> snapshots = new ArrayList<>();
        for (Path file : files) {
            MappedFile snapshot = MappedFile.of(file);
            Tensor t = Npy.map(file, arena, DType.BF16);
            snapshot.requireUnchanged();
            snapshots.add(snapshot);
            if (!t.dtype().isFloatingPoint() || t.rank() < 2) {
                throw new ReportException(file + ": " + t.dtype() + " " + Arrays.toString(t.shape())
                        + " is not a float matrix of activations [tokens, d]");
            }
            long d = t.dim(t.rank() - 1);
            if (d != dIn) {
                throw new ReportException(file + " has activations of width d = " + d + " but the SAE has d_in = " + dIn
                        + "; give the data the SAE was trained on");
            }
            if (!parts.isEmpty() && t.dtype() != parts.getFirst().dtype()) {
                throw new ReportException(file + " holds " + t.dtype() + " but " + files.getFirst() + " holds "
                        + parts.getFirst().dtype() + "; all --data files must have the same dtype");
            }
            parts.add(new Tensor(t.dtype(), new long[] {t.numel() / d, d}, t.data()));
        }
        return new ActivationFiles(files, parts, snapshots);
    }

    List<Tensor> parts() {
        return parts;
    }

    List<Path> files() {
        return files;
    }

    long rows() {
        return rows;
    }

    long width() {
        return width;
    }

    DType dtype() {
        return parts.getFirst().dtype();
    }

    long rowBytes() {
        return width * dtype().byteSize();
    }

    /**
     * {@code count} rows of part {@code index}, from its row {@code first}, copied to the start of
     * {@code staging}, as a tensor there.
     */
    Tensor copyRows(int index, long first, long count, MemorySegment staging) {
        Tensor part = parts.get(index);
        snapshots.get(index).copy(part.data(), first * rowBytes(), staging, 0, count * rowBytes());
        return new Tensor(part.dtype(), new long[] {count, width}, staging.asSlice(0, count * rowBytes()));
    }

    /** Copies one row of the whole (0 &lt;= row &lt; rows()) into {@code out} at {@code outOffset} bytes. */
    void copyRow(long row, MemorySegment out, long outOffset) {
        long r = row;
        for (int i = 0; i < parts.size(); i++) {
            Tensor part = parts.get(i);
            if (r < part.dim(0)) {
                snapshots.get(i).copy(part.data(), r * rowBytes(), out, outOffset, rowBytes());
                return;
            }
            r -= part.dim(0);
        }
        throw new IndexOutOfBoundsException("row " + row + " of " + rows);
    }
}
