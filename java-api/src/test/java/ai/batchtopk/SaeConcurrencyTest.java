package ai.batchtopk;

import static org.assertj.core.api.Assertions.assertThat;

import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Threads hammering one {@link Sae}: no crash, no spurious error, and the results one thread alone
 * gives. How long each hammer runs is {@code -Dbatchtopk.hammerSeconds} (2 by default; the issue's
 * one-minute run is {@code -Dbatchtopk.hammerSeconds=60}).
 */
class SaeConcurrencyTest {
    private static final Duration HAMMER = Duration.ofMillis(
            Math.round(1000 * Double.parseDouble(System.getProperty("batchtopk.hammerSeconds", "2"))));
    private static final int ROWS = 64;
    private static final int D = 32;
    private static final int F = 128;
    private static final int BATCHES = 8;

    private static SaeConfig config() {
        return TestData.small(Architecture.BATCHTOPK).deadAfterTokens(2 * ROWS).build();
    }

    private static List<Tensor> batches(Arena arena) {
        List<Tensor> batches = new ArrayList<>();
        for (int b = 0; b < BATCHES; b++) {
            batches.add(TestData.gaussian(arena, ROWS, D, 1000 + b, 0.3f));
        }
        return batches;
    }

    /** What the read-only calls give for one batch, as bytes. */
    private static byte[] readings(Sae sae, Tensor batch, Arena arena) {
        MemorySegment out = arena.allocate((long) ROWS * (D + F + D) * Float.BYTES);
        MemorySegment codes = out.asSlice(0, (long) ROWS * F * Float.BYTES);
        MemorySegment reconstructed = out.asSlice((long) ROWS * F * Float.BYTES, (long) ROWS * D * Float.BYTES);
        MemorySegment decoded = out.asSlice((long) ROWS * (F + D) * Float.BYTES, (long) ROWS * D * Float.BYTES);
        sae.encode(batch, Selection.TRAINING, codes);
        sae.reconstruct(batch, Selection.INFERENCE, reconstructed);
        sae.decode(codes, ROWS, decoded);
        return out.toArray(ValueLayout.JAVA_BYTE);
    }

    /** Runs every body on its own thread, all at once; returns what they threw. */
    private static List<Throwable> runTogether(List<Runnable> bodies) throws InterruptedException {
        List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (Runnable body : bodies) {
            Thread t = new Thread(() -> {
                try {
                    start.await();
                    body.run();
                } catch (Throwable e) {
                    failures.add(e);
                }
            });
            t.start();
            threads.add(t);
        }
        start.countDown();
        for (Thread t : threads) {
            t.join();
        }
        return failures;
    }

    @Test
    void concurrentReadsGiveWhatOneThreadGets() throws InterruptedException {
        try (Arena arena = Arena.ofShared();
                Sae sae = Sae.create(config())) {
            List<Tensor> batches = batches(arena);
            for (Tensor batch : batches) {
                sae.trainStep(batch);
            }
            List<byte[]> alone = new ArrayList<>();
            for (Tensor batch : batches) {
                alone.add(readings(sae, batch, arena));
            }
            EvalResult evaluatedAlone = evaluate(sae, batches);

            long deadline = System.nanoTime() + HAMMER.toNanos();
            AtomicLong comparisons = new AtomicLong();
            List<Runnable> readers = new ArrayList<>();
            for (int t = 0; t < 3; t++) {
                int first = t;
                readers.add(() -> {
                    try (Arena mine = Arena.ofConfined()) {
                        for (int i = first; System.nanoTime() < deadline; i++) {
                            int b = i % BATCHES;
                            assertThat(readings(sae, batches.get(b), mine))
                                    .as("batch %d", b)
                                    .isEqualTo(alone.get(b));
                            if (i % 16 == 0) {
                                assertThat(evaluate(sae, batches)).isEqualTo(evaluatedAlone);
                            }
                            comparisons.incrementAndGet();
                        }
                    }
                });
            }
            assertThat(runTogether(readers)).isEmpty();
            assertThat(comparisons.get()).isPositive();
            System.out.printf(
                    "hammer %s: 3 threads read %d batches, each as one thread reads it%n", HAMMER, comparisons.get());
        }
    }

