package ai.batchtopk.extract;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.Set;

/**
 * A transformer cut at a hooked tensor, to run the rest of the model on a replacement of that tensor:
 * the whole model (the hooked tensor declared as an output, {@link OnnxGraphEdit}) gives the clean
 * activations and the clean last hidden state; the tail ({@link OnnxGraphCut}), an ONNX Runtime session
 * of its own, gives the last hidden state for any value of the hooked tensor.
 *
 * <p>Sequences are the extractor's: each document's wordpieces cut into windows of {@code maxLength - 2},
 * each window {@code [CLS] pieces [SEP]}, {@code batchSize} windows per run padded to the longest. Only the
 * <em>real tokens</em> (the wordpieces; not [CLS], [SEP] or padding, as {@code extract} keeps them and as
 * SAEs are trained) are replaced: {@link Batch#splice} writes the given rows there and keeps the clean
 * activations at [CLS], [SEP] and padding, so that a replacement changes only what the SAE was trained to
 * reconstruct. When the hook is the last hidden state itself (the last layer's residual stream) there is
 * no tail: the spliced tensor is the last hidden state.
 *
 * <p>Not thread-safe. A batch's buffers are valid until the next batch or {@link #close()}.
 */
public final class SplicedModel implements AutoCloseable {
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG;

    private final ExtractorConfig config;
    private final String hook;
    private final String lastHidden;
    private final int width;
    private final int hidden;
    private final OrtEnvironment env;
    private final OrtSession model;
    private final OrtSession tail;
    private final WordPieceTokenizer tokenizer;
    private final Arena arena;
    private final MemorySegment inputIds;
    private final MemorySegment attentionMask;
    private final MemorySegment tokenTypeIds;
    private final MemorySegment hooked;
    private final MemorySegment cleanHidden;
    private final MemorySegment rows;
    private final MemorySegment spliced;
    private final MemorySegment splicedHidden;
    private boolean closed;

    private SplicedModel(
            ExtractorConfig config,
            OrtEnvironment env,
            OrtSession model,
            OrtSession tail,
            WordPieceTokenizer tokenizer) {
        this.config = config;
        this.hook = config.hookName();
        this.lastHidden = config.model().lastHiddenState();
        this.width = config.width();
        this.hidden = config.model().width(Site.RESID);
        this.env = env;
        this.model = model;
        this.tail = tail;
        this.tokenizer = tokenizer;
        this.arena = Arena.ofShared();
        long cells = (long) config.batchSize() * config.maxLength();
        this.inputIds = arena.allocate(cells * 8, 64);
        this.attentionMask = arena.allocate(cells * 8, 64);
        this.tokenTypeIds = arena.allocate(cells * 8, 64);
        this.hooked = arena.allocate(cells * width * 4, 64);
        this.cleanHidden = arena.allocate(cells * hidden * 4, 64);
        this.rows = arena.allocate(cells * width * 4, 64);
        this.spliced = arena.allocate(cells * width * 4, 64);
        this.splicedHidden = arena.allocate(cells * hidden * 4, 64);
    }

