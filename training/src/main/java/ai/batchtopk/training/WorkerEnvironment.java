package ai.batchtopk.training;

import java.util.Map;
import java.util.Optional;

/**
 * Where a worker of a distributed run finds its group, read from the environment variables torchrun
 * sets ({@code WORLD_SIZE}, {@code RANK}, {@code LOCAL_RANK}, {@code LOCAL_WORLD_SIZE},
 * {@code MASTER_ADDR}, {@code MASTER_PORT}), so that {@code train --nproc}, torchrun, Slurm or a
 * Kubernetes PyTorchJob can start the same command unchanged.
 *
 * @param localRank the rank among the workers of this machine (LOCAL_RANK; RANK when unset)
 * @param localWorldSize the workers on this machine (LOCAL_WORLD_SIZE; 1 when unset)
 */
record WorkerEnvironment(
        int rank, int worldSize, int localRank, int localWorldSize, String masterAddress, int masterPort) {
    static final String WORLD_SIZE = "WORLD_SIZE";
    static final String RANK = "RANK";
    static final String LOCAL_RANK = "LOCAL_RANK";
    static final String LOCAL_WORLD_SIZE = "LOCAL_WORLD_SIZE";
    static final String MASTER_ADDR = "MASTER_ADDR";
    static final String MASTER_PORT = "MASTER_PORT";

    /**
     * The worker's place in a group, or empty when {@code WORLD_SIZE} is unset (a run of its own).
     *
     * @throws CommandFailure when the variables are incomplete or out of range, naming which
     */
    static Optional<WorkerEnvironment> from(Map<String, String> env) {
        String worldSize = env.get(WORLD_SIZE);
        if (worldSize == null || worldSize.isBlank()) {
            // MASTER_ADDR alone (set for a whole cluster shell, say) does not make this run distributed.
            return Optional.empty();
        }
        int size = integer(env, WORLD_SIZE, 1, Integer.MAX_VALUE);
        for (String needed : new String[] {MASTER_ADDR, MASTER_PORT}) {
            if (env.get(needed) == null || env.get(needed).isBlank()) {
                throw new CommandFailure(WORLD_SIZE + " is set (" + size + ") but " + needed + " is not: a distributed"
                        + " worker meets the others at MASTER_ADDR:MASTER_PORT (torchrun sets both, and so does"
                        + " 'train --nproc N'); unset WORLD_SIZE to train in one process");
            }
        }
        if (env.get(RANK) == null || env.get(RANK).isBlank()) {
            throw new CommandFailure(WORLD_SIZE + " is set (" + size + ") but " + RANK
                    + " is not: each worker needs its" + " rank, 0 to " + (size - 1));
        }
        int port = integer(env, MASTER_PORT, 1, 65535);
        int rank = integer(env, RANK, 0, size - 1);
        int localRank = env.get(LOCAL_RANK) == null ? rank : integer(env, LOCAL_RANK, 0, size - 1);
        int localSize = env.get(LOCAL_WORLD_SIZE) == null ? 1 : integer(env, LOCAL_WORLD_SIZE, 1, size);
        return Optional.of(new WorkerEnvironment(
                rank, size, localRank, localSize, env.get(MASTER_ADDR).strip(), port));
    }

    private static int integer(Map<String, String> env, String name, int min, int max) {
        String text = env.get(name).strip();
        int value;
        try {
            value = Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw new CommandFailure(name + "='" + text + "' is not an integer");
        }
        if (value < min || value > max) {
            throw new CommandFailure(name + "=" + value + " is out of range: expected " + min
                    + (max == Integer.MAX_VALUE ? " or more" : " to " + max));
        }
        return value;
    }
}
