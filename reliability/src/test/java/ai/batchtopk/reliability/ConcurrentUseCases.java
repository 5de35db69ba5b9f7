package ai.batchtopk.reliability;

import ai.batchtopk.io.JsonCodec;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * Issue 10, items 5 and 6, through {@link ConcurrentUseDriver} in child JVMs: one {@code Sae} used by
 * two threads at once, closed under a training thread, or handed a batch of a closed arena. Either
 * the calls are serialised (and every result is right) or refused with an exception that says why.
 */
final class ConcurrentUseCases {
    private final Path work;

    ConcurrentUseCases(Path work) {
        this.work = work;
    }

    List<Case> cases() {
        return List.of(
                new Case(
                        "item 5: two threads reconstruct and encode on one Sae: every result as single-threaded",
                        () -> readOnly(run("read-only", "read-only", 3))),
                new Case(
                        "item 6: two threads call trainStep on one Sae: no crash, no lost step",
                        () -> train(run("train", "train", 1000))),
                new Case(
                        "item 6: close() while another thread trains: it waits, the trainer gets a clear exception",
                        () -> close(run("close", "close-while-training"))),
                new Case(
                        "item 6: a batch whose Arena was closed is refused before native code",
                        () -> closedArena(run("arena", "closed-arena"))));
    }

    private Object run(String name, Object... args) {
        ChildRun run = ChildJvm.driver(ConcurrentUseDriver.class, work.resolve(name))
                .timeout(Duration.ofSeconds(120))
                .run(args);
        Verdict failure = run.failure();
        if (failure != null) {
            return failure.outcome() == Outcome.CRASH
                    ? failure
                    : Verdict.unclear("the driver failed: " + failure.detail());
        }
        return JsonCodec.parse(run.out().strip());
    }

    /** Exceptions that refuse a concurrent call on purpose say so. */
    private static boolean refusals(Map<?, ?> line) {
        return ((List<?>) line.get("exceptions"))
                .stream()
                        .map(String::valueOf)
                        .allMatch(e -> e.contains("thread") || e.contains("concurrent") || e.contains("in use"));
    }

    private static Verdict readOnly(Object result) {
        if (result instanceof Verdict v) {
            return v;
        }
        Map<?, ?> line = (Map<?, ?>) result;
        long wrong = ((Number) line.get("wrong")).longValue();
        long exceptions = ((Number) line.get("exception_count")).longValue();
        String counts = line.get("calls") + " calls, " + wrong + " wrong, " + exceptions + " exceptions "
                + line.get("exceptions");
        if (wrong > 0) {
            return Verdict.silentWrong(counts);
        }
        if (exceptions > 0) {
            return refusals(line) ? Verdict.clearError(counts) : Verdict.unclear(counts);
        }
        return Verdict.correct(counts);
    }

    private static Verdict train(Object result) {
        if (result instanceof Verdict v) {
            return v;
        }
        Map<?, ?> line = (Map<?, ?>) result;
        long returned = ((Number) line.get("returned")).longValue();
        long counted = ((Number) line.get("counted")).longValue();
        long exceptions = ((Number) line.get("exception_count")).longValue();
        String counts = returned + " steps returned, " + counted + " counted, " + exceptions + " exceptions "
                + line.get("exceptions");
        if (returned != counted) {
            return Verdict.silentWrong(counts);
        }
        if (exceptions > 0) {
            return refusals(line) ? Verdict.clearError(counts) : Verdict.unclear(counts);
        }
        return Verdict.correct(counts);
    }

    private static Verdict close(Object result) {
        if (result instanceof Verdict v) {
            return v;
        }
        Map<?, ?> line = (Map<?, ?>) result;
        List<?> saw = (List<?>) line.get("trainer_saw");
        String detail = "10 rounds, " + line.get("steps") + " steps; the trainer saw " + saw;
        if (!Boolean.TRUE.equals(line.get("trainer_stopped"))) {
            return Verdict.crash("a trainer thread did not stop: " + detail);
        }
        boolean clear = ((Number) line.get("rounds_with_an_exception")).intValue() == 10
                && saw.stream().allMatch(s -> String.valueOf(s).contains("closed"));
        return clear ? Verdict.correct(detail) : Verdict.unclear(detail);
    }

    private static Verdict closedArena(Object result) {
        if (result instanceof Verdict v) {
            return v;
        }
        List<?> seen = (List<?>) ((Map<?, ?>) result).get("seen");
        if (seen.stream().anyMatch(s -> String.valueOf(s).endsWith("returned"))) {
            return Verdict.silentWrong("native code ran on freed memory: " + seen);
        }
        return Verdict.clearError(String.valueOf(seen));
    }
}
