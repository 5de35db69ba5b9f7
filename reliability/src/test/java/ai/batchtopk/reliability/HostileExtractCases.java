package ai.batchtopk.reliability;

import ai.batchtopk.io.JsonCodec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Hostile {@code extract} input: a binary file, Latin-1 text, an empty file, a directory of nothing, a
 * huge single line under a small heap with {@code --max-tokens}, and an extraction into an earlier one.
 */
final class HostileExtractCases {
    private final Path work;
    private final Random random;

    HostileExtractCases(Path work, long seed) throws IOException {
        this.work = Files.createDirectories(work);
        this.random = new Random(seed);
    }

    List<Case> cases() {
        return List.of(
                new Case("item 12: a binary file is refused, naming it", () -> refused("binary.bin", binary())),
                new Case(
                        "item 12: Latin-1 text (invalid UTF-8) is refused, naming it",
                        () -> refused(
                                "latin1.txt",
                                "Caf\u00e9 au lait, cr\u00e8me br\u00fbl\u00e9e.\n"
                                        .getBytes(StandardCharsets.ISO_8859_1))),
                new Case("an empty file is refused, naming it", () -> refused("empty.txt", new byte[0])),
                new Case(
                        "a file of blank lines is refused, naming it",
                        () -> refused("blank.txt", " \n\n\t\n".getBytes(StandardCharsets.UTF_8))),
                new Case("an empty directory is refused, naming it", this::emptyDirectory),
                new Case(
                        "item 9: a huge single line with --max-tokens under -Xmx384m stops at the limit",
                        this::hugeLine),
                new Case(
                        "item 4: extract into an earlier extraction is refused without --overwrite", this::intoEarlier),
                new Case("item 12: tokens.tsv has the same permissions as the other outputs", this::permissions));
    }

    private byte[] binary() {
        byte[] bytes = new byte[16 * 1024];
        random.nextBytes(bytes);
        return bytes;
    }

    private ChildRun extract(String name, Object... args) {
        List<Object> all = new ArrayList<>(List.of("extract", "--layer", 3));
        all.addAll(Arrays.asList(args));
        return ChildJvm.cli(work.resolve(name)).timeout(Duration.ofSeconds(120)).run(all.toArray());
    }

    private Verdict refused(String name, byte[] content) throws IOException {
        Path file = Files.write(work.resolve(name), content);
        return mustFail(extract("run-" + name, "--text", file, "--out", work.resolve("out-" + name)), name);
    }

    private Verdict emptyDirectory() throws IOException {
        Path dir = Files.createDirectories(work.resolve("nothing-here"));
        return mustFail(
                extract("run-empty-dir", "--text", dir, "--out", work.resolve("out-empty-dir")), "nothing-here");
    }

    private static Verdict mustFail(ChildRun run, String name) {
        if (run.crash() == null && run.exit() == 0) {
            return Verdict.silentWrong("extract accepted it: " + ErrorReport.excerpt(run.out()));
        }
        return run.failure(name);
    }

    private Verdict hugeLine() throws IOException {
        Path text = work.resolve("one-line.txt");
        String[] words = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "lambda", "sigma"};
        StringBuilder sb = new StringBuilder(8 << 20);
        while (sb.length() < 8 << 20) {
            sb.append(words[random.nextInt(words.length)]).append(' ');
        }
        Files.writeString(text, sb, StandardCharsets.UTF_8);
        Path out = work.resolve("out-one-line");
        // 384 MiB: the model's ~90 MB of ONNX bytes and its edited copy live on the heap; an unbounded
        // read of the 8 MB line (as before issue 10's fix: ~0.9 GB per 1 MB of one line) cannot fit.
        ChildRun run = ChildJvm.cli(work.resolve("run-one-line"))
                .jvmOption("-Xmx384m")
                .addressSpaceMb(6 * 1024)
                .timeout(Duration.ofSeconds(90))
                .run("extract", "--layer", 3, "--text", text, "--max-tokens", 300, "--out", out);
        Verdict failure = run.failure();
        if (failure != null) {
            return failure.outcome() == Outcome.CRASH
                    ? failure
                    : Verdict.unclear("refused a valid input (" + run.took().toSeconds() + " s): " + failure.detail());
        }
        Object rows = ((Map<?, ?>) JsonCodec.parse(run.out().strip())).get("rows");
        return Long.valueOf(300).equals(rows)
                ? Verdict.correct("300 rows in " + run.took().toSeconds() + " s")
                : Verdict.silentWrong("extract wrote " + rows + " rows for --max-tokens 300");
    }

    /** An extraction of a few sentences into {@code out}; fails the case's harness if it does not work. */
    private void extractSmall(String name, Path out, String sentence, Object... more) throws IOException {
        Path text = Files.writeString(work.resolve(name + ".txt"), sentence.repeat(5), StandardCharsets.UTF_8);
        List<Object> args = new ArrayList<>(List.of("--text", text, "--out", out));
        args.addAll(Arrays.asList(more));
        ChildRun run = extract("run-" + name, args.toArray());
        if (run.exit() != 0) {
            throw new IllegalStateException("a plain extraction failed: " + run);
        }
    }

    private Verdict intoEarlier() throws IOException {
        Path out = work.resolve("out-earlier");
        extractSmall("earlier", out, "The first extraction. ");
        List<Path> files = list(out);
        List<byte[]> before = new ArrayList<>();
        for (Path f : files) {
            before.add(Files.readAllBytes(f));
        }
        Path text = Files.writeString(work.resolve("later.txt"), "A second, different text. ".repeat(5));
        ChildRun again = extract("run-later", "--text", text, "--out", out);
        for (int i = 0; i < files.size(); i++) {
            if (!Files.exists(files.get(i)) || !Arrays.equals(before.get(i), Files.readAllBytes(files.get(i)))) {
                return Verdict.lost(files.get(i).getFileName() + " of the earlier extraction was replaced (exit "
                        + again.exit() + ")");
            }
        }
        if (again.crash() == null && again.exit() == 0) {
            return Verdict.lost("extract reported success over the earlier extraction");
        }
        Verdict refusal = again.failure("--overwrite");
        if (!refusal.passes()) {
            return refusal;
        }
        ChildRun overwrite = extract("run-overwrite", "--text", text, "--out", out, "--overwrite");
        Verdict failure = overwrite.failure();
        return failure == null
                ? Verdict.clearError(refusal.detail() + "; with --overwrite it is replaced")
                : Verdict.unclear("--overwrite did not replace it: " + failure.detail());
    }

    private Verdict permissions() throws IOException {
        Path out = work.resolve("out-permissions");
        extractSmall("permissions", out, "Permissions of every output file. ");
        Set<PosixFilePermission> tokens = Files.getPosixFilePermissions(out.resolve("tokens.tsv"));
        for (Path f : list(out)) {
            Set<PosixFilePermission> mode = Files.getPosixFilePermissions(f);
            if (!mode.equals(tokens)) {
                return Verdict.silentWrong("tokens.tsv has " + PosixFilePermissions.toString(tokens) + " but "
                        + f.getFileName() + " has " + PosixFilePermissions.toString(mode));
            }
        }
        return Verdict.correct("every output has " + PosixFilePermissions.toString(tokens));
    }

    private static List<Path> list(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }
}
