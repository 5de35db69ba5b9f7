package ai.batchtopk.extract;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ExtractorTest {
    private static final List<String> DOCS = List.of(
            "The quick brown fox jumps over the lazy dog.",
            "Sparse autoencoders find features.",
            "   ",
            "A much longer document, which is cut into several windows of the maximum length so that every"
                    + " token is seen exactly once; unbelievably, it still works.",
            "Short.");

    /** All blocks of an extraction, copied out (blocks are views valid until the next one). */
    private static List<float[]> rows(Extractor x, List<String> docs, List<String> tokens, List<int[]> where) {
        return rows(x, TextSource.of(docs).chunks(), tokens, where);
    }

    private static List<float[]> rows(Extractor x, Iterator<TextChunk> chunks, List<String> tokens, List<int[]> where) {
        List<float[]> out = new ArrayList<>();
        Iterator<ActivationBlock> it = x.extract(chunks);
        while (it.hasNext()) {
            ActivationBlock b = it.next();
            assertThat(b.width()).isEqualTo(x.width());
            for (int r = 0; r < b.rows(); r++) {
                out.add(b.activations()
                        .data()
                        .asSlice(r * x.width() * 4L, x.width() * 4L)
                        .toArray(ValueLayout.JAVA_FLOAT));
                if (tokens != null) {
                    tokens.add(b.tokens().get(r));
                    where.add(new int[] {b.documents()[r], b.positions()[r]});
                }
            }
        }
        return out;
    }

    @Test
    void lastLayerResidualIsTheUnmodifiedGraphsOutputAndTheEditChangesNothing() throws Exception {
        List<String> docs =
                List.of("Hello world, this is a test.", "Another, longer sentence with some more words in it.");
        ExtractorConfig config = ExtractorConfig.of(Model.MINILM, 5, Site.RESID).withKeepSpecialTokens(true);
        List<float[]> captured;
        List<List<String>> pieces = new ArrayList<>();
        try (Extractor x = Extractor.open(config)) {
            captured = rows(x, docs, new ArrayList<>(), new ArrayList<>());
            for (String d : docs) {
                pieces.add(x.tokenize(d));
            }
        }
        // The same inputs through ONNX Runtime directly: the shipped graph, and the graph with an MLP output added.
        byte[] original = Extractor.readModel(Model.MINILM);
        byte[] edited = OnnxGraphEdit.addFloatOutputs(original, List.of(Model.MINILM.hookName(2, Site.MLP)));
        assertThat(OnnxGraphEdit.graphOutputs(edited))
                .containsExactly("last_hidden_state", Model.MINILM.hookName(2, Site.MLP));
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (var tok = new WordPieceTokenizer(Model.MINILM);
                OrtSession plain = env.createSession(original, new OrtSession.SessionOptions());
                OrtSession more = env.createSession(edited, new OrtSession.SessionOptions())) {
            int t = 0;
            List<long[]> ids = new ArrayList<>();
            for (String d : docs) {
                long[] body = tok.encode(d).ids();
                long[] seq = new long[body.length + 2];
                seq[0] = tok.clsId();
                System.arraycopy(body, 0, seq, 1, body.length);
                seq[seq.length - 1] = tok.sepId();
                ids.add(seq);
                t = Math.max(t, seq.length);
            }
            long[] input = new long[docs.size() * t];
            long[] mask = new long[docs.size() * t];
            for (int i = 0; i < docs.size(); i++) {
                for (int j = 0; j < ids.get(i).length; j++) {
                    input[i * t + j] = ids.get(i)[j];
                    mask[i * t + j] = 1;
                }
            }
            long[] shape = {docs.size(), t};
            try (OnnxTensor a = OnnxTensor.createTensor(env, LongBuffer.wrap(input), shape);
                    OnnxTensor m = OnnxTensor.createTensor(env, LongBuffer.wrap(mask), shape);
                    OnnxTensor y = OnnxTensor.createTensor(env, LongBuffer.wrap(new long[input.length]), shape);
                    OrtSession.Result r1 = plain.run(Map.of("input_ids", a, "attention_mask", m, "token_type_ids", y));
                    OrtSession.Result r2 = more.run(Map.of("input_ids", a, "attention_mask", m, "token_type_ids", y))) {
                float[][][] expected =
                        (float[][][]) r1.get("last_hidden_state").get().getValue();
                float[][][] again =
                        (float[][][]) r2.get("last_hidden_state").get().getValue();
                int row = 0;
                for (int i = 0; i < docs.size(); i++) {
                    for (int j = 0; j < ids.get(i).length; j++) {
                        assertThat(again[i][j]).containsExactly(expected[i][j]);
                        float[] got = captured.get(row++);
                        for (int k = 0; k < got.length; k++) {
                            assertThat(Math.abs(got[k] - expected[i][j][k]))
                                    .as("doc %d pos %d dim %d", i, j, k)
                                    .isLessThanOrEqualTo(1e-6f);
                        }
                    }
                }
                assertThat(row).isEqualTo(captured.size());
            }
        }
    }

    @Test
    void mlpCapturesAreRepeatableDropPaddingAndSpecialsAndWindowLongDocuments() throws Exception {
        ExtractorConfig config =
                ExtractorConfig.of(Model.MINILM, 2, Site.MLP).withMaxLength(12).withBatchSize(3);
        try (Extractor x = Extractor.open(config)) {
            assertThat(x.width()).isEqualTo(1536);
            assertThat(x.hookName()).isEqualTo("/encoder/layer.2/intermediate/intermediate_act_fn/Mul_1_output_0");
            List<String> tokens = new ArrayList<>();
            List<int[]> where = new ArrayList<>();
            List<float[]> first = rows(x, DOCS, tokens, where);
            List<float[]> second = rows(x, DOCS, null, null);
            assertThat(second).hasSameSizeAs(first);
            for (int i = 0; i < first.size(); i++) {
                assertThat(second.get(i)).containsExactly(first.get(i));
            }
            // Every wordpiece of every document once, in order; no padding, no [CLS]/[SEP].
            List<String> expected = new ArrayList<>();
            List<int[]> expectedWhere = new ArrayList<>();
            for (int d = 0; d < DOCS.size(); d++) {
                List<String> pieces = x.tokenize(DOCS.get(d));
                for (int p = 0; p < pieces.size(); p++) {
                    expected.add(pieces.get(p));
                    expectedWhere.add(new int[] {d, p});
                }
            }
            assertThat(x.tokenize(DOCS.get(3)).size()).isGreaterThan(2 * 10);
            assertThat(tokens).isEqualTo(expected).doesNotContain("[CLS]", "[SEP]", "[PAD]");
            assertThat(where)
                    .usingElementComparator((a, b) -> java.util.Arrays.compare(a, b))
                    .isEqualTo(expectedWhere);
            // Padding would show as a different row count: the sum of attention masks minus the specials.
            int windows = 0;
            for (String d : DOCS) {
                int n = x.tokenize(d).size();
                windows += (n + 9) / 10;
            }
            assertThat(first).hasSize(expected.size());
            assertThat(expected.size() + 2 * windows - 2 * windows).isEqualTo(first.size());
        }
    }

    @Test
    void documentsTokenizedInSmallChunksGiveTheSameRowsAsWholeDocuments() throws Exception {
        ExtractorConfig config = ExtractorConfig.of(Model.MINILM, 2, Site.RESID)
                .withMaxLength(12)
                .withBatchSize(3);
        try (Extractor x = Extractor.open(config)) {
            List<String> wholeTokens = new ArrayList<>();
            List<int[]> wholeWhere = new ArrayList<>();
            List<float[]> whole = rows(x, DOCS, wholeTokens, wholeWhere);
            List<String> tokens = new ArrayList<>();
            List<int[]> where = new ArrayList<>();
            // Chunks of at most 14 chars: every word of DOCS fits, so every cut falls at a word end.
            List<float[]> chunked = rows(x, new InMemoryText(DOCS, 14).chunks(), tokens, where);
            assertThat(tokens).isEqualTo(wholeTokens);
            assertThat(where)
                    .usingElementComparator((a, b) -> java.util.Arrays.compare(a, b))
                    .isEqualTo(wholeWhere);
            assertThat(chunked).hasSameSizeAs(whole);
            for (int i = 0; i < whole.size(); i++) {
                assertThat(chunked.get(i)).containsExactly(whole.get(i));
            }
        }
    }

    @Test
    void textIsReadOnlyAsFarAsTheBlocksTakenNeed() throws Exception {
        // One endless document: an extractor that read or tokenized a document whole would never return.
        int[] pulled = {0};
        Iterator<TextChunk> endless = new Iterator<>() {
            @Override
            public boolean hasNext() {
                return true;
            }

            @Override
            public TextChunk next() {
                pulled[0]++;
                return new TextChunk(0, null, "the same few words again and again ");
            }
        };
        ExtractorConfig config = ExtractorConfig.of(Model.MINILM, 0, Site.RESID)
                .withMaxLength(34)
                .withBatchSize(4);
        try (Extractor x = Extractor.open(config)) {
            Iterator<ActivationBlock> blocks = x.extract(endless);
            int[] lastPosition = {0};
            for (int i = 0; i < 3; i++) {
                ActivationBlock b = blocks.next();
                assertThat(b.rows()).isEqualTo(4 * 32);
                assertThat(b.positions()[0]).isEqualTo(i * 4 * 32);
                lastPosition[0] = b.positions()[(int) b.rows() - 1];
            }
            // 3 blocks of 4 windows of 32 pieces; a chunk is 7 pieces: at most one chunk read beyond them.
            assertThat(lastPosition[0]).isEqualTo(3 * 4 * 32 - 1);
            assertThat(pulled[0]).isEqualTo((3 * 4 * 32 + 6) / 7);
        }
    }

    @Test
    void keptSpecialTokensHavePositionMinusOne() throws Exception {
        try (Extractor x =
                Extractor.open(ExtractorConfig.of(Model.MINILM, 0, Site.RESID).withKeepSpecialTokens(true))) {
            List<String> tokens = new ArrayList<>();
            List<int[]> where = new ArrayList<>();
            rows(x, List.of("two words"), tokens, where);
            assertThat(tokens).containsExactly("[CLS]", "two", "words", "[SEP]");
            assertThat(where.get(0)[1]).isEqualTo(-1);
            assertThat(where.get(3)[1]).isEqualTo(-1);
        }
    }

    @Test
    void aLayerThatDoesNotExistIsAClearError() {
        assertThatThrownBy(() -> ExtractorConfig.of(Model.MINILM, 7, Site.RESID))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("layer 7 does not exist: minilm has layers 0..5");
        assertThatThrownBy(() -> OnnxGraphEdit.addFloatOutputs(new byte[] {0x3a, 0x00}, List.of("nope")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no tensor named nope");
    }

    @Test
    void blocksAreOffHeap() throws Exception {
        try (Extractor x = Extractor.open(ExtractorConfig.of(Model.MINILM, 1, Site.RESID))) {
            MemorySegment data =
                    x.extract(List.of("off heap")).next().activations().data();
            assertThat(data.isNative()).isTrue();
        }
    }
}
