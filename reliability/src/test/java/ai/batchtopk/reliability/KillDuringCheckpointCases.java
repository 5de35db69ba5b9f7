package ai.batchtopk.reliability;

import ai.batchtopk.Checkpoint;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.SafetensorsFile;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

/**
 * kill -9 at seeded random points of a run that writes a checkpoint every step (so that most of its
 * time goes to checkpoint writing): after each kill the directory is copied aside and the run resumed,
 * and killed again. Then every copy must load as a checkpoint, the last resume must finish, and the
 * final SAE and logs must equal those of a run that was never interrupted, bit for bit.
 */
final class KillDuringCheckpointCases {
    private final Path work;
    private final Random random;
    private final int kills;
    private final Path data;
    private final Path held;
    private final List<Path> snapshots = new ArrayList<>();
    private final List<String> landed = new ArrayList<>();
    /** The failed {@code --resume} that followed a kill, by kill index. */
    private final Map<Integer, ChildRun> resumeFailures = new HashMap<>();

    private ChildRun straight;
    private ChildRun finalResume;
    private Map<Path, String> probed;

    KillDuringCheckpointCases(Path work, long seed, int kills) throws IOException {
        this.work = Files.createDirectories(work);
        this.random = new Random(seed);
        this.kills = kills;
        Random values = new Random(seed + 1);
        this.data = work.resolve("train.npy");
        Npy.write(data, Tensor.ofFloats(new long[] {2000, 16}, ReferenceSae.gaussian(values, 2000 * 16, 1f)));
        this.held = work.resolve("held.npy");
        Npy.write(held, Tensor.ofFloats(new long[] {300, 16}, ReferenceSae.gaussian(values, 300 * 16, 1f)));
    }

    /** Windowed shuffle, prefetch, warm-up and cosine decay, evaluation: all the state a resume must restore. */
    private List<Object> args(Path out, long steps) {
        return List.of(
                "train",
                "--data",
                data,
                "--d-sae",
                256,
                "--k",
                4,
                "--batch-size",
                32,
                "--steps",
                steps,
                "--seed",
                4,
                "--shuffle-buffer",
                500,
                "--prefetch",
                2,
                "--lr-warmup-steps",
                5,
                "--lr-decay",
                "cosine",
                "--checkpoint-every",
                1,
                "--eval-data",
                held,
                "--eval-every",
                7,
                "--out",
                out);
    }

    List<Case> cases() {
        List<Case> cases = new ArrayList<>();
        for (int i = 0; i < kills; i++) {
            int kill = i;
            cases.add(new Case("kill -9 #" + (i + 1) + ": the checkpoint left loads", () -> afterKill(kill)));
        }
        cases.add(new Case("resume after " + kills + " kills finishes the run", this::resumed));
        cases.add(new Case("the final SAE equals the uninterrupted run's, bit for bit", this::sameState));
        cases.add(new Case("metrics.jsonl and eval.jsonl equal the uninterrupted run's", this::sameLogs));
        return cases;
    }

    /** Steps of the run: at most 200, so that every step is logged and the kills can count them. */
    private static final long STEPS = 150;

    /** Runs everything once: the straight run, the kills, the copies, the last resume and the probe. */
    private synchronized void runAll() throws IOException, InterruptedException {
        if (probed != null) {
            return;
        }
        straight = ChildJvm.cli(work.resolve("straight-run"))
                .timeout(Duration.ofMinutes(5))
                .run(args(work.resolve("straight"), STEPS).toArray());
        Path out = out();
        int i = 0;
        while (i < kills) {
            ChildJvm child =
                    ChildJvm.cli(work.resolve("run-" + i + (resumeFailures.containsKey(i - 1) ? "-again" : "")));
            int before = loggedSteps(out);
            Process process =
                    child.start((i == 0 ? args(out, STEPS) : List.<Object>of("train", "--resume", out)).toArray());
            // Let it take one to three steps of its own, then kill it a random moment later (mostly mid-checkpoint).
            int target = before + 1 + random.nextInt(3);
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (process.isAlive() && loggedSteps(out) < target && System.nanoTime() < deadline) {
                Thread.sleep(2);
            }
            if (!process.isAlive()) {
                ChildRun ended = child.result(process, false, Duration.ZERO);
                if (i > 0 && ended.exit() != 0 && !resumeFailures.containsKey(i - 1)) {
                    resumeFailures.put(i - 1, ended);
                    if (finishSwapByHand(out)) {
                        continue;
                    }
                }
                throw new IllegalStateException("run " + i + " ended before it could be killed: " + ended);
            }
            Thread.sleep(random.nextInt(40));
            process.destroyForcibly();
            process.waitFor();
            Path snapshot = work.resolve("kills").resolve(String.format("%02d", i));
            copy(out.getParent(), snapshot, out.getFileName().toString());
            snapshots.add(snapshot.resolve(out.getFileName()));
            landed.add(where(snapshot, out.getFileName().toString()));
            i++;
        }
        finalResume = ChildJvm.cli(work.resolve("final-resume"))
                .timeout(Duration.ofMinutes(5))
                .run("train", "--resume", out);
        if (finalResume.exit() != 0) {
            resumeFailures.put(kills - 1, finalResume);
            if (finishSwapByHand(out)) {
                finalResume = ChildJvm.cli(work.resolve("final-resume-again"))
                        .timeout(Duration.ofMinutes(5))
                        .run("train", "--resume", out);
            }
        }
        probed = CheckpointProbes.probe(work.resolve("probe"), snapshots);
    }

