package ai.batchtopk.training;

import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * What {@code train} trains on: activation files or text (one of them; required unless --resume, which keeps
 * the run's own, so picocli checks only that not both are given).
 */
final class InputOptions {
    @Option(
            names = "--data",
            required = true,
            paramLabel = "FILE|DIR",
            description = "Activations: a .npy file, a .safetensors file (its one 2-D float tensor, or FILE:NAME),"
                    + " or a directory of such shards (sorted by name); repeat to concatenate (same width and"
                    + " dtype). This or --text is required.")
    List<Path> data;

    @Option(
            names = "--text",
            required = true,
            paramLabel = "FILE|DIR",
            description = "Instead of --data: text files (a directory is read recursively; documents split at"
                    + " blank lines) run through --model as training goes, its --layer/--site activations"
                    + " streamed into the SAEs (in document order, no shuffle; over and over if the budget is"
                    + " longer). Repeatable.")
    List<Path> text;
}
