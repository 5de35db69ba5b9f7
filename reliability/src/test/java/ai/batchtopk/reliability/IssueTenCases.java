package ai.batchtopk.reliability;

import ai.batchtopk.Architecture;
import ai.batchtopk.Checkpoint;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.SafetensorsFile;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Stream;

/**
 * The cases of issue 10 that can be checked from outside, each through the command-line jar (items 1,
 * 2, 3, 4, 7, 8, 10, 11) or a driver (item 1's API check). Items 5 and 6 are {@link ConcurrentUseCases};
 * 9 and 12 {@link HostileExtractCases}; 13 (resident memory over long runs) is a benchmark, not a case.
 */
final class IssueTenCases {
    private static final int ROWS = 3000;
    private static final int D = 16;

    private final Path work;
    private final Random random;
    private final Path data;
    private Path sae;

    IssueTenCases(Path work, long seed) throws IOException {
        this.work = Files.createDirectories(work);
        this.random = new Random(seed);
        this.data = work.resolve("data.npy");
        Npy.write(data, Tensor.ofFloats(new long[] {ROWS, D}, gaussian(ROWS * D)));
    }

    List<Case> cases() {
        List<Case> cases = new ArrayList<>();
        for (String arch : List.of("batchtopk", "topk")) {
            cases.add(new Case(
                    "item 1: B = 1, fused vs naive through the CLI (" + arch + ")", () -> fusedVsNaive(arch, 1)));
        }
        cases.add(new Case(
                "item 1: B = 2, fused vs naive through the CLI (batchtopk)", () -> fusedVsNaive("batchtopk", 2)));
        cases.add(new Case(
                "item 1: fused = naive at B = 1, 2, 3 for every architecture; lossAndGradients changes no state",
                this::fusedNaiveDriver));
        cases.add(new Case("item 2: eval on a 1-row file", () -> evalWithoutVariance("one-row", 1, () -> gaussian(D))));
        cases.add(new Case(
                "item 2: eval on constant data",
                () -> evalWithoutVariance("constant", 500, () -> constant(500 * D, 0.7f))));
        cases.add(new Case(
                "item 2: eval on all-zero data", () -> evalWithoutVariance("zeros", 500, () -> new float[500 * D])));
        cases.add(new Case("item 2: eval on 1e300-valued f64 data", this::evalHuge));
        cases.add(new Case(
                "item 3: resume after the data file was replaced by another of the same shape",
                () -> resumeChanged("other-data", false)));
        cases.add(new Case("item 3: resume after the data was rewritten as f64", () -> resumeChanged("f64", false)));
        cases.add(
                new Case("item 3: --allow-changed-data resumes on changed data", () -> resumeChanged("allowed", true)));
        cases.add(new Case(
                "item 4: train --out at a finished run is refused without --overwrite", this::outAtFinishedRun));
        cases.add(new Case("item 4: train --overwrite replaces a finished run", this::overwrite));
        cases.add(new Case("item 7: .npy truncated while train --prefetch 0 reads it", () -> truncatedWhileRead(true)));
        cases.add(new Case("item 7: .npy truncated while eval reads it", () -> truncatedWhileRead(false)));
        cases.add(new Case("item 8: --prefetch 100000000", this::hugePrefetch));
        cases.add(new Case(
                "item 10: NaN late in the training data: the error names file and row, the work is saved",
                this::nanLateInTraining));
        cases.add(new Case("item 10: NaN late in the eval data: the error names file and row", this::nanLateInEval));
        cases.add(
                new Case("item 11: d_in = 1 with per-token normalisation: the error names the cause", this::widthOne));
        cases.add(new Case(
                "item 11: eval --dictionary at a directory: the error names the path", this::dictionaryIsADirectory));
        cases.add(new Case(
                "item 11: train --resume with a run.json that is not UTF-8: the error names the file",
                this::runJsonNotUtf8));
        cases.add(new Case(
                "item 11: --data too large to map in the address space: the error names the file",
                this::tooLargeToMap));
        return cases;
    }

