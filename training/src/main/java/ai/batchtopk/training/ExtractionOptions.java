package ai.batchtopk.training;

import ai.batchtopk.extract.ExtractorConfig;
import ai.batchtopk.extract.Model;
import ai.batchtopk.extract.Site;
import picocli.CommandLine.Option;

/** The {@code train --text} options: the model whose activations the SAEs train on, and how it reads the text. */
final class ExtractionOptions {
    @Option(
            names = "--model",
            paramLabel = "NAME",
            description = "With --text: the model (default: minilm, all-MiniLM-L6-v2).")
    String model;

    @Option(
            names = "--layer",
            paramLabel = "L",
            description = "With --text: the layer, 0-based (required with --text).")
    Integer layer;

    @Option(
            names = "--site",
            paramLabel = "resid|mlp",
            description =
                    "With --text: residual stream after the layer (d = 384) or MLP activations (d = 1536) (default: resid).")
    Site site;

    @Option(
            names = "--max-length",
            paramLabel = "T",
            description = "With --text: tokens per model sequence, [CLS]/[SEP] included (default: 128).")
    Integer maxLength;

    @Option(
            names = "--extract-batch-size",
            paramLabel = "N",
            description = "With --text: sequences per model run (default: 32).")
    Integer extractBatchSize;

    @Option(
            names = "--encoding",
            paramLabel = "CHARSET",
            description = "With --text: encoding of the text files (default: UTF-8; e.g. latin-1).")
    String encoding;

    /** The extraction these options ask for, defaults for what was left out. */
    ExtractorConfig config() {
        return new ExtractorConfig(
                Model.of(model != null ? model : "minilm"),
                layer,
                site != null ? site : Site.RESID,
                maxLength != null ? maxLength : ExtractorConfig.DEFAULT_MAX_LENGTH,
                extractBatchSize != null ? extractBatchSize : ExtractorConfig.DEFAULT_BATCH_SIZE,
                false,
                0);
    }
}
