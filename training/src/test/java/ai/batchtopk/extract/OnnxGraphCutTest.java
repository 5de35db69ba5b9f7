package ai.batchtopk.extract;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import org.junit.jupiter.api.Test;

/** The tail of the model's graph from a hooked tensor ({@link OnnxGraphCut}). */
class OnnxGraphCutTest {
    @Test
    void theTailKeepsOnlyWhatTheOutputNeedsAfterTheCut() throws IOException {
        byte[] model = Extractor.readModel(Model.MINILM);
        String hook = Model.MINILM.hookName(3, Site.RESID);
        byte[] tail = OnnxGraphCut.tail(model, hook, 384, Model.MINILM.lastHiddenState());
        assertThat(OnnxGraphEdit.nodeOutputs(tail))
                .doesNotContain(hook, Model.MINILM.hookName(2, Site.RESID))
                .contains(Model.MINILM.hookName(4, Site.RESID), Model.MINILM.lastHiddenState());
        assertThat(OnnxGraphEdit.graphOutputs(tail)).containsExactly(Model.MINILM.lastHiddenState());
        // The word embeddings (most of the model's bytes) stay behind with the head.
        assertThat(tail.length).isLessThan(model.length / 2);
    }

    @Test
    void aCutAtAnUnknownTensorOrOutputIsRefused() throws IOException {
        byte[] model = Extractor.readModel(Model.MINILM);
        String hook = Model.MINILM.hookName(3, Site.RESID);
        assertThatThrownBy(
                        () -> OnnxGraphCut.tail(model, "/encoder/layer.9/output", 384, Model.MINILM.lastHiddenState()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no node producing /encoder/layer.9/output");
        assertThatThrownBy(() -> OnnxGraphCut.tail(model, hook, 384, "logits"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no output named logits");
    }
}