    /** Where in the checkpoint cycle a kill left the directory {@code name} (copied into {@code snapshot}). */
    private static String where(Path snapshot, String name) {
        boolean target = Files.exists(snapshot.resolve(name));
        boolean incoming = Files.exists(snapshot.resolve(name + ".incoming"));
        boolean previous = Files.exists(snapshot.resolve(name + ".previous"));
        if (!target && incoming && previous) {
            return "between the two renames of a checkpoint swap";
        }
        if (incoming) {
            return "while a checkpoint was being written";
        }
        if (previous) {
            return "after a checkpoint swap, before the old copy was deleted";
        }
        return "between checkpoints, after " + loggedSteps(snapshot.resolve(name)) + " logged steps";
    }

    /**
     * What a user would have to do when {@code --resume} refuses a run killed between the two renames
     * of a checkpoint swap: move {@code .incoming} into place. Done so that the later kills still run;
     * the kill before is recorded as a lost output all the same. False when there was no such swap.
     */
    private static boolean finishSwapByHand(Path out) throws IOException {
        Path incoming = out.resolveSibling(out.getFileName() + ".incoming");
        Path previous = out.resolveSibling(out.getFileName() + ".previous");
        if (Files.exists(out) || !Files.isDirectory(incoming) || !Files.isDirectory(previous)) {
            return false;
        }
        Files.move(incoming, out);
        try (Stream<Path> all = Files.walk(previous)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
        return true;
    }

    private Verdict afterKill(int i) throws Exception {
        runAll();
        String where = landed.get(i);
        ChildRun resume = resumeFailures.get(i);
        if (resume != null) {
            Verdict failure = resume.failure();
            return failure.outcome() == Outcome.CRASH
                    ? failure
                    : Verdict.lost("killed " + where + "; train --resume then failed: " + failure.detail());
        }
        String result = probed.get(snapshots.get(i));
        if (result.startsWith("ok")) {
            long step = Long.parseLong(result.split("\t")[1]);
            if (i > 0) {
                String earlier = probed.get(snapshots.get(i - 1));
                if (earlier.startsWith("ok") && Long.parseLong(earlier.split("\t")[1]) > step) {
                    return Verdict.lost("killed " + where + ": the checkpoint went back from step "
                            + earlier.split("\t")[1] + " to " + step);
                }
            }
            return Verdict.correct("killed " + where + "; the checkpoint of step " + step + " loads");
        }
        if (result.equals("none") && (i == 0 || probed.get(snapshots.get(i - 1)).equals("none"))) {
            return Verdict.correct("killed " + where + ", before the first checkpoint");
        }
        return new Verdict(
                result.startsWith("crash") ? Outcome.CRASH : Outcome.LOST_OUTPUT,
                "killed " + where + ": loading the checkpoint gave " + result);
    }

    private Path out() {
        return work.resolve("killed");
    }

    private Verdict resumed() throws Exception {
        runAll();
        Verdict failure = finalResume.failure();
        if (failure != null) {
            return failure.outcome() == Outcome.CRASH
                    ? failure
                    : Verdict.lost("the run cannot go on: " + failure.detail());
        }
        if (resumeFailures.containsKey(kills - 1)) {
            return Verdict.lost("the last resume went on only once the swap was finished by hand: "
                    + resumeFailures.get(kills - 1).failure().detail());
        }
        Object step = ((Map<?, ?>) JsonCodec.parse(finalResume.out().strip())).get("step");
        return Long.valueOf(STEPS).equals(step)
                ? Verdict.correct("resumed to step " + step)
                : Verdict.silentWrong("the resumed run ended at step " + step + ", not " + STEPS);
    }

    private Verdict sameState() throws Exception {
        runAll();
        if (straight.exit() != 0) {
            throw new IllegalStateException("the uninterrupted run failed: " + straight);
        }
        if (finalResume.exit() != 0) {
            return Verdict.lost("no final SAE: the last resume failed");
        }
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile a = Safetensors.open(out().resolve(Checkpoint.STATE_FILE), arena);
            SafetensorsFile e = Safetensors.open(work.resolve("straight").resolve(Checkpoint.STATE_FILE), arena);
            if (!a.tensors().keySet().equals(e.tensors().keySet())) {
                return Verdict.silentWrong("state tensors " + a.tensors().keySet() + " vs "
                        + e.tensors().keySet());
            }
            for (String name : e.tensors().keySet()) {
                byte[] ba = a.tensors().get(name).data().toArray(ValueLayout.JAVA_BYTE);
                byte[] be = e.tensors().get(name).data().toArray(ValueLayout.JAVA_BYTE);
                if (!Arrays.equals(ba, be)) {
                    return Verdict.silentWrong(
                            name + " differs from the uninterrupted run's at byte " + Arrays.mismatch(ba, be));
                }
            }
            Map<String, String> ma = new HashMap<>(a.metadata());
            Map<String, String> me = new HashMap<>(e.metadata());
            ma.remove("batchtopk.run.id");
            me.remove("batchtopk.run.id");
            if (!ma.equals(me)) {
                return Verdict.silentWrong("checkpoint metadata " + ma + " vs " + me);
            }
            return Verdict.correct(e.tensors().size() + " state tensors and the metadata identical");
        }
    }