    private float[] gaussian(int n) {
        float[] v = ReferenceSae.gaussian(random, n, 1f);
        for (int i = 0; i < n; i++) {
            v[i] += 0.1f * (i % D);
        }
        return v;
    }

    private static float[] constant(int n, float value) {
        float[] v = new float[n];
        Arrays.fill(v, value);
        return v;
    }

    private ChildJvm cli(String name) {
        return ChildJvm.cli(work.resolve(name));
    }

    /** A small SAE trained on the data, for the eval cases (trained once). */
    private synchronized Path sae() {
        if (sae == null) {
            Path out = work.resolve("sae");
            ChildRun run = cli("train-sae")
                    .run(
                            "train",
                            "--data",
                            data,
                            "--d-sae",
                            64,
                            "--k",
                            4,
                            "--batch-size",
                            100,
                            "--steps",
                            30,
                            "--out",
                            out);
            if (run.exit() != 0) {
                throw new IllegalStateException("training the SAE for the eval cases failed: " + run);
            }
            sae = out;
        }
        return sae;
    }

    private static Map<?, ?> json(ChildRun run) {
        return (Map<?, ?>) JsonCodec.parse(run.out().strip());
    }

    // ---------------------------------------------------------------------------------------- item 1

    private Verdict fusedVsNaive(String arch, int batch) throws IOException {
        Path[] outs = new Path[2];
        String[] paths = {"fused", "naive"};
        for (int i = 0; i < 2; i++) {
            outs[i] = work.resolve("b" + batch + "-" + arch + "-" + paths[i]);
            ChildRun run = cli("run-b" + batch + "-" + arch + "-" + paths[i])
                    .run(
                            "train",
                            "--data",
                            data,
                            "--arch",
                            arch,
                            "--d-sae",
                            64,
                            "--k",
                            4,
                            "--batch-size",
                            batch,
                            "--steps",
                            200,
                            "--no-shuffle",
                            "--seed",
                            1,
                            "--path",
                            paths[i],
                            "--out",
                            outs[i]);
            Verdict failure = run.failure();
            if (failure != null) {
                return failure.outcome() == Outcome.CRASH
                        ? failure
                        : Verdict.unclear("train --path " + paths[i] + ": " + failure.detail());
            }
        }
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile fused = Safetensors.open(outs[0].resolve(Checkpoint.STATE_FILE), arena);
            SafetensorsFile naive = Safetensors.open(outs[1].resolve(Checkpoint.STATE_FILE), arena);
            StringBuilder gaps = new StringBuilder();
            double worst = 0;
            for (String name : List.of("W_enc", "W_dec", "b_enc", "b_dec")) {
                double gap = relativeGap(
                        fused.get(name).toFloatArray(), naive.get(name).toFloatArray());
                worst = Math.max(worst, gap);
                gaps.append(name).append(' ').append(String.format("%.1e", gap)).append(", ");
            }
            String detail = "relative differences after 200 steps of B = " + batch + ": " + gaps;
            return worst <= 1e-4 ? Verdict.correct(detail) : Verdict.silentWrong(detail);
        }
    }

    private static double relativeGap(float[] a, float[] b) {
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < a.length; i++) {
            diff += (a[i] - b[i]) * (double) (a[i] - b[i]);
            norm += b[i] * (double) b[i];
        }
        return Math.sqrt(diff / Math.max(norm, 1e-30));
    }

    private Verdict fusedNaiveDriver() {
        ChildRun run = ChildJvm.driver(FusedNaiveDriver.class, work.resolve("fused-naive-driver"))
                .run();
        String crash = run.crash();
        if (crash != null) {
            return Verdict.crash(crash + ": " + ErrorReport.excerpt(run.err()));
        }
        List<String> bad = new ArrayList<>();
        long lines = 0;
        for (String line : run.out().lines().toList()) {
            Map<?, ?> m = (Map<?, ?>) JsonCodec.parse(line);
            lines++;
            if (!Boolean.TRUE.equals(m.get("ok"))) {
                bad.add(line);
            }
        }
        int architectures = Architecture.values().length;
        int checks = architectures * 3 * 2;
        if (run.exit() != 0 || lines != checks) {
            return Verdict.unclear("the driver stopped after " + lines + " of " + checks + " checks: "
                    + ErrorReport.excerpt(run.err()));
        }
        return bad.isEmpty()
                ? Verdict.correct(checks + " checks (" + architectures + " architectures x B = 1, 2, 3 x 2)")
                : Verdict.silentWrong(
                        bad.size() + " of " + checks + " checks differ: " + ErrorReport.excerpt(String.join(" ", bad)));
    }

    // ---------------------------------------------------------------------------------------- item 2

    private Verdict evalWithoutVariance(String name, int rows, Supplier<float[]> values) throws IOException {
        Path file = work.resolve(name + ".npy");
        Npy.write(file, Tensor.ofFloats(new long[] {rows, D}, values.get()));
        ChildRun run = cli("eval-" + name).run("eval", "--sae", sae(), "--data", file);
        if (run.crash() == null && run.exit() == 0) {
            return Verdict.silentWrong("data with no variance, yet eval printed " + ErrorReport.excerpt(run.out()));
        }
        return run.failure();
    }

    private Verdict evalHuge() throws IOException {
        Path file = work.resolve("huge.npy");
        float[] v = gaussian(500 * D);
        ByteBuffer b = ByteBuffer.allocate(v.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) {
            b.putDouble(x * 1e300);
        }
        String dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (500, " + D + "), }";
        Files.write(file, HostileNpy.npy(1, dict, b.array()));
        ChildRun run = cli("eval-huge").run("eval", "--sae", sae(), "--data", file);
        Verdict failure = run.failure();
        if (failure != null) {
            return failure;
        }
        Map<?, ?> m = json(run);
        if (m.get("nmse") instanceof Number n
                && m.get("explained_variance") instanceof Number ev
                && Double.isFinite(n.doubleValue())
                && n.doubleValue() >= 0
                && Math.abs(ev.doubleValue() - (1 - n.doubleValue())) < 1e-9) {
            return Verdict.correct("finite metrics: " + ErrorReport.excerpt(run.out()));
        }
        return Verdict.silentWrong("eval printed " + ErrorReport.excerpt(run.out()));
    }

    // ---------------------------------------------------------------------------------------- item 3

    private Path killedRun;
    private Path changingData;

    /** A run killed after its first checkpoints, on its own copy of the data (made once). */
    private synchronized Path killedRun() throws IOException, InterruptedException {
        if (killedRun == null) {
            changingData = work.resolve("changing.npy");
            Files.copy(data, changingData, StandardCopyOption.REPLACE_EXISTING);
            Path out = work.resolve("killed");
            Process process = cli("run-killed")
                    .jvmOption("-Dbatchtopk.test.step-delay-ms=20")
                    .start(
                            "train",
                            "--data",
                            changingData,
                            "--d-sae",
                            64,
                            "--k",
                            4,
                            "--batch-size",
                            50,
                            "--steps",
                            200,
                            "--no-shuffle",
                            "--checkpoint-every",
                            10,
                            "--out",
                            out);
            long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            while (process.isAlive()
                    && !Files.exists(out.resolve(Checkpoint.STATE_FILE))
                    && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            process.destroyForcibly();
            process.waitFor();
            if (!Files.exists(out.resolve(Checkpoint.STATE_FILE))) {
                throw new IllegalStateException(
                        "the run to kill wrote no checkpoint (see " + work.resolve("run-killed") + ")");
            }
            killedRun = out;
        }
        return killedRun;
    }

    private Verdict resumeChanged(String how, boolean allow) throws IOException, InterruptedException {
        Path killed = killedRun();
        Path copy = work.resolve("resume-" + how);
        copyTree(killed, copy);
        float[] values = Npy.map(data, Arena.ofAuto()).toFloatArray();
        if (how.equals("f64")) {
            ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
            for (float x : values) {
                b.putDouble(x);
            }
            Files.write(
                    changingData,
                    HostileNpy.npy(
                            1,
                            "{'descr': '<f8', 'fortran_order': False, 'shape': (" + ROWS + ", " + D + "), }",
                            b.array()));
        } else {
            Npy.write(changingData, Tensor.ofFloats(new long[] {ROWS, D}, gaussian(ROWS * D)));
        }
        ChildRun run = allow
                ? cli("run-resume-" + how).run("train", "--resume", copy, "--allow-changed-data")
                : cli("run-resume-" + how).run("train", "--resume", copy);
        if (allow) {
            Verdict failure = run.failure();
            if (failure != null) {
                return failure.outcome() == Outcome.CRASH ? failure : Verdict.unclear("refused: " + failure.detail());
            }
            return Long.valueOf(200).equals(json(run).get("step"))
                    ? Verdict.correct("resumed to step 200")
                    : Verdict.silentWrong("ended at " + json(run).get("step"));
        }
        if (run.crash() == null && run.exit() == 0) {
            return Verdict.silentWrong("resumed on changed data (" + how + ") with exit 0");
        }
        return run.failure(changingData.getFileName().toString());
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> all = Files.walk(from)) {
            for (Path p : all.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------- item 4

    private List<Object> smallRun(Path out, int seed) {
        return new ArrayList<>(List.of(
                "train",
                "--data",
                data,
                "--d-sae",
                64,
                "--k",
                4,
                "--batch-size",
                100,
                "--steps",
                10,
                "--seed",
                seed,
                "--out",
                out));
    }

    private Path finishedRun(String name) {
        Path out = work.resolve(name);
        ChildRun first = cli("run-" + name).run(smallRun(out, 1).toArray());
        if (first.exit() != 0) {
            throw new IllegalStateException("the first run failed: " + first);
        }
        return out;
    }

    private Verdict outAtFinishedRun() throws IOException {
        Path out = finishedRun("finished");
        Map<Path, byte[]> before = contents(out);
        ChildRun again = cli("run-finished-again").run(smallRun(out, 2).toArray());
        Map<Path, byte[]> after = contents(out);
        for (Map.Entry<Path, byte[]> e : before.entrySet()) {
            if (!after.containsKey(e.getKey()) || !Arrays.equals(e.getValue(), after.get(e.getKey()))) {
                return Verdict.lost(
                        e.getKey().getFileName() + " of the finished run was replaced (exit " + again.exit() + ")");
            }
        }
        if (again.crash() == null && again.exit() == 0) {
            return Verdict.lost("a second run reported success into the finished run's directory");
        }
        return again.failure("--overwrite");
    }

    private Verdict overwrite() throws IOException {
        Path out = finishedRun("to-overwrite");
        byte[] runJson = Files.readAllBytes(out.resolve("run.json"));
        List<Object> args = smallRun(out, 2);
        args.add("--overwrite");
        ChildRun again = cli("run-overwrite").run(args.toArray());
        Verdict failure = again.failure();
        if (failure != null) {
            return failure.outcome() == Outcome.CRASH
                    ? failure
                    : Verdict.unclear("--overwrite refused: " + failure.detail());
        }
        return Arrays.equals(runJson, Files.readAllBytes(out.resolve("run.json")))
                ? Verdict.silentWrong("exit 0 but run.json is the old run's")
                : Verdict.correct("replaced: " + ErrorReport.excerpt(again.out()));
    }

    private static Map<Path, byte[]> contents(Path dir) throws IOException {
        Map<Path, byte[]> files = new TreeMap<>();
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.filter(Files::isRegularFile).toList()) {
                files.put(p, Files.readAllBytes(p));
            }
        }
        return files;
    }

    // ---------------------------------------------------------------------------------------- item 7

    private Verdict truncatedWhileRead(boolean train) throws IOException, InterruptedException {
        String name = train ? "truncated-train" : "truncated-eval";
        Path file = work.resolve(name + ".npy");
        int rows = 400_000;
        float[] values = new float[rows * D];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) Math.sin(i * 0.37) + 0.05f * (i % D);
        }
        Npy.write(file, Tensor.ofFloats(new long[] {rows, D}, values));
        long size = Files.size(file);
        List<Object> args = train
                ? List.of(
                        "train",
                        "--data",
                        file,
                        "--d-sae",
                        64,
                        "--k",
                        4,
                        "--batch-size",
                        256,
                        "--steps",
                        100_000,
                        "--no-shuffle",
                        "--prefetch",
                        0,
                        "--out",
                        work.resolve(name + "-out"))
                : List.of("eval", "--sae", sae(), "--data", file, "--batch-size", 1);
        ChildJvm child = cli("run-" + name);
        Process process = child.start(args.toArray());
        long start = System.nanoTime();
        long deadline = start + Duration.ofSeconds(60).toNanos();
        // Cut it once the child has read a twentieth of it through its mapping (or, should it read the
        // file otherwise, three seconds after it opened it).
        long seen = 0;
        while (process.isAlive() && System.nanoTime() < deadline) {
            long resident = MappedResidency.of(process.pid(), file);
            if (resident >= 0 && seen == 0) {
                seen = System.nanoTime();
            }
            if (resident >= size / 20 || (seen != 0 && System.nanoTime() - seen > 3_000_000_000L)) {
                break;
            }
            Thread.sleep(2);
        }
        if (!process.isAlive() || seen == 0) {
            process.destroyForcibly();
            process.waitFor();
            ChildRun early = child.result(process, false, Duration.ofNanos(System.nanoTime() - start));
            if (early.crash() != null) {
                return Verdict.crash(early.crash() + " before the file was cut: " + ErrorReport.excerpt(early.err()));
            }
            throw new IllegalStateException(
                    "the child ended, or never opened " + file + ", before the file could be cut: " + early);
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(size / 4);
        }
        boolean finished = process.waitFor(60, TimeUnit.SECONDS);
        if (!finished) {
            process.destroyForcibly();
            process.waitFor();
        }
        ChildRun run = child.result(process, !finished, Duration.ofNanos(System.nanoTime() - start));
        Files.delete(file);
        if (run.crash() == null && run.exit() == 0) {
            return Verdict.silentWrong("exit 0 although the file was cut to a quarter while being read: "
                    + ErrorReport.excerpt(run.out()));
        }
        return run.failure(file.getFileName().toString());
    }

    // ---------------------------------------------------------------------------------------- item 8

    private Verdict hugePrefetch() {
        ChildRun run = cli("run-prefetch")
                .addressSpaceMb(8 * 1024)
                .jvmOption("-Xmx256m")
                .timeout(Duration.ofSeconds(90))
                .run(
                        "train",
                        "--data",
                        data,
                        "--d-sae",
                        64,
                        "--k",
                        4,
                        "--batch-size",
                        64,
                        "--steps",
                        5,
                        "--prefetch",
                        100_000_000,
                        "--out",
                        work.resolve("prefetch-out"));
        Verdict failure = run.failure("--prefetch");
        if (failure != null) {
            return failure;
        }
        return Long.valueOf(5).equals(json(run).get("step"))
                ? Verdict.correct("ran in bounded memory")
                : Verdict.silentWrong(ErrorReport.excerpt(run.out()));
    }

    // ---------------------------------------------------------------------------------------- item 10

    private Path nanData() throws IOException {
        Path file = work.resolve("nan-late.npy");
        if (!Files.exists(file)) {
            float[] values = Npy.map(data, Arena.ofAuto()).toFloatArray();
            values[2950 * D + 3] = Float.NaN;
            Npy.write(file, Tensor.ofFloats(new long[] {ROWS, D}, values));
        }
        return file;
    }

    /** The error names the file and the row (0- or 1-based) holding the NaN. */
    private static Verdict namesFileAndRow(ChildRun run, Path file) {
        Verdict v = run.failure(file.getFileName().toString());
        if (v == null || !v.passes()) {
            return v;
        }
        return v.detail().contains("2950") || v.detail().contains("2951")
                ? v
                : Verdict.unclear("the error does not name row 2950 of the file: " + v.detail());
    }

    private Verdict nanLateInTraining() throws IOException {
        Path file = nanData();
        Path out = work.resolve("nan-out");
        ChildRun run = cli("run-nan-train")
                .run(
                        "train",
                        "--data",
                        file,
                        "--d-sae",
                        64,
                        "--k",
                        4,
                        "--batch-size",
                        100,
                        "--steps",
                        40,
                        "--no-shuffle",
                        "--out",
                        out);
        if (run.crash() == null && run.exit() == 0) {
            return Verdict.silentWrong("trained through a NaN with exit 0: " + ErrorReport.excerpt(run.out()));
        }
        Verdict error = namesFileAndRow(run, file);
        if (!error.passes()) {
            return error;
        }
        String probe =
                CheckpointProbes.probe(work.resolve("probe-nan"), List.of(out)).get(out);
        return probe.equals("ok\t29")
                ? Verdict.clearError(error.detail() + "; the checkpoint of step 29 loads")
                : Verdict.lost("29 good steps, but loading the checkpoint gave " + probe);
    }

    private Verdict nanLateInEval() throws IOException {
        Path file = nanData();
        ChildRun run = cli("run-nan-eval").run("eval", "--sae", sae(), "--data", file);
        if (run.crash() == null && run.exit() == 0) {
            return Verdict.silentWrong("evaluated data holding a NaN with exit 0: " + ErrorReport.excerpt(run.out()));
        }
        return namesFileAndRow(run, file);
    }

    // ---------------------------------------------------------------------------------------- item 11

    private Verdict widthOne() throws IOException {
        Path file = work.resolve("width-one.npy");
        Npy.write(file, Tensor.ofFloats(new long[] {ROWS, 1}, gaussian(ROWS)));
        ChildRun run = cli("run-width-one")
                .run(
                        "train",
                        "--data",
                        file,
                        "--d-sae",
                        8,
                        "--k",
                        1,
                        "--batch-size",
                        10,
                        "--steps",
                        5,
                        "--out",
                        work.resolve("width-one-out"));
        if (run.crash() == null && run.exit() == 0) {
            return Verdict.silentWrong(
                    "trained with per-token normalisation of one element: " + ErrorReport.excerpt(run.out()));
        }
        Verdict v = run.failure("normali");
        return v.passes() && v.detail().contains("--lr")
                ? Verdict.unclear("blames the learning rate: " + v.detail())
                : v;
    }

    private Verdict dictionaryIsADirectory() throws IOException {
        Path dir = Files.createDirectories(work.resolve("dictionary-dir"));
        ChildRun run = cli("run-dictionary-dir").run("eval", "--sae", sae(), "--data", data, "--dictionary", dir);
        if (run.crash() == null && run.exit() == 0) {
            return Verdict.silentWrong("accepted a directory as --dictionary: " + run.out());
        }
        return run.failure("dictionary-dir");
    }

    private Verdict runJsonNotUtf8() throws IOException {
        Path dir = Files.createDirectories(work.resolve("latin1-run"));
        Files.write(
                dir.resolve("run.json"),
                "{\"args\": [\"--data\", \"caf\u00e9.npy\"]}".getBytes(StandardCharsets.ISO_8859_1));
        ChildRun run = cli("run-latin1-run").run("train", "--resume", dir);
        if (run.crash() == null && run.exit() == 0) {
            return Verdict.silentWrong("resumed from an unreadable run.json: " + run.out());
        }
        return run.failure("run.json");
    }

    private Verdict tooLargeToMap() throws IOException {
        Path file = work.resolve("too-large.npy");
        long rows = 1L << 30;
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + rows + ", " + D + "), }";
        byte[] header = HostileNpy.npy(1, dict, new byte[0]);
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.write(header);
            f.setLength(header.length + rows * D * 4); // 64 GiB, sparse: no disk used
        }
        try {
            ChildRun run = cli("run-too-large")
                    .addressSpaceMb(8 * 1024)
                    .run(
                            "train",
                            "--data",
                            file,
                            "--d-sae",
                            64,
                            "--k",
                            4,
                            "--batch-size",
                            64,
                            "--steps",
                            2,
                            "--no-shuffle",
                            "--normalize",
                            "none",
                            "--out",
                            work.resolve("too-large-out"));
            Verdict failure = run.failure(file.getFileName().toString());
            return failure != null ? failure : Verdict.correct("mapped lazily and trained on its zeros");
        } finally {
            Files.delete(file);
        }
    }
}
