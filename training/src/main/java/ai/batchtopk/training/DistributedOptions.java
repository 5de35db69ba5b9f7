package ai.batchtopk.training;

import ai.batchtopk.ShardedCheckpoint;
import ai.batchtopk.train.RunFile;
import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The {@code train} options of a run over several processes ({@code --nproc}, {@code --master-port},
 * {@code --parallel}) and torchrun's variables, checked together before any worker starts or any group
 * is joined.
 */
final class DistributedOptions {
    /** What {@code --parallel} accepts. */
    static final Set<String> MODES = Set.of("data", "latents");

    private DistributedOptions() {}

    /**
     * @return this process's place in a group when it is a worker (torchrun's variables are set), else empty
     * @throws picocli.CommandLine.ParameterException for options that contradict each other
     * @throws CommandFailure for incomplete variables
     */
    static Optional<WorkerEnvironment> check(TrainCommand c, Map<String, String> env) {
        if (c.nproc != null && c.nproc < 1) {
            throw c.usage("--nproc must be at least 1, got " + c.nproc);
        }
        if (c.masterPort != null && (c.masterPort < 1 || c.masterPort > 65535)) {
            throw c.usage("--master-port must be a port, 1 to 65535, got " + c.masterPort);
        }
        if (c.masterPort != null && (c.nproc == null || c.nproc < 2)) {
            throw c.usage("--master-port only applies with --nproc N, N of 2 or more");
        }
        Optional<WorkerEnvironment> worker = WorkerEnvironment.from(env);
        if (c.nproc != null && worker.isPresent()) {
            throw c.usage(
                    "--nproc starts workers, but this process is a worker already (" + WorkerEnvironment.WORLD_SIZE
                            + "=" + worker.get().worldSize() + " is set): give one or the other");
        }
        if (c.parallel != null) {
            if (!MODES.contains(c.parallel)) {
                throw c.usage("--parallel " + c.parallel + ": expected data or latents");
            }
            if ((c.nproc == null || c.nproc < 2) && worker.isEmpty()) {
                throw c.usage("--parallel only applies to a run of several workers (--nproc N, or torchrun's "
                        + WorkerEnvironment.WORLD_SIZE + ")");
            }
        }
        return worker;
    }

    /**
     * How the workers share the run, for the line rank 0 prints: {@code --parallel} when given; resuming, the
     * run's own (its saved --parallel, or its latent-sharded checkpoint); else data parallel.
     */
    static String describeMode(TrainCommand c) {
        String mode = c.parallel;
        if (mode == null && c.resume != null) {
            try {
                List<String> saved = RunFile.readArgs(c.resume);
                if (saved == null) {
                    mode = Files.exists(c.resume.resolve(ShardedCheckpoint.MANIFEST)) ? "latents" : null;
                } else {
                    for (int i = 0; i < saved.size(); i++) {
                        if (saved.get(i).equals("--parallel") && i + 1 < saved.size()) {
                            mode = saved.get(i + 1);
                        } else if (saved.get(i).startsWith("--parallel=")) {
                            mode = saved.get(i).substring("--parallel=".length());
                        }
                    }
                }
            } catch (IOException | RuntimeException e) {
                // The resume itself reports what is wrong with the run's files, right after.
            }
        }
        return "latents".equals(mode) ? "latent-sharded" : "data-parallel";
    }

    /** The command line each worker of {@code --nproc} runs: this one without --nproc and --master-port. */
    static List<String> workerArgs(List<String> original) {
        List<String> args = new ArrayList<>();
        for (int i = 0; i < original.size(); i++) {
            String arg = original.get(i);
            if (arg.equals("--nproc") || arg.equals("--master-port")) {
                i++;
            } else if (!arg.startsWith("--nproc=") && !arg.startsWith("--master-port=")) {
                args.add(arg);
            }
        }
        return args;
    }
}