    private Verdict sameLogs() throws Exception {
        runAll();
        for (String log : List.of("metrics.jsonl", "eval.jsonl")) {
            List<String> killed = withoutTimes(out().resolve(log));
            List<String> uninterrupted = withoutTimes(work.resolve("straight").resolve(log));
            if (!killed.equals(uninterrupted)) {
                return Verdict.lost(log + " of the killed run differs (" + killed.size() + " vs " + uninterrupted.size()
                        + " lines)");
            }
        }
        return Verdict.correct("the same lines (timings aside)");
    }

    /** A log's lines without the fields that measure time. */
    private static List<String> withoutTimes(Path file) throws IOException {
        if (!Files.exists(file)) {
            return List.of();
        }
        return Files.readAllLines(file).stream()
                .map(line -> {
                    Map<String, Object> m = new LinkedHashMap<>();
                    ((Map<?, ?>) JsonCodec.parse(line)).forEach((k, v) -> m.put((String) k, v));
                    m.remove("tokens_per_s");
                    m.remove("seconds");
                    return JsonCodec.write(m);
                })
                .toList();
    }

    /** Logged steps of a run directory (0 when none yet, or while a checkpoint swap has moved it). */
    private static int loggedSteps(Path out) {
        try {
            Path log = out.resolve("metrics.jsonl");
            return Files.exists(log)
                    ? (int) Files.readAllLines(log).stream()
                            .filter(l -> l.endsWith("}"))
                            .count()
                    : 0;
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    /** Copies {@code parent/name} and its swap siblings {@code name.incoming}, {@code name.previous}. */
    private static void copy(Path parent, Path to, String name) throws IOException {
        Files.createDirectories(to);
        for (String entry : List.of(name, name + ".incoming", name + ".previous")) {
            Path from = parent.resolve(entry);
            if (!Files.exists(from)) {
                continue;
            }
            try (Stream<Path> all = Files.walk(from)) {
                for (Path p : all.toList()) {
                    Path target = to.resolve(parent.relativize(p).toString());
                    if (Files.isDirectory(p)) {
                        Files.createDirectories(target);
                    } else {
                        Files.copy(p, target, StandardCopyOption.COPY_ATTRIBUTES);
                    }
                }
            }
        }
    }
}
