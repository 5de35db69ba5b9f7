package ai.batchtopk.reliability;

import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * A real full disk (a small tmpfs, mounted when running as root, as CI does; skipped otherwise) while
 * a checkpoint, an output being replaced, or extracted shards are written: a clear error that says so,
 * and whatever was saved before still whole.
 */
final class FullDiskCases {
    private final Path work;
    private final Path data;

    FullDiskCases(Path work, long seed) throws IOException {
        this.work = Files.createDirectories(work);
        this.data = work.resolve("train.npy");
        Npy.write(data, Tensor.ofFloats(new long[] {1000, 16}, ReferenceSae.gaussian(new Random(seed), 16_000, 1f)));
    }

    List<Case> cases() {
        return List.of(
                new Case("full disk during a checkpoint: the previous checkpoint stays intact", this::checkpoint),
                new Case(
                        "full disk while synth replaces an earlier output: the earlier output stays intact",
                        this::replace),
                new Case("full disk while extract writes shards: no half-written shard", this::extract));
    }

    private TinyDisk mount(String name, int kilobytes) throws IOException, InterruptedException {
        TinyDisk disk = TinyDisk.mount(work.resolve(name), kilobytes);
        Assumptions.assumeTrue(disk != null, "skipped: cannot mount a tmpfs here (needs root), so no real full disk");
        return disk;
    }

    private Verdict checkpoint() throws Exception {
        try (TinyDisk disk = mount("disk-checkpoint", 128)) {
            Path out = disk.path().resolve("sae");
            // d = 16, d_sae = 160: one checkpoint takes about 90 KiB; the second must hold both at once and cannot.
            ChildRun run = ChildJvm.cli(work.resolve("checkpoint-run"))
                    .run(
                            "train",
                            "--data",
                            data,
                            "--d-sae",
                            160,
                            "--k",
                            4,
                            "--batch-size",
                            100,
                            "--steps",
                            4,
                            "--checkpoint-every",
                            2,
                            "--out",
                            out);
            if (run.exit() == 0) {
                return Verdict.silentWrong("the run says it succeeded on a full disk: " + run.out());
            }
            Verdict error = run.failure("no space left on device");
            if (!error.passes()) {
                return error;
            }
            String probe = CheckpointProbes.probe(work.resolve("checkpoint-probe"), List.of(out))
                    .get(out);
            return probe.equals("ok\t2")
                    ? Verdict.clearError(error.detail() + "; the checkpoint of step 2 loads")
                    : Verdict.lost("after the full disk, loading the checkpoint gave " + probe);
        }
    }

    private Verdict replace() throws Exception {
        try (TinyDisk disk = mount("disk-replace", 600)) {
            Path out = disk.path().resolve("toy");
            ChildRun first = ChildJvm.cli(work.resolve("replace-first"))
                    .run("synth", "--out", out, "--d-in", 16, "--features", 32, "--tokens", 2000, "--seed", 1);
            if (first.exit() != 0) {
                throw new IllegalStateException("the first synth failed: " + first);
            }
            List<Path> files;
            try (Stream<Path> list = Files.list(out)) {
                files = list.sorted().toList();
            }
            byte[][] before = new byte[files.size()][];
            for (int i = 0; i < files.size(); i++) {
                before[i] = Files.readAllBytes(files.get(i));
            }
            ChildRun second = ChildJvm.cli(work.resolve("replace-second"))
                    .run("synth", "--out", out, "--d-in", 16, "--features", 32, "--tokens", 8000, "--seed", 2);
            if (second.exit() == 0) {
                return Verdict.silentWrong("synth says it succeeded on a full disk: " + second.out());
            }
            Verdict error = second.failure("no space left on device");
            for (int i = 0; i < files.size(); i++) {
                if (!Files.exists(files.get(i)) || !Arrays.equals(before[i], Files.readAllBytes(files.get(i)))) {
                    return Verdict.lost(files.get(i).getFileName() + " of the earlier output was changed or removed ("
                            + error.detail() + ")");
                }
            }
            return error;
        }
    }

    private Verdict extract() throws Exception {
        Path text = work.resolve("text.txt");
        Files.writeString(text, ("The quick brown fox jumps over the lazy dog. ").repeat(200), StandardCharsets.UTF_8);
        try (TinyDisk disk = mount("disk-extract", 256)) {
            Path out = disk.path().resolve("acts");
            // About 2000 rows of d = 384: 3 MB of shards of 500 rows (768 KB each) on a 256 KiB disk.
            ChildRun run = ChildJvm.cli(work.resolve("extract-run"))
                    .run("extract", "--layer", 3, "--text", text, "--shard-tokens", 100, "--out", out);
            if (run.exit() == 0) {
                return Verdict.silentWrong("extract says it succeeded on a full disk: " + run.out());
            }
            Verdict error = run.failure("no space left on device");
            try (Stream<Path> list = Files.exists(out) ? Files.list(out) : Stream.empty();
                    Arena arena = Arena.ofConfined()) {
                for (Path shard : list.filter(p -> p.getFileName().toString().matches("activations-\\d+\\.npy"))
                        .toList()) {
                    try {
                        Npy.map(shard, arena);
                    } catch (IOException e) {
                        return Verdict.lost("a half-written shard was left: " + e.getMessage());
                    }
                }
            }
            return error;
        }
    }
}