    /**
     * Loads the model (from the classpath) and starts two ONNX Runtime sessions (CPU): the whole model,
     * and its tail from the hook of {@code config} to the last hidden state.
     *
     * @throws IllegalArgumentException if the graph cannot be cut at the hook
     * @throws IOException if the model cannot be read or loaded
     */
    public static SplicedModel open(ExtractorConfig config) throws IOException {
        Objects.requireNonNull(config, "config");
        byte[] onnx = Extractor.readModel(config.model());
        String hook = config.hookName();
        String last = config.model().lastHiddenState();
        byte[] whole = OnnxGraphEdit.addFloatOutputs(onnx, List.of(hook));
        byte[] tailGraph = hook.equals(last) ? null : OnnxGraphCut.tail(onnx, hook, config.width(), last);
        onnx = null;
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession model = null;
        OrtSession tail = null;
        WordPieceTokenizer tokenizer = null;
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            if (config.threads() > 0) {
                options.setIntraOpNumThreads(config.threads());
            }
            model = env.createSession(whole, options);
            whole = null;
            if (tailGraph != null) {
                tail = env.createSession(tailGraph, options);
                for (String input : tail.getInputNames()) {
                    if (!input.equals(hook) && !model.getInputNames().contains(input)) {
                        throw new IllegalArgumentException(
                                "the tail of " + config.model().label() + " from " + hook
                                        + " needs an input the model does not have: " + input);
                    }
                }
            }
            tokenizer = new WordPieceTokenizer(config.model());
            return new SplicedModel(config, env, model, tail, tokenizer);
        } catch (OrtException e) {
            closeQuietly(model, tail, tokenizer);
            throw new IOException(
                    "ONNX Runtime cannot load " + config.model().label() + " cut at " + hook + ": " + e.getMessage(),
                    e);
        } catch (RuntimeException | Error e) {
            closeQuietly(model, tail, tokenizer);
            throw e;
        }
    }

    private static void closeQuietly(OrtSession model, OrtSession tail, WordPieceTokenizer tokenizer) {
        for (OrtSession s : new OrtSession[] {model, tail}) {
            try {
                if (s != null) {
                    s.close();
                }
            } catch (OrtException ignored) {
                // Already failing; the first error is the one to report.
            }
        }
        if (tokenizer != null) {
            tokenizer.close();
        }
    }

    public ExtractorConfig config() {
        return config;
    }

    /** The width d of the hooked tensor. */
    public int width() {
        return width;
    }

    /** The width of the last hidden state. */
    public int hidden() {
        return hidden;
    }

    /** The graph name of the hooked tensor. */
    public String hookName() {
        return hook;
    }

    /** The names of the tail session's inputs (empty when the hook is the last hidden state). */
    public Set<String> tailInputs() {
        return tail == null ? Set.of() : tail.getInputNames();
    }

    /**
     * The clean run of {@code documents}, one batch of sequences per ONNX run, in document order. A
     * document without any token yields no sequence.
     */
    public Iterator<Batch> run(List<String> documents) {
        Objects.requireNonNull(documents, "documents");
        checkOpen();
        return new Batches(documents);
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the spliced model is closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            model.close();
            if (tail != null) {
                tail.close();
            }
        } catch (OrtException e) {
            throw new IllegalStateException("closing an ONNX Runtime session failed: " + e.getMessage(), e);
        } finally {
            tokenizer.close();
            arena.close();
        }
    }

    /**
     * One run of the whole model: {@code sequences} sequences of {@code length} positions (padding
     * included), their clean activations and last hidden state.
     */
    public final class Batch {
        private final int sequences;
        private final int length;
        private final int[] realLengths;
        private final long realTokens;

        private Batch(int sequences, int length, int[] realLengths) {
            this.sequences = sequences;
            this.length = length;
            this.realLengths = realLengths;
            long n = 0;
            for (int r : realLengths) {
                n += r;
            }
            this.realTokens = n;
        }

        public int sequences() {
            return sequences;
        }

        /** Positions per sequence, padding included. */
        public int length() {
            return length;
        }

        /** Wordpieces of sequence {@code s}: its real tokens, at positions {@code 1..realLength(s)}. */
        public int realLength(int s) {
            return realLengths[s];
        }

        /** Attended positions of sequence {@code s}: [CLS], its wordpieces, [SEP]. */
        public int attendedLength(int s) {
            return realLengths[s] + 2;
        }

        public long realTokens() {
            return realTokens;
        }

        /** The clean activations of the real tokens, {@code [realTokens, width]}, sequence by sequence. */
        public Tensor realRows() {
            checkOpen();
            long rowBytes = (long) width * 4;
            long r = 0;
            for (int s = 0; s < sequences; s++) {
                long first = (long) s * length + 1;
                MemorySegment.copy(hooked, first * rowBytes, rows, r * rowBytes, realLengths[s] * rowBytes);
                r += realLengths[s];
            }
            return new Tensor(DType.F32, new long[] {realTokens, width}, rows.asSlice(0, realTokens * rowBytes));
        }

        /** The clean last hidden state, {@code [sequences, length, hidden]} row-major. */
        public MemorySegment cleanHidden() {
            checkOpen();
            return cleanHidden.asSlice(0, (long) sequences * length * hidden * 4);
        }

        /**
         * The last hidden state, {@code [sequences, length, hidden]}, when the hooked tensor's real-token
         * rows are {@code replacement} ({@code [realTokens, width]} floats, in {@link #realRows()}'s order)
         * and its other positions clean: the tail of the model run on the spliced tensor. Valid until the
         * next splice or batch.
         */
        public MemorySegment splice(MemorySegment replacement) {
            checkOpen();
            long rowBytes = (long) width * 4;
            if (replacement.byteSize() != realTokens * rowBytes) {
                throw new IllegalArgumentException("a replacement of " + realTokens + " rows of width " + width
                        + " has " + realTokens * rowBytes + " bytes, got " + replacement.byteSize());
            }
            long cells = (long) sequences * length;
            MemorySegment.copy(hooked, 0, spliced, 0, cells * rowBytes);
            long r = 0;
            for (int s = 0; s < sequences; s++) {
                long first = (long) s * length + 1;
                MemorySegment.copy(replacement, r * rowBytes, spliced, first * rowBytes, realLengths[s] * rowBytes);
                r += realLengths[s];
            }
            if (tail == null) {
                return spliced.asSlice(0, cells * rowBytes);
            }
            Map<String, OnnxTensor> inputs = new LinkedHashMap<>();
            OnnxTensor out = null;
            try {
                long[] shape = {sequences, length};
                inputs.put(hook, OnnxTensor.createTensor(env, floats(spliced, cells * width), new long[] {
                    sequences, length, width
                }));
                putModelInputs(inputs, tail.getInputNames(), cells, shape);
                out = OnnxTensor.createTensor(
                        env, floats(splicedHidden, cells * hidden), new long[] {sequences, length, hidden});
                try (OrtSession.Result ignored = tail.run(inputs, Set.of(), Map.of(lastHidden, out))) {
                    // The values are in `splicedHidden`.
                }
            } catch (OrtException e) {
                throw new IllegalStateException(
                        "ONNX Runtime failed on the tail from " + hook + " for a batch of " + sequences + " x " + length
                                + ": " + e.getMessage(),
                        e);
            } finally {
                inputs.values().forEach(OnnxTensor::close);
                if (out != null) {
                    out.close();
                }
            }
            return splicedHidden.asSlice(0, cells * hidden * 4);
        }
    }

    private static java.nio.FloatBuffer floats(MemorySegment segment, long count) {
        return segment.asSlice(0, count * 4)
                .asByteBuffer()
                .order(ByteOrder.nativeOrder())
                .asFloatBuffer();
    }

    /** The model's own inputs among {@code names}, over the batch's ids and masks. */
    private void putModelInputs(Map<String, OnnxTensor> inputs, Set<String> names, long cells, long[] shape)
            throws OrtException {
        Map<String, MemorySegment> own =
                Map.of("input_ids", inputIds, "attention_mask", attentionMask, "token_type_ids", tokenTypeIds);
        for (String name : names) {
            MemorySegment data = own.get(name);
            if (data != null) {
                inputs.put(
                        name,
                        OnnxTensor.createTensor(
                                env,
                                data.asSlice(0, cells * 8)
                                        .asByteBuffer()
                                        .order(ByteOrder.nativeOrder())
                                        .asLongBuffer(),
                                shape));
            }
        }
    }

    /** Part of one document: pieces {@code [from, to)} of its wordpieces. */
    private record Window(long[] ids, int from, int to) {
        int length() {
            return to - from;
        }
    }

    private final class Batches implements Iterator<Batch> {
        private final List<String> documents;
        private int nextDocument;
        private long[] current;
        private int currentOffset;
        private Batch pending;

        Batches(List<String> documents) {
            this.documents = documents;
        }

        @Override
        public boolean hasNext() {
            if (pending == null) {
                pending = runBatch();
            }
            return pending != null;
        }

        @Override
        public Batch next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            Batch b = pending;
            pending = null;
            return b;
        }

        private Window nextWindow() {
            int span = config.maxLength() - 2;
            while (current == null || currentOffset >= current.length) {
                if (nextDocument >= documents.size()) {
                    return null;
                }
                current = tokenizer.encode(documents.get(nextDocument++)).ids();
                currentOffset = 0;
            }
            int from = currentOffset;
            int to = Math.min(current.length, from + span);
            currentOffset = to;
            return new Window(current, from, to);
        }

        private Batch runBatch() {
            checkOpen();
            List<Window> windows = new ArrayList<>(config.batchSize());
            while (windows.size() < config.batchSize()) {
                Window w = nextWindow();
                if (w == null) {
                    break;
                }
                windows.add(w);
            }
            if (windows.isEmpty()) {
                return null;
            }
            int b = windows.size();
            int t = 0;
            int[] realLengths = new int[b];
            for (int i = 0; i < b; i++) {
                realLengths[i] = windows.get(i).length();
                t = Math.max(t, realLengths[i] + 2);
            }
            fillInputs(windows, t);
            runModel(b, t);
            return new Batch(b, t, realLengths);
        }

        private void fillInputs(List<Window> windows, int t) {
            long cells = (long) windows.size() * t;
            inputIds.asSlice(0, cells * 8).fill((byte) 0);
            attentionMask.asSlice(0, cells * 8).fill((byte) 0);
            tokenTypeIds.asSlice(0, cells * 8).fill((byte) 0);
            for (int i = 0; i < windows.size(); i++) {
                Window w = windows.get(i);
                long base = (long) i * t;
                inputIds.setAtIndex(I64, base, tokenizer.clsId());
                for (int j = 0; j < w.length(); j++) {
                    inputIds.setAtIndex(I64, base + 1 + j, w.ids()[w.from() + j]);
                }
                inputIds.setAtIndex(I64, base + 1 + w.length(), tokenizer.sepId());
                for (int j = 0; j < w.length() + 2; j++) {
                    attentionMask.setAtIndex(I64, base + j, 1L);
                }
            }
        }

        private void runModel(int b, int t) {
            long cells = (long) b * t;
            Map<String, OnnxTensor> inputs = new HashMap<>();
            Map<String, OnnxTensor> outputs = new HashMap<>();
            try {
                putModelInputs(inputs, model.getInputNames(), cells, new long[] {b, t});
                // Pinned outputs over our own off-heap buffers: ONNX Runtime writes the tensors there.
                outputs.put(
                        lastHidden,
                        OnnxTensor.createTensor(env, floats(cleanHidden, cells * hidden), new long[] {b, t, hidden}));
                if (!hook.equals(lastHidden)) {
                    outputs.put(
                            hook,
                            OnnxTensor.createTensor(env, floats(hooked, cells * width), new long[] {b, t, width}));
                }
                try (OrtSession.Result ignored = model.run(inputs, Set.of(), outputs)) {
                    // The values are in `cleanHidden` and `hooked`.
                }
            } catch (OrtException e) {
                throw new IllegalStateException(
                        "ONNX Runtime failed on a batch of " + b + " x " + t + ": " + e.getMessage(), e);
            } finally {
                inputs.values().forEach(OnnxTensor::close);
                outputs.values().forEach(OnnxTensor::close);
            }
            if (hook.equals(lastHidden)) {
                MemorySegment.copy(cleanHidden, 0, hooked, 0, cells * width * 4);
            }
        }
    }
}
