package ai.batchtopk.reliability;

import ai.batchtopk.BatchTopKException;
import ai.batchtopk.io.JsonCodec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The seeded hostile files, read in one child JVM by {@link HostileFilesDriver}: each through the library
 * reader, {@code eval} and {@code train}. When the child dies on a file, that file is a crash and a new
 * child goes on from the next one; then each file's records are judged against what it must give.
 */
final class HostileFileCases {
    private static final int MAX_RESTARTS = 25;

    private final HostileFiles files;
    private final Path work;
    private Map<String, Verdict> verdicts;

    private HostileFileCases(HostileFiles files, Path work) {
        this.files = files;
        this.work = work;
    }

    static HostileFileCases generate(Path work, long seed, int extra) throws IOException {
        return new HostileFileCases(HostileFiles.generate(work.resolve("files"), seed, extra), work);
    }

    List<HostileFile> files() {
        return files.files;
    }

    HostileFiles generated() {
        return files;
    }

    /**
     * A seeded sample of the files, each through the shipped jar in a JVM of its own ({@code train --data}
     * for data files, {@code eval --sae} for SAE directories), judged as the driver's in-process runs are.
     */
    List<Case> throughTheJar(int count, long seed) {
        List<HostileFile> sample = new ArrayList<>(files.files);
        Collections.shuffle(sample, new Random(seed));
        return sample.subList(0, Math.min(count, sample.size())).stream()
                .map(file -> new Case(file.id() + " (" + file.note() + ") through the jar", () -> {
                    Path dir = work.resolve("jar").resolve(file.id());
                    ChildRun run = file.isData()
                            ? ChildJvm.cli(dir)
                                    .run(
                                            "train",
                                            "--data",
                                            file.path(),
                                            "--d-sae",
                                            16,
                                            "--k",
                                            2,
                                            "--batch-size",
                                            8,
                                            "--steps",
                                            5,
                                            "--no-shuffle",
                                            "--out",
                                            dir.resolve("out"))
                            : ChildJvm.cli(dir)
                                    .run(
                                            "eval",
                                            "--sae",
                                            file.path(),
                                            "--data",
                                            files.referenceData,
                                            "--batch-size",
                                            16);
                    if (run.crash() != null) {
                        return Verdict.crash(run.crash() + ": " + ErrorReport.excerpt(run.err()));
                    }
                    Map<String, Object> record = Map.of("exit", run.exit(), "out", run.out(), "err", run.err());
                    return file.isData()
                            ? cli(file, "train", record, file.train())
                            : cli(file, "eval", record, file.eval());
                }))
                .toList();
    }

    /** The file's verdict; the first call runs the driver over all of them. */
    synchronized Verdict verdict(HostileFile file) throws IOException {
        if (verdicts == null) {
            verdicts = runAll();
        }
        return verdicts.get(file.id());
    }

    private Map<String, Verdict> runAll() throws IOException {
        List<HostileFile> all = files.files;
        Path results = work.resolve("results.jsonl");
        Files.deleteIfExists(results);
        Path scratch = Files.createDirectories(work.resolve("scratch"));
        Map<String, Verdict> crashes = new HashMap<>();
        int next = 0;
        for (int restarts = 0; next < all.size(); restarts++) {
            ChildRun run = ChildJvm.driver(HostileFilesDriver.class, work.resolve("driver-" + restarts))
                    .timeout(Duration.ofMinutes(5))
                    .run(files.manifest(), results, files.referenceSaeDir, files.referenceData, scratch, next);
            Map<String, List<Map<?, ?>>> records = read(results);
            int unfinished = -1;
            for (int i = next; i < all.size(); i++) {
                List<Map<?, ?>> r = records.get(all.get(i).id());
                if (r == null || r.stream().noneMatch(m -> "end".equals(m.get("phase")))) {
                    unfinished = i;
                    break;
                }
            }
            if (unfinished < 0) {
                break;
            }
            String why = run.crash() != null ? run.crash() : "the driver JVM stopped (exit " + run.exit() + ")";
            crashes.put(
                    all.get(unfinished).id(),
                    Verdict.crash(why + " while on this file: " + ErrorReport.excerpt(run.err())));
            next = unfinished + 1;
            if (restarts == MAX_RESTARTS) {
                for (int i = next; i < all.size(); i++) {
                    crashes.put(
                            all.get(i).id(), Verdict.crash("not run: the driver JVM died " + MAX_RESTARTS + " times"));
                }
                break;
            }
        }
        Map<String, List<Map<?, ?>>> records = read(results);
        Map<String, Verdict> out = new HashMap<>(crashes);
        for (HostileFile file : all) {
            out.putIfAbsent(file.id(), judge(file, records.getOrDefault(file.id(), List.of())));
        }
        return out;
    }

