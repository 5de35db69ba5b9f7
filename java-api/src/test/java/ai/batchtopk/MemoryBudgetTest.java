package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Sizes too large for the machine are refused before anything is allocated, with the need and the limit. */
class MemoryBudgetTest {
    private static final long GIB = 1L << 30;

    @TempDir
    Path root;

    private Path proc() throws IOException {
        Path proc = Files.createDirectories(root.resolve("proc"));
        Files.createDirectories(proc.resolve("self"));
        Files.writeString(
                proc.resolve("meminfo"),
                "MemTotal:       24683652 kB\nMemFree:          100000 kB\n"
                        + "MemAvailable:   13576308 kB\nBuffers:           2000 kB\n");
        return proc;
    }

    @Test
    void withoutACgroupLimitTheAvailableMemoryIsMemAvailable() throws IOException {
        Path proc = proc();
        Files.writeString(proc.resolve("self").resolve("cgroup"), "0::/user.slice\n");
        Path cgroup = Files.createDirectories(root.resolve("cgroup").resolve("user.slice"));
        Files.writeString(cgroup.resolve("memory.max"), "max\n");
        MemoryBudget.Available a = MemoryBudget.available(proc, root.resolve("cgroup"));
        assertThat(a.bytes()).isEqualTo(13576308L * 1024);
        assertThat(a.source()).isEqualTo("MemAvailable in /proc/meminfo");
        assertThat(a.toString()).isEqualTo("13 GiB (MemAvailable in /proc/meminfo)");
    }

    @Test
    void aCgroupV2LimitCountsWhatIsInUseButNotReclaimableCache() throws IOException {
        Path proc = proc();
        Files.writeString(proc.resolve("self").resolve("cgroup"), "0::/job\n");
        Path cgroup = Files.createDirectories(root.resolve("cgroup").resolve("job"));
        Files.writeString(cgroup.resolve("memory.max"), 4 * GIB + "\n");
        Files.writeString(cgroup.resolve("memory.current"), 3 * GIB + "\n");
        Files.writeString(cgroup.resolve("memory.stat"), "anon 1000\ninactive_file " + GIB + "\nactive_file 5\n");
        MemoryBudget.Available a = MemoryBudget.available(proc, root.resolve("cgroup"));
        assertThat(a.bytes()).isEqualTo(2 * GIB);
        assertThat(a.source()).contains("cgroup v2 memory.max 4.0 GiB").contains("2.0 GiB in use");
    }

    @Test
    void aCgroupV1LimitIsFoundAtTheRootOfWhatAContainerSees() throws IOException {
        Path proc = proc();
        Files.writeString(proc.resolve("self").resolve("cgroup"), "5:devices:/\n4:memory:/process_api/1234\n0::/\n");
        // The process's own directory is not visible from inside: the root of the hierarchy is its cgroup.
        Path memory = Files.createDirectories(root.resolve("cgroup").resolve("memory"));
        Files.writeString(memory.resolve("memory.limit_in_bytes"), GIB + "\n");
        Files.writeString(memory.resolve("memory.usage_in_bytes"), GIB / 2 + "\n");
        Files.writeString(memory.resolve("memory.stat"), "cache 5\ntotal_inactive_file " + GIB / 4 + "\n");
        MemoryBudget.Available a = MemoryBudget.available(proc, root.resolve("cgroup"));
        assertThat(a.bytes()).isEqualTo(GIB - GIB / 4);
        assertThat(a.source()).startsWith("cgroup v1 memory.limit_in_bytes 1.0 GiB");

        Files.writeString(memory.resolve("memory.limit_in_bytes"), "9223372036854771712\n");
        assertThat(MemoryBudget.available(proc, root.resolve("cgroup")).source())
                .isEqualTo("MemAvailable in /proc/meminfo");
    }

    @Test
    void withNothingToReadNothingIsRefused() {
        MemoryBudget.Available a = MemoryBudget.available(root.resolve("none"), root.resolve("none"));
        assertThat(a.bytes()).isEqualTo(Long.MAX_VALUE);
        assertThat(a.fits(Long.MAX_VALUE - 1)).isTrue();
    }

    @Test
    void sizesAreFormattedAndSaturateInsteadOfOverflowing() {
        assertThat(MemoryBudget.format(37)).isEqualTo("37 bytes");
        assertThat(MemoryBudget.format(640 * 1024)).isEqualTo("640 KiB");
        assertThat(MemoryBudget.format(13 * GIB / 10)).isEqualTo("1.3 GiB");
        assertThat(MemoryBudget.multiply(1L << 40, 1L << 40)).isEqualTo(Long.MAX_VALUE);
        assertThat(MemoryBudget.format(Long.MAX_VALUE)).isEqualTo("more than 8 EiB");
        assertThat(MemoryBudget.add(Long.MAX_VALUE - 1, 5)).isEqualTo(Long.MAX_VALUE);
        assertThat(MemoryBudget.saeBytes(512, 8192, false)).isEqualTo(6L * 512 * 8192 * 4);
        assertThat(MemoryBudget.stepBytes(2048, 8192, true)).isEqualTo(2048L * 8192 * 8);
    }

    @Test
    void anSaeLargerThanTheMemoryIsRefusedBeforeNativeCodeAllocatesIt() {
        // 6 x 1024 x 2^32 floats = 96 TiB: no machine this runs on has that.
        SaeConfig huge = SaeConfig.builder(1024, 1L << 32).k(32).build();
        assertThatThrownBy(() -> Sae.create(huge))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("d_in = 1024 and d_sae = 4294967296")
                .hasMessageContaining("needs at least 96 TiB")
                .hasMessageContaining("is available");
    }

    @Test
    void moreThreadsThanCoresAreRefused() {
        int cores = Runtime.getRuntime().availableProcessors();
        assertThatThrownBy(() -> NativeLibrary.setNumThreads(cores + 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("threads " + (cores + 1) + " is more than the " + cores + " cores");
        assertThatThrownBy(() -> NativeLibrary.setNumThreads(100_000_000)).isInstanceOf(IllegalArgumentException.class);
    }
}
