package ai.batchtopk.reliability;

import ai.batchtopk.Architecture;
import ai.batchtopk.Sae;
import ai.batchtopk.SaeConfig;
import ai.batchtopk.Selection;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Runs in a child JVM (issue 10, items 5 and 6): one {@link Sae} used from two threads at once, closed
 * while another thread trains, or handed a batch whose arena is closed. Prints one JSON line with what
 * happened; a crash is seen by the runner. The first argument names the check:
 * {@code read-only SECONDS}, {@code train STEPS}, {@code close-while-training}, {@code closed-arena}.
 */
public final class ConcurrentUseDriver {
    private ConcurrentUseDriver() {}

    private static final int D = 64;
    private static final int ROWS = 64;

    public static void main(String[] args) throws Exception {
        Map<String, Object> line = switch (args[0]) {
            case "read-only" -> readOnly(Double.parseDouble(args[1]));
            case "train" -> train(Integer.parseInt(args[1]));
            case "close-while-training" -> closeWhileTraining();
            case "closed-arena" -> closedArena();
            default -> throw new IllegalArgumentException("unknown check " + args[0]);
        };
        System.out.println(JsonCodec.write(line));
    }

    private static Sae trainedSae(Arena arena) {
        Sae sae = Sae.create(SaeConfig.builder(D, 512)
                .architecture(Architecture.BATCHTOPK)
                .k(8)
                .seed(3)
                .build());
        for (int step = 0; step < 5; step++) {
            sae.trainStep(DriverData.gaussian(arena, ROWS, D, step, false));
        }
        return sae;
    }