    private static EvalResult evaluate(Sae sae, List<Tensor> batches) {
        try (Evaluator evaluator = new Evaluator(sae)) {
            for (Tensor batch : batches) {
                evaluator.add(batch);
            }
            return evaluator.result();
        }
    }

    /**
     * Two trainers and a reader on one SAE: every step is taken exactly once (the step numbers the
     * trainers see are 1..N, each once), and the state is bit for bit that of one thread taking the
     * same batches in the order of those step numbers.
     */
    @Test
    void twoTrainersAndAReaderEqualOneThreadTrainingInTheSameOrder() throws InterruptedException {
        try (Arena arena = Arena.ofShared();
                Sae sae = Sae.create(config())) {
            List<Tensor> batches = batches(arena);
            Map<Long, Integer> batchOfStep = new ConcurrentHashMap<>();
            AtomicLong calls = new AtomicLong();
            long deadline = System.nanoTime() + HAMMER.toNanos();
            List<Runnable> bodies = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                int trainer = t;
                bodies.add(() -> {
                    for (int i = 0; System.nanoTime() < deadline; i++) {
                        // Each trainer has its own batches; both entry points take turns.
                        int b = trainer * BATCHES / 2 + i % (BATCHES / 2);
                        Tensor batch = batches.get(b);
                        StepMetrics m = i % 2 == 0 ? sae.trainStep(batch) : sae.trainStep(batch.data(), ROWS);
                        calls.incrementAndGet();
                        assertThat(batchOfStep.put(m.step(), b))
                                .as("step %d seen twice", m.step())
                                .isNull();
                        assertThat(m.loss()).isFinite();
                    }
                });
            }
            bodies.add(() -> {
                try (Arena mine = Arena.ofConfined()) {
                    for (int i = 0; System.nanoTime() < deadline; i++) {
                        byte[] read = readings(sae, batches.get(i % BATCHES), mine);
                        assertThat(read).hasSize(ROWS * (D + F + D) * Float.BYTES);
                        assertThat(sae.state("W_dec").shape()).containsExactly(F, D);
                        assertThat(sae.lossAndGradients(batches.get(i % BATCHES), i % 2 == 0)
                                        .loss())
                                .isFinite();
                    }
                }
            });
            assertThat(runTogether(bodies)).isEmpty();

            long steps = sae.state("step").data().get(Tensor.I64_LE, 0);
            assertThat(steps).isEqualTo(calls.get()).isPositive();
            try (Sae serial = Sae.create(config())) {
                for (long step = 1; step <= steps; step++) {
                    assertThat(batchOfStep).containsKey(step);
                    serial.trainStep(batches.get(batchOfStep.get(step)));
                }
                TestData.assertSameState(sae, serial);
            }
            System.out.printf(
                    "hammer %s: 2 trainers beside a reader took %d steps, the state of one thread "
                            + "taking them in the same order%n",
                    HAMMER, steps);
        }
    }

    /** close() from another thread waits for the call in progress; the others then see "Sae is closed". */
    @Test
    void closeWhileOthersTrainAndRead() throws InterruptedException {
        for (int round = 0; round < 20; round++) {
            try (Arena arena = Arena.ofShared()) {
                List<Tensor> batches = batches(arena);
                Sae sae = Sae.create(config());
                CountDownLatch started = new CountDownLatch(3);
                List<Runnable> bodies = new ArrayList<>();
                for (int t = 0; t < 3; t++) {
                    boolean trainer = t < 2;
                    bodies.add(() -> {
                        try (Arena mine = Arena.ofConfined()) {
                            started.countDown();
                            for (int i = 0; ; i++) {
                                Tensor batch = batches.get(i % BATCHES);
                                if (trainer) {
                                    sae.trainStep(batch);
                                } else {
                                    readings(sae, batch, mine);
                                }
                            }
                        } catch (IllegalStateException e) {
                            assertThat(e).hasMessage("Sae is closed");
                        }
                    });
                }
                int delayMillis = round % 5;
                bodies.add(() -> {
                    try {
                        started.await();
                        Thread.sleep(delayMillis);
                    } catch (InterruptedException e) {
                        throw new AssertionError(e);
                    }
                    sae.close();
                });
                assertThat(runTogether(bodies)).as("round %d", round).isEmpty();
                assertThat(sae.isClosed()).isTrue();
            }
        }
    }
}
