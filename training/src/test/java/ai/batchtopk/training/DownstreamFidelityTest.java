package ai.batchtopk.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.batchtopk.extract.ExtractorConfig;
import ai.batchtopk.extract.Model;
import ai.batchtopk.extract.Site;
import ai.batchtopk.extract.SplicedModel;
import ai.batchtopk.io.JsonCodec;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code eval --text}: the SAE spliced into the model at its hook ({@link DownstreamFidelity}). */
class DownstreamFidelityTest {
    private static final List<String> DOCS = List.of(
            "The quick brown fox jumps over the lazy dog.",
            "Sparse autoencoders find interpretable features in the activations of language models.",
            "A longer paragraph, cut into several windows of the maximum length, so that every token is seen"
                    + " exactly once; unbelievably, it still works.",
            "Short.");

    /** A few hundred tokens of plain prose to train a tiny SAE on. */
    private static final String PROSE = String.join(
                    "\n\n",
                    "The river runs past the old mill, where the miller grinds wheat into flour every morning.",
                    "Children walk to school along the river, counting the boats that drift toward the sea.",
                    "In winter the water freezes, and the whole village comes out to skate on the ice.",
                    "The baker buys flour from the mill and sells warm bread to the families of the village.",
                    "A storm in the spring broke the wheel of the mill, and the miller had to repair it by hand.",
                    "Travellers stop at the inn by the bridge to rest their horses and to hear the local news.",
                    "The teacher tells the children how the river was used to carry timber to the city long ago.",
                    "On market days farmers bring vegetables, cheese and eggs to the square in front of the church.",
                    "At night the lights of the village are reflected in the dark water of the slow river.",
                    "The miller's daughter keeps the accounts of the mill and knows every customer by name.",
                    "When the harvest is good, the village holds a festival with music and dancing by the water.",
                    "Old stories say that a fish as large as a boat lives in the deepest pool of the river.")
            + "\n";

    @TempDir
    Path tmp;

    private static final DownstreamFidelity.Replacement IDENTITY =
            (clean, out) -> MemorySegment.copy(clean.data(), 0, out, 0, out.byteSize());
    private static final DownstreamFidelity.Replacement ZERO = (clean, out) -> out.fill((byte) 0);

    /** The tail fed with the clean activation gives the model's own output: the cut graph is the model. */
    private static void assertIdentitySpliceIsExact(Model model, int layer, Site site) throws IOException {
        // Short windows, two per batch: long documents are cut, batches are padded.
        ExtractorConfig config =
                ExtractorConfig.of(model, layer, site).withMaxLength(12).withBatchSize(2);
        try (SplicedModel spliced = SplicedModel.open(config)) {
            Map<String, DownstreamFidelity.Replacement> replacements = new LinkedHashMap<>();
            replacements.put("identity", IDENTITY);
            replacements.put("zero", ZERO);
            DownstreamFidelity.Compared compared = DownstreamFidelity.compare(spliced, DOCS, replacements);
            DownstreamFidelity.Splice identity = compared.splices().get("identity");
            DownstreamFidelity.Splice zero = compared.splices().get("zero");
            assertThat(identity.cosine()).as("%s", config).isCloseTo(1.0, within(1e-6));
            assertThat(identity.tokenCosine()).as("%s", config).isCloseTo(1.0, within(1e-6));
            assertThat(DownstreamFidelity.score(identity.cosine(), zero.cosine()))
                    .isCloseTo(1.0, within(1e-6));
            // Zeroing the hooked tensor does change the output: the splice reaches the model's output.
            assertThat(zero.cosine()).isLessThan(0.99);
            assertThat(compared.sequences()).isGreaterThan(DOCS.size());
        }
    }

    @Test
    void splicingTheCleanResidualStreamGivesTheModelsOutput() throws IOException {
        assertIdentitySpliceIsExact(Model.MINILM, 2, Site.RESID);
    }

    @Test
    void splicingTheCleanMlpActivationsGivesTheModelsOutput() throws IOException {
        assertIdentitySpliceIsExact(Model.MINILM, 0, Site.MLP);
    }

    @Test
    void theLastLayersResidualStreamIsTheOutputItself() throws IOException {
        assertIdentitySpliceIsExact(Model.MINILM, 5, Site.RESID);
    }

    @Test
    void theTailOfTheResidualStreamReadsTheHookAndTheMaskNotTheTokens() throws IOException {
        try (SplicedModel spliced = SplicedModel.open(ExtractorConfig.of(Model.MINILM, 3, Site.RESID))) {
            assertThat(spliced.tailInputs()).contains(spliced.hookName()).doesNotContain("input_ids", "token_type_ids");
        }
    }

