package ai.batchtopk.training;

import ai.batchtopk.NativeLibrary;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code batchtopk info}: which native library this is, and where it was loaded from. */
@Command(name = "info", usageHelpAutoWidth = true, description = "Print the native library's build and location.")
final class InfoCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        Path library = NativeLibrary.load();
        PrintWriter out = spec.commandLine().getOut();
        out.println("build:   " + NativeLibrary.buildInfo());
        out.println("library: " + library);
        out.println("cuda:    " + (NativeLibrary.cudaAvailable() ? "available" : "not available"));
        out.println("java:    " + Runtime.version() + " (" + System.getProperty("java.vendor") + ")");
        return Main.OK;
    }
}
