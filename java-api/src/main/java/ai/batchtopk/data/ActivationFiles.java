package ai.batchtopk.data;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Activations in .npy and .safetensors files or directories of them ({@link ActivationData}), memory-mapped,
 * read in {@code order}: sequential batches are views of the mappings, shuffled ones are gathered off-heap.
 *
 * @param files files, {@code FILE.safetensors:NAME} or directories, concatenated in this order
 */
public record ActivationFiles(List<Path> files, RowOrder order) implements DataSource {
    /** The option name checkpoints keep beside each file's fingerprint (the command line's). */
    static final String LABEL = "--data";

    public ActivationFiles {
        files = List.copyOf(files);
        if (files.isEmpty()) {
            throw new IllegalArgumentException("no data files given");
        }
        java.util.Objects.requireNonNull(order, "order");
    }

    public static ActivationFiles of(Path... files) {
        return new ActivationFiles(List.of(files), RowOrder.SEQUENTIAL);
    }

    public ActivationFiles shuffled() {
        return new ActivationFiles(files, RowOrder.SHUFFLED);
    }

    public ActivationFiles inOrder(RowOrder order) {
        return new ActivationFiles(files, order);
    }

    @Override
    public TrainingData open(long batchSize, Arena arena, Consumer<String> warnings) throws IOException {
        ActivationData data = ActivationData.open(files, arena);
        if (batchSize > data.rows()) {
            throw new DataException(
                    "RunSpec.batchSize " + batchSize + " is larger than the data (" + data.describe() + ")");
        }
        DataFingerprint fingerprint = DataFingerprint.ofActivations(LABEL, data);
        return new TrainingData() {
            @Override
            public long width() {
                return data.width();
            }

            @Override
            public long rows() {
                return data.rows();
            }

            @Override
            public String describe() {
                return data.describe();
            }

            @Override
            public String order() {
                return order.label();
            }

            @Override
            public RowStream stream(DataPosition start, long seed) {
                return order.shuffled()
                        ? new ShuffledBatches(data, batchSize, seed, order.window(), start, arena)
                        : new SequentialBatches(data, batchSize, start, arena);
            }

            @Override
            public RowOrigin origin(long seed) {
                return order.shuffled() ? RowOrigin.shuffled(data, seed, order.window()) : RowOrigin.sequential(data);
            }

            @Override
            public DataFingerprint fingerprint() {
                return fingerprint;
            }

            @Override
            public void close() {
                // The mappings live as long as the caller's arena.
            }
        };
    }

    @Override
    public Map<String, Object> toJson() {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put(
                "files",
                files.stream()
                        .map(p -> p.toAbsolutePath().normalize().toString())
                        .toList());
        json.put("shuffle", order.shuffled());
        json.put("shuffle_window", order.window());
        return json;
    }

    /** The source {@link #toJson()} saved. @throws IllegalArgumentException if it is not one */
    public static ActivationFiles fromJson(Map<?, ?> json) {
        if (!(json.get("files") instanceof List<?> list)
                || !(json.get("shuffle") instanceof Boolean shuffle)
                || !(json.get("shuffle_window") instanceof Number window)) {
            throw new IllegalArgumentException("not a description of activation files: " + json);
        }
        return new ActivationFiles(
                list.stream().map(o -> Path.of(String.valueOf(o))).toList(), new RowOrder(shuffle, window.longValue()));
    }
}
