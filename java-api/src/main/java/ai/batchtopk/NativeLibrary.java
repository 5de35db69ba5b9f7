package ai.batchtopk;

import ai.batchtopk.bindings.batchtopk_h;
import java.io.File;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds and loads {@code libbatchtopk.so} once per JVM.
 *
 * <p>The library is loaded with {@link System#load}, which registers it with this class loader: the
 * jextract bindings look symbols up through {@link SymbolLookup#loaderLookup()}, so they find it
 * without being told a path. Every public entry point of this package calls {@link #load()} before
 * its first downcall; the bindings resolve a symbol on first use and would fail for good if the
 * library were not there yet.
 *
 * <p>Places searched, in order (the first that loads wins):
 * <ol>
 *   <li>the system property {@value #PROPERTY} (a file path);
 *   <li>the environment variable {@value #ENVIRONMENT} (a file path);
 *   <li>{@code libbatchtopk.so} in each directory of {@code java.library.path};
 *   <li>{@code native/build/libbatchtopk.so} under the current directory and each of its parents
 *       (a developer running from a checkout).
 * </ol>
 * If none loads, the {@link BatchTopKException} lists every place and why it failed. An explicit
 * setting that fails while a later place loads is logged as a warning, so a typo is not silent.
 */
public final class NativeLibrary {
    /** System property naming the library file. */
    public static final String PROPERTY = "batchtopk.library";
    /** Environment variable naming the library file. */
    public static final String ENVIRONMENT = "BATCHTOPK_LIBRARY";

    static final String FILE_NAME = System.mapLibraryName("batchtopk");
    private static final System.Logger LOG = System.getLogger(NativeLibrary.class.getName());

    /** Where the library came from; guarded by the class lock. */
    private static Path loadedFrom;
    /**
     * A failure that cannot be retried: once a wrong library is in the process it stays there, so
     * every later call must report the same problem rather than pretend all is well.
     */
    private static BatchTopKException permanentFailure;

    private NativeLibrary() {}

    /**
     * One place to look: where the suggestion came from, the path (null: the setting is unset), and
     * whether a person set it explicitly (property or environment variable).
     */
    record Candidate(String origin, String location, boolean explicit) {}

    /** A place that did not work, and why. */
    record Attempt(Candidate candidate, String reason) {}

    /**
     * Loads the library unless it is already loaded, and checks its ABI version.
     *
     * @return the file it was loaded from
     * @throws BatchTopKException (status {@link Status#INTERNAL}) naming every place searched
     */
    public static synchronized Path load() {
        if (permanentFailure != null) {
            throw permanentFailure;
        }
        if (loadedFrom != null) {
            return loadedFrom;
        }
        List<Candidate> candidates = candidates(
                System.getProperty(PROPERTY),
                System.getenv(ENVIRONMENT),
                System.getProperty("java.library.path", ""),
                Path.of("").toAbsolutePath());
        Path path = loadFirst(candidates);
        try {
            checkAbi(path);
        } catch (BatchTopKException e) {
            permanentFailure = e;
            throw e;
        }
        loadedFrom = path;
        // libtorch allocates through malloc: keep its large blocks out of the heaps (see NativeMemory).
        NativeMemory.keepLargeBlocksMapped();
        return path;
    }

    /** Whether {@link #load()} has succeeded. */
    public static synchronized boolean isLoaded() {
        return loadedFrom != null;
    }

    /** Shim and libtorch versions, e.g. {@code batchtopk 0.1.0 (libtorch 2.3.0, cpu)}. */
    public static String buildInfo() {
        load();
        return batchtopk_h.btk_build_info().reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** True when this build can run on CUDA and a device is present. */
    public static boolean cudaAvailable() {
        load();
        return batchtopk_h.btk_cuda_available() != 0;
    }

    /**
     * Sets the number of intra-op threads libtorch and the shim use.
     *
     * @param threads a positive count, at most the cores this process may use, or 0 to keep the current one
     * @return what the native library returned (the thread count in effect)
     * @throws IllegalArgumentException for a negative count or more threads than cores
     */
    public static int setNumThreads(int threads) {
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 keeps the current value), got " + threads);
        }
        int cores = Runtime.getRuntime().availableProcessors();
        if (threads > cores) {
            // More threads than cores only slow the step down, and far more than the system can start make
            // the OpenMP runtime end the process when it fails to create them.
            throw new IllegalArgumentException(
                    "threads " + threads + " is more than the " + cores + " cores this process may use");
        }
        load();
        return batchtopk_h.btk_set_num_threads(threads);
    }

    /** The places to try, in order; unset settings are kept so the report can say they were unset. */
    static List<Candidate> candidates(String property, String environment, String libraryPath, Path workingDirectory) {
        List<Candidate> out = new ArrayList<>();
        out.add(new Candidate("system property " + PROPERTY, blankToNull(property), true));
        out.add(new Candidate("environment variable " + ENVIRONMENT, blankToNull(environment), true));
        for (String directory : libraryPath.split(File.pathSeparator)) {
            if (!directory.isBlank()) {
                out.add(new Candidate("java.library.path", join(directory, FILE_NAME), false));
            }
        }
        for (Path directory = workingDirectory; directory != null; directory = directory.getParent()) {
            out.add(new Candidate(
                    "build output",
                    directory
                            .resolve("native")
                            .resolve("build")
                            .resolve(FILE_NAME)
                            .toString(),
                    false));
        }
        return out;
    }

    /** Loads the first candidate that works. */
    static Path loadFirst(List<Candidate> candidates) {
        List<Attempt> attempts = new ArrayList<>();
        for (Candidate candidate : candidates) {
            String reason = tryLoad(candidate);
            if (reason == null) {
                warnAboutSkippedSettings(attempts, candidate);
                return Path.of(candidate.location()).toAbsolutePath();
            }
            attempts.add(new Attempt(candidate, reason));
        }
        throw new BatchTopKException(Status.INTERNAL, "NativeLibrary.load", report(attempts));
    }

    /** Null when the candidate loaded, else why not. */
    private static String tryLoad(Candidate candidate) {
        if (candidate.location() == null) {
            return "not set";
        }
        Path path;
        try {
            path = Path.of(candidate.location()).toAbsolutePath();
        } catch (InvalidPathException e) {
            return "not a valid path (" + e.getMessage() + ")";
        }
        if (!Files.exists(path)) {
            return "no such file";
        }
        if (!Files.isRegularFile(path)) {
            return "not a regular file";
        }
        try {
            System.load(path.toString());
            return null;
        } catch (UnsatisfiedLinkError e) {
            return "could not be loaded: " + e.getMessage();
        }
    }

    /** The failure message: every place searched, why each failed, and what to do about it. */
    static String report(List<Attempt> attempts) {
        StringBuilder text = new StringBuilder("could not load the batchtopk native library (")
                .append(FILE_NAME)
                .append("). Places searched, in order:");
        int index = 1;
        for (Attempt attempt : attempts) {
            text.append(System.lineSeparator())
                    .append("  ")
                    .append(index++)
                    .append(". ")
                    .append(attempt.candidate().origin());
            if (attempt.candidate().location() != null) {
                text.append(": ").append(attempt.candidate().location());
            }
            text.append(" -- ").append(attempt.reason());
        }
        text.append(System.lineSeparator())
                .append("Point -D")
                .append(PROPERTY)
                .append("=/path/to/")
                .append(FILE_NAME)
                .append(" or ")
                .append(ENVIRONMENT)
                .append(" at the library, or build it with: ")
                .append("cmake -S native -B native/build -DCMAKE_BUILD_TYPE=Release && cmake --build native/build");
        return text.toString();
    }

    private static void checkAbi(Path path) {
        // Look before calling: a library that merely shares the name would otherwise make the
        // bindings' symbol holder fail in its static initialiser, which cannot be retried.
        if (SymbolLookup.loaderLookup().find("btk_abi_version").isEmpty()) {
            throw new BatchTopKException(
                    Status.INTERNAL,
                    "NativeLibrary.load",
                    path + " was loaded but does not export btk_abi_version: it is not the batchtopk library");
        }
        int found = batchtopk_h.btk_abi_version();
        int expected = batchtopk_h.BTK_ABI_VERSION();
        if (found != expected) {
            throw new BatchTopKException(
                    Status.INTERNAL,
                    "btk_abi_version",
                    path + " has ABI version " + found + " but these Java bindings were generated for ABI version "
                            + expected
                            + "; rebuild the native library and regenerate the bindings from the same batchtopk.h");
        }
    }

    private static void warnAboutSkippedSettings(List<Attempt> failed, Candidate used) {
        for (Attempt attempt : failed) {
            if (attempt.candidate().explicit() && attempt.candidate().location() != null) {
                LOG.log(
                        System.Logger.Level.WARNING,
                        "{0} = {1} did not load ({2}); using {3} from {4} instead",
                        attempt.candidate().origin(),
                        attempt.candidate().location(),
                        attempt.reason(),
                        used.location(),
                        used.origin());
            }
        }
    }

    private static String blankToNull(String value) {
        return value == null || value.isBlank() ? null : value;
    }

    private static String join(String directory, String file) {
        try {
            return Path.of(directory).resolve(file).toString();
        } catch (InvalidPathException e) {
            return directory + File.separator + file;
        }
    }
}