    /** Extracts the prose, trains a tiny SAE on it with --data (so its hook comes from extraction.json). */
    private Path trainedSae() throws IOException {
        Path text = Files.writeString(tmp.resolve("prose.txt"), PROSE);
        Path activations = tmp.resolve("activations");
        Cli.Run extract = Cli.run(
                "extract", "--model", "minilm", "--layer", 2, "--site", "resid", "--text", text, "--out", activations);
        assertThat(extract.code()).as(extract.toString()).isZero();
        Path sae = tmp.resolve("sae");
        Cli.Run train = Cli.run(
                "train",
                "--data",
                activations,
                "--d-sae",
                768,
                "--k",
                16,
                "--batch-size",
                64,
                "--steps",
                300,
                "--lr",
                1e-3,
                "--seed",
                1,
                "--threads",
                1,
                "--out",
                sae);
        assertThat(train.code()).as(train.toString()).isZero();
        return sae;
    }

    @Test
    void aTrainedSaeScoresBetweenMeanAblationAndOneTheSameOnEveryRun() throws IOException {
        Path sae = trainedSae();
        Path text = tmp.resolve("prose.txt");
        Cli.Run first = Cli.run("eval", "--sae", sae, "--text", text, "--threads", 1);
        assertThat(first.code()).as(first.toString()).isZero();
        Map<String, Object> line = first.json();
        assertThat(line.get("hook_layer")).isEqualTo(2L);
        assertThat(line.get("hook_site")).isEqualTo("resid");
        double cosine = (Double) line.get("downstream_cosine");
        double zero = (Double) line.get("downstream_cosine_zero_ablation");
        double mean = (Double) line.get("downstream_cosine_mean_ablation");
        double score = (Double) line.get("downstream_score");
        assertThat(cosine).isGreaterThan(mean).isLessThan(1.0);
        assertThat(mean).isGreaterThan(zero);
        assertThat(score)
                .isGreaterThan((Double) line.get("downstream_score_mean_ablation"))
                .isLessThan(1.0);
        assertThat(score).isCloseTo(1 - (1 - cosine) / (1 - zero), within(1e-12));
        assertThat((Double) line.get("downstream_token_cosine"))
                .isGreaterThan((Double) line.get("downstream_token_cosine_mean_ablation"))
                .isLessThan(1.0);
        assertThat((Double) line.get("nmse")).isBetween(0.0, 1.0);
        assertThat((Long) line.get("tokens")).isGreaterThan(200L);

        Cli.Run second = Cli.run("eval", "--sae", sae, "--text", text, "--threads", 1);
        assertThat(second.code()).as(second.toString()).isZero();
        assertThat(second.out()).isEqualTo(first.out());
    }

    @Test
    @SuppressWarnings("unchecked")
    void badInputIsAClearError() throws IOException {
        Path sae = trainedSae();
        Path text = tmp.resolve("prose.txt");

        Cli.Run mlp = Cli.run("eval", "--sae", sae, "--text", text, "--site", "mlp");
        assertThat(mlp.code()).as(mlp.toString()).isEqualTo(Main.FAILURE);
        assertThat(mlp.err()).contains("d_in = 384").contains("layer 2 mlp activations have d = 1536");

        Path empty = Files.writeString(tmp.resolve("empty.txt"), "\u200b\u200b\n");
        Cli.Run noTokens = Cli.run("eval", "--sae", sae, "--text", empty);
        assertThat(noTokens.code()).as(noTokens.toString()).isEqualTo(Main.FAILURE);
        assertThat(noTokens.err()).contains("the text gives no tokens");

        Cli.Run both = Cli.run("eval", "--sae", sae, "--text", text, "--data", tmp.resolve("x.npy"));
        assertThat(both.code()).as(both.toString()).isEqualTo(Main.USAGE);

        // An SAE whose metadata names layer 9 of the 6-layer model.
        Path cfg = sae.resolve("cfg.json");
        Map<String, Object> json = (Map<String, Object>) JsonCodec.parse(Files.readString(cfg));
        Map<String, Object> metadata = new LinkedHashMap<>((Map<String, Object>) json.get("metadata"));
        metadata.put("hook_layer", 9);
        metadata.put("hook_site", "resid");
        json = new LinkedHashMap<>(json);
        json.put("metadata", metadata);
        Files.writeString(cfg, JsonCodec.writePretty(json));
        Cli.Run layer9 = Cli.run("eval", "--sae", sae, "--text", text);
        assertThat(layer9.code()).as(layer9.toString()).isEqualTo(Main.FAILURE);
        assertThat(layer9.err())
                .contains("hook does not exist")
                .contains("layer 9")
                .contains("layers 0..5");
    }
}