    /** Two threads reconstruct and encode their own batches; every result must equal the single-threaded one. */
    private static Map<String, Object> readOnly(double seconds) throws InterruptedException {
        Map<String, Object> line = new LinkedHashMap<>();
        try (Arena arena = Arena.ofShared();
                Sae sae = trainedSae(arena)) {
            Tensor[] batches = {
                DriverData.gaussian(arena, ROWS, D, 100, false), DriverData.gaussian(arena, ROWS, D, 200, false)
            };
            float[][] reconstructions = new float[2][];
            float[][] codes = new float[2][];
            for (int t = 0; t < 2; t++) {
                MemorySegment out = arena.allocate((long) ROWS * D * 4, 64);
                sae.reconstruct(batches[t], Selection.INFERENCE, out);
                reconstructions[t] = out.toArray(ValueLayout.JAVA_FLOAT);
                MemorySegment c = arena.allocate((long) ROWS * sae.dSae() * 4, 64);
                sae.encode(batches[t], Selection.INFERENCE, c);
                codes[t] = c.toArray(ValueLayout.JAVA_FLOAT);
            }
            AtomicLong calls = new AtomicLong();
            AtomicLong wrong = new AtomicLong();
            List<String> exceptions = Collections.synchronizedList(new ArrayList<>());
            long end = System.nanoTime() + (long) (seconds * 1e9);
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                int me = t;
                threads.add(Thread.ofPlatform().start(() -> {
                    MemorySegment out = arena.allocate((long) ROWS * D * 4, 64);
                    MemorySegment c = arena.allocate((long) ROWS * sae.dSae() * 4, 64);
                    while (System.nanoTime() < end) {
                        try {
                            sae.reconstruct(batches[me], Selection.INFERENCE, out);
                            sae.encode(batches[me], Selection.INFERENCE, c);
                            calls.addAndGet(2);
                            if (!Arrays.equals(out.toArray(ValueLayout.JAVA_FLOAT), reconstructions[me])
                                    || !Arrays.equals(c.toArray(ValueLayout.JAVA_FLOAT), codes[me])) {
                                wrong.incrementAndGet();
                            }
                        } catch (RuntimeException e) {
                            exceptions.add(e.toString());
                        }
                    }
                }));
            }
            for (Thread t : threads) {
                t.join();
            }
            line.put("calls", calls.get());
            line.put("wrong", wrong.get());
            line.put("exceptions", exceptions.stream().distinct().limit(5).toList());
            line.put("exception_count", exceptions.size());
        }
        return line;
    }

    /**
     * Two threads train one SAE on batches of different sizes; every step that returns must count (the
     * step counter says how many ran).
     */
    private static Map<String, Object> train(int stepsPerThread) throws InterruptedException {
        Map<String, Object> line = new LinkedHashMap<>();
        try (Arena arena = Arena.ofShared();
                Sae sae = trainedSae(arena)) {
            long before = sae.state("step", arena).data().get(Tensor.I64_LE, 0);
            AtomicLong returned = new AtomicLong();
            List<String> exceptions = Collections.synchronizedList(new ArrayList<>());
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                Tensor batch = DriverData.gaussian(arena, 32 + 150L * t, D, 300 + t, false);
                threads.add(Thread.ofPlatform().start(() -> {
                    for (int s = 0; s < stepsPerThread; s++) {
                        try {
                            sae.trainStep(batch);
                            returned.incrementAndGet();
                        } catch (RuntimeException e) {
                            exceptions.add(e.toString());
                        }
                    }
                }));
            }
            for (Thread t : threads) {
                t.join();
            }
            line.put("returned", returned.get());
            line.put("counted", sae.state("step", arena).data().get(Tensor.I64_LE, 0) - before);
            line.put("exceptions", exceptions.stream().distinct().limit(5).toList());
            line.put("exception_count", exceptions.size());
        }
        return line;
    }

    /**
     * close() while another thread is in trainStep, ten times at slightly different moments: close waits,
     * and the trainer then gets a clear exception.
     */
    private static Map<String, Object> closeWhileTraining() throws InterruptedException {
        Map<String, Object> line = new LinkedHashMap<>();
        List<String> seen = Collections.synchronizedList(new ArrayList<>());
        boolean allStopped = true;
        long steps = 0;
        try (Arena arena = Arena.ofShared()) {
            Tensor batch = DriverData.gaussian(arena, 1024, D, 400, false);
            for (int round = 0; round < 10; round++) {
                Sae sae = trainedSae(arena);
                AtomicLong taken = new AtomicLong();
                Thread trainer = Thread.ofPlatform().start(() -> {
                    try {
                        while (true) {
                            sae.trainStep(batch);
                            taken.incrementAndGet();
                        }
                    } catch (RuntimeException e) {
                        seen.add(e.getClass().getName() + ": " + e.getMessage());
                    }
                });
                while (taken.get() < 2) {
                    Thread.sleep(1);
                }
                Thread.sleep(round % 4);
                sae.close();
                trainer.join(30_000);
                allStopped &= !trainer.isAlive();
                steps += taken.get();
            }
        }
        line.put("trainer_stopped", allStopped);
        line.put("steps", steps);
        line.put("trainer_saw", seen.stream().distinct().toList());
        line.put("rounds_with_an_exception", seen.size());
        return line;
    }

    /** A batch in an arena already closed must be refused in Java, never read by native code. */
    private static Map<String, Object> closedArena() {
        Map<String, Object> line = new LinkedHashMap<>();
        try (Arena keep = Arena.ofShared();
                Sae sae = trainedSae(keep)) {
            Arena gone = Arena.ofConfined();
            Tensor batch = DriverData.gaussian(gone, ROWS, D, 500, false);
            gone.close();
            List<String> seen = new ArrayList<>();
            try {
                sae.trainStep(batch.data(), ROWS);
                seen.add("trainStep(segment) returned");
            } catch (RuntimeException e) {
                seen.add(e.getClass().getName() + ": " + e.getMessage());
            }
            try {
                sae.reconstruct(batch, Selection.INFERENCE, keep.allocate((long) ROWS * D * 4, 64));
                seen.add("reconstruct(tensor) returned");
            } catch (RuntimeException e) {
                seen.add(e.getClass().getName() + ": " + e.getMessage());
            }
            line.put("seen", seen);
        }
        return line;
    }
}