    private static Map<String, List<Map<?, ?>>> read(Path results) throws IOException {
        Map<String, List<Map<?, ?>>> byId = new LinkedHashMap<>();
        if (Files.exists(results)) {
            for (String line : Files.readAllLines(results)) {
                if (!line.isBlank()) {
                    Map<?, ?> m = (Map<?, ?>) JsonCodec.parse(line);
                    byId.computeIfAbsent((String) m.get("id"), k -> new ArrayList<>())
                            .add(m);
                }
            }
        }
        return byId;
    }

    /** The file's checks: the reader, eval and train, each against what the file must give. */
    static Verdict judge(HostileFile file, List<Map<?, ?>> records) {
        List<Verdict> checks = new ArrayList<>();
        for (Map<?, ?> r : records) {
            String check = (String) r.get("check");
            if ("reader".equals(check)) {
                checks.add(reader(file, r));
            } else if ("eval".equals(check)) {
                checks.add(cli(file, "eval", r, file.eval()));
            } else if ("train".equals(check)) {
                checks.add(cli(file, "train", r, file.train()));
            }
        }
        if (checks.size() != 3) {
            return Verdict.crash("the driver left " + checks.size() + " of 3 checks");
        }
        return Verdict.of(checks);
    }

    private static Verdict reader(HostileFile file, Map<?, ?> r) {
        String name = file.path().getFileName().toString();
        if (Boolean.TRUE.equals(r.get("ok"))) {
            String detail = (String) r.get("detail");
            if (!file.reader()) {
                return Verdict.silentWrong("the reader accepted it: " + detail);
            }
            return detail.startsWith("differs")
                    ? Verdict.silentWrong("the reader " + detail)
                    : Verdict.correct("reader: " + detail);
        }
        String thrown = r.get("exception") + ": " + r.get("message");
        if (file.reader()) {
            return Verdict.unclear("the reader refused a valid file: " + ErrorReport.excerpt(thrown));
        }
        if (!documented((String) r.get("exception"))) {
            return Verdict.unclear("the reader threw an undocumented " + ErrorReport.excerpt(thrown));
        }
        if (!String.valueOf(r.get("message")).contains(name)) {
            return Verdict.unclear("the reader's message does not name " + name + ": " + ErrorReport.excerpt(thrown));
        }
        return Verdict.clearError("reader: " + ErrorReport.excerpt(thrown));
    }

    /** The exceptions the readers document: I/O (malformed file included), bad arguments, native refusals. */
    private static boolean documented(String className) {
        try {
            Class<?> c = Class.forName(className);
            return IOException.class.isAssignableFrom(c)
                    || IllegalArgumentException.class.isAssignableFrom(c)
                    || BatchTopKException.class.isAssignableFrom(c);
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    private static Verdict cli(HostileFile file, String command, Map<?, ?> r, boolean accept) {
        if (r.get("threw") != null) {
            return Verdict.unclear(command + ": Main.run threw " + ErrorReport.excerpt((String) r.get("threw")));
        }
        int exit = ((Number) r.get("exit")).intValue();
        String out = (String) r.get("out");
        String err = (String) r.get("err");
        if (!accept) {
            if (exit == 0) {
                return Verdict.silentWrong(command + " accepted it: " + ErrorReport.excerpt(out));
            }
            Verdict v = ErrorReport.judge(exit, err, file.path().getFileName().toString());
            return new Verdict(v.outcome(), command + ": " + v.detail());
        }
        if (exit != 0) {
            return Verdict.unclear(command + " refused a valid input: " + ErrorReport.excerpt(err));
        }
        Map<?, ?> json;
        try {
            json = (Map<?, ?>) JsonCodec.parse(out.strip());
        } catch (RuntimeException e) {
            return Verdict.silentWrong(command + " printed no JSON line: " + ErrorReport.excerpt(out));
        }
        if (command.equals("eval")) {
            Object nmse = json.get("nmse");
            Object l0 = json.get("l0");
            ReferenceSae.Evaluation expected = new ReferenceSae.Evaluation(file.expectedNmse(), file.expectedL0());
            if (nmse instanceof Number n
                    && l0 instanceof Number l
                    && expected.agrees(n.doubleValue(), l.doubleValue())) {
                return Verdict.correct("eval: nmse " + nmse + ", l0 " + l0);
            }
            return Verdict.silentWrong("eval printed nmse " + nmse + ", l0 " + l0 + "; expected " + expected);
        }
        Object step = json.get("step");
        Object loss = json.get("loss");
        if (step instanceof Number s
                && s.longValue() == 5
                && loss instanceof Number l
                && Double.isFinite(l.doubleValue())) {
            return Verdict.correct("train: 5 steps, loss " + loss);
        }
        return Verdict.silentWrong("train printed " + ErrorReport.excerpt(out));
    }
}
