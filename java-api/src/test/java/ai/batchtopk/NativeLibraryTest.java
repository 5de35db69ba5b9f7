package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeLibraryTest {

    @Test
    void loadsAndReportsItsBuild() {
        Path path = NativeLibrary.load();
        assertThat(path).isAbsolute().exists();
        assertThat(NativeLibrary.load()).isEqualTo(path);
        assertThat(NativeLibrary.isLoaded()).isTrue();
        assertThat(NativeLibrary.buildInfo()).startsWith("batchtopk ");
        assertThat(NativeLibrary.cudaAvailable()).isIn(true, false);
        int threads = NativeLibrary.setNumThreads(0);
        assertThat(threads).isPositive();
        assertThat(NativeLibrary.setNumThreads(threads)).isEqualTo(threads);
    }

    @Test
    void searchOrderIsPropertyEnvironmentLibraryPathThenBuildOutputs() {
        Path cwd = Path.of("/work/repo/java-api");
        List<NativeLibrary.Candidate> candidates = NativeLibrary.candidates("/opt/a.so", null, "/lib1:/lib2", cwd);
        assertThat(candidates)
                .extracting(NativeLibrary.Candidate::origin)
                .containsExactly(
                        "system property batchtopk.library",
                        "environment variable BATCHTOPK_LIBRARY",
                        "java.library.path",
                        "java.library.path",
                        "build output",
                        "build output",
                        "build output",
                        "build output");
        assertThat(candidates)
                .extracting(NativeLibrary.Candidate::location)
                .containsExactly(
                        "/opt/a.so",
                        null,
                        "/lib1/libbatchtopk.so",
                        "/lib2/libbatchtopk.so",
                        "/work/repo/java-api/native/build/libbatchtopk.so",
                        "/work/repo/native/build/libbatchtopk.so",
                        "/work/native/build/libbatchtopk.so",
                        "/native/build/libbatchtopk.so");
    }

    @Test
    void failureListsEveryPlaceAndWhy(@TempDir Path dir) {
        List<NativeLibrary.Candidate> candidates = NativeLibrary.candidates(
                dir.resolve("missing.so").toString(), null, dir.toString(), dir.resolve("sub"));
        assertThatThrownBy(() -> NativeLibrary.loadFirst(candidates))
                .isInstanceOfSatisfying(BatchTopKException.class, e -> {
                    assertThat(e.status()).isEqualTo(Status.INTERNAL);
                    assertThat(e.getMessage())
                            .contains("could not load the batchtopk native library (libbatchtopk.so)")
                            .contains("1. system property batchtopk.library: " + dir.resolve("missing.so")
                                    + " -- no such file")
                            .contains("2. environment variable BATCHTOPK_LIBRARY -- not set")
                            .contains("3. java.library.path: " + dir.resolve("libbatchtopk.so") + " -- no such file")
                            .contains("4. build output: " + dir.resolve("sub/native/build/libbatchtopk.so")
                                    + " -- no such file")
                            .contains("-Dbatchtopk.library=")
                            .contains("cmake -S native -B native/build");
                });
    }

    @Test
    void theReportQuotesWhyALibraryDidNotLoad() {
        // Formatted directly: really dlopen-ing a broken file makes the JVM print stack-guard warnings.
        String report = NativeLibrary.report(List.of(new NativeLibrary.Attempt(
                new NativeLibrary.Candidate("java.library.path", "/opt/lib/libbatchtopk.so", false),
                "could not be loaded: libtorch_cpu.so: cannot open shared object file")));
        assertThat(report)
                .contains(
                        "1. java.library.path: /opt/lib/libbatchtopk.so -- could not be loaded: libtorch_cpu.so: cannot open shared object file");
    }

    @Test
    void aDirectoryIsNotALibrary(@TempDir Path dir) {
        List<NativeLibrary.Candidate> candidates = List.of(new NativeLibrary.Candidate("test", dir.toString(), true));
        assertThatThrownBy(() -> NativeLibrary.loadFirst(candidates))
                .hasMessageContaining("1. test: " + dir + " -- not a regular file");
    }
}
