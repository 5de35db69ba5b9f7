package ai.batchtopk.training;

import picocli.CommandLine.Option;

/** Options every command takes. */
final class CommonOptions {
    @Option(
            names = {"-h", "--help"},
            usageHelp = true,
            description = "Show this help and exit.")
    boolean help;

    /**
     * Read by {@link Main} from the raw arguments (it must be known even when parsing fails), so this
     * field only makes picocli accept the option and list it in the help.
     */
    @Option(names = "--debug", description = "Print the stack trace of an error.")
    boolean debug;
}
