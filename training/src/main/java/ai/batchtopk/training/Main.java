package ai.batchtopk.training;

import ai.batchtopk.ErrorMessages;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.util.Arrays;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * The {@code batchtopk} command line.
 *
 * <p>Exit codes: 0 success, 1 the run failed (a file, the data, native code), 2 the command line is
 * wrong. Every failure prints exactly one line {@code error: ...} to stderr, so scripts and people
 * both see the cause at once; {@code --debug} adds the stack trace.
 */
@Command(
        name = "batchtopk",
        description = "Train and evaluate BatchTopK sparse autoencoders.",
        subcommands = {
            TrainCommand.class,
            EvalCommand.class,
            CompareCommand.class,
            SynthCommand.class,
            InfoCommand.class,
            ai.batchtopk.report.ReportCommand.class,
            ai.batchtopk.extract.ExtractCommand.class,
            HelpCommand.class
        },
        usageHelpAutoWidth = true)
public final class Main implements Runnable {
    public static final int OK = 0;
    public static final int FAILURE = 1;
    public static final int USAGE = 2;

    @Mixin
    CommonOptions common;

    @Spec
    CommandSpec spec;

    /** Reached when no subcommand was given. */
    @Override
    public void run() {
        // Listed from the registered subcommands, so the message cannot fall behind them.
        String commands = String.join(", ", spec.subcommands().keySet());
        throw new ParameterException(spec.commandLine(), "missing command: one of " + commands);
    }

    public static void main(String[] args) {
        System.exit(run(System.out, System.err, args));
    }

    /** Runs one command line in this JVM and returns its exit code (tests call this). */
    public static int run(PrintStream out, PrintStream err, String... args) {
        // Known before parsing, so that even a parse error can show its stack trace.
        boolean debug = Arrays.asList(args).contains("--debug");
        PrintWriter errWriter = new PrintWriter(err, true);
        CommandLine cli = new CommandLine(new Main())
                .setOut(new PrintWriter(out, true))
                .setErr(errWriter)
                .setCaseInsensitiveEnumValuesAllowed(true)
                .setParameterExceptionHandler((e, ignored) -> {
                    String command = e.getCommandLine().getCommandSpec().qualifiedName();
                    // picocli starts some messages with its own "Error: "; ours already says it.
                    String message = FlagNames.of(ErrorMessages.describe(e)).replaceFirst("^Error: ", "");
                    errWriter.println("error: " + message + " (see '" + command + " --help')");
                    if (debug) {
                        e.printStackTrace(errWriter);
                    }
                    return USAGE;
                })
                .setExecutionExceptionHandler((e, command, parseResult) -> {
                    errWriter.println("error: " + FlagNames.of(ErrorMessages.describe(e)));
                    if (debug) {
                        e.printStackTrace(errWriter);
                    }
                    return FAILURE;
                });
        try {
            return cli.execute(args);
        } catch (OutOfMemoryError | InternalError e) {
            // picocli hands only Exceptions to the handler; these Errors (the JVM reports a fault in a read of
            // a memory-mapped file as an InternalError) still deserve one clear line.
            errWriter.println("error: " + FlagNames.of(ErrorMessages.describe(e)));
            if (debug) {
                e.printStackTrace(errWriter);
            }
            return FAILURE;
        } finally {
            out.flush();
            errWriter.flush();
        }
    }
}
