package ai.batchtopk.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.TestMethodOrder;
import org.opentest4j.TestAbortedException;

/**
 * The adversarial suite (RELIABILITY.md): every case runs in a child JVM, so a crash fails that case
 * and not the test runner, and is judged a clear error, a correct result, a crash, a silent wrong
 * result, a lost output or an unclear error. The counts are printed at the end. The seed is
 * {@code -Dadversarial.seed=N} (default below); the work files stay in {@code target/adversarial/}.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AdversarialSuiteTest {
    static final long SEED = Long.getLong("adversarial.seed", 20261201L);
    static final Path WORK = Path.of("target", "adversarial").toAbsolutePath();
    private static final Tally TALLY = new Tally();

    @BeforeAll
    static void clean() throws IOException, InterruptedException {
        TinyDisk.unmountAllUnder(WORK);
        Workspace.recreate(WORK);
    }

    @AfterAll
    static void counts() throws IOException {
        List<String> failures = TALLY.failures();
        if (!failures.isEmpty()) {
            System.out.println("adversarial: failing cases (details in " + WORK.resolve("cases.tsv") + "):");
            failures.forEach(f -> System.out.println("  " + f));
        }
        TALLY.skipped().forEach(s -> System.out.println("adversarial: skipped " + s));
        System.out.println(TALLY.counts());
        TALLY.write(WORK.resolve("cases.tsv"));
    }

    /** One dynamic test per case: runs it, tallies its verdict, fails unless it passes. */
    static Stream<DynamicTest> run(String family, Stream<Case> cases) {
        return cases.map(c -> {
            // A name quoting a hostile input may hold line breaks and tabs; reports want one line.
            String name = c.name().replaceAll("\\s+", " ");
            return DynamicTest.dynamicTest(name, () -> {
                Verdict verdict;
                try {
                    verdict = c.body().call();
                } catch (TestAbortedException e) {
                    TALLY.skip(family, name, e.getMessage());
                    throw e;
                }
                TALLY.add(family, name, verdict);
                assertThat(verdict.passes())
                        .as("%s / %s: %s", family, name, verdict)
                        .isTrue();
            });
        });
    }

    @TestFactory
    @Order(1)
    Stream<DynamicTest> hostileFiles() throws IOException {
        HostileFileCases cases = HostileFileCases.generate(WORK.resolve("hostile-files"), SEED, 100);
        return Stream.concat(
                run(
                        "hostile files",
                        cases.files().stream()
                                .map(f -> new Case(f.id() + " (" + f.note() + ")", () -> cases.verdict(f)))),
                run("hostile files", cases.throughTheJar(12, SEED).stream()));
    }

    @TestFactory
    @Order(2)
    Stream<DynamicTest> issueTen() throws IOException {
        return run("issue 10", new IssueTenCases(WORK.resolve("issue-10"), SEED).cases().stream());
    }

    @TestFactory
    @Order(3)
    Stream<DynamicTest> concurrentUse() {
        return run("concurrent use", new ConcurrentUseCases(WORK.resolve("concurrent-use")).cases().stream());
    }

    @TestFactory
    @Order(4)
    Stream<DynamicTest> hostileExtract() throws IOException {
        return run("hostile extract", new HostileExtractCases(WORK.resolve("hostile-extract"), SEED).cases().stream());
    }

    @TestFactory
    @Order(5)
    Stream<DynamicTest> fullDisk() throws IOException {
        return run("full disk", new FullDiskCases(WORK.resolve("full-disk"), SEED).cases().stream());
    }

    @TestFactory
    @Order(6)
    Stream<DynamicTest> killDuringCheckpoints() throws IOException {
        return run("kill -9", new KillDuringCheckpointCases(WORK.resolve("kill-9"), SEED, 20).cases().stream());
    }
}
