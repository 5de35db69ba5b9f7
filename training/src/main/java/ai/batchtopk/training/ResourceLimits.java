package ai.batchtopk.training;

import ai.batchtopk.MemoryBudget;
import ai.batchtopk.io.DType;
import java.util.List;
import java.util.Objects;
import picocli.CommandLine;
import picocli.CommandLine.ParameterException;

/**
 * Every size a user sets on the command line, checked against the machine before anything is
 * allocated: {@code --threads} against the cores, and the memory the options ask for (batch buffers,
 * the SAEs' weights and Adam moments, their step workspaces) against the memory available
 * ({@link MemoryBudget}). A refusal is a usage error naming the option to change, what it needs and
 * what there is, not a JVM abort or the kernel's OOM killer some minutes later.
 *
 * <p>{@code --shuffle-buffer} allocates nothing (it is a window of rows of the mapped files, permuted
 * without an index array) and needs no limit; a window larger than the data is the whole data.
 */
final class ResourceLimits {
    private ResourceLimits() {}

    /** {@code --threads}: at most one per core this process may use (affinity and cgroup CPU limits included). */
    static void checkThreads(CommandLine cli, Integer threads) {
        int cores = Runtime.getRuntime().availableProcessors();
        if (threads != null && threads > cores) {
            throw new ParameterException(
                    cli,
                    "--threads " + threads + " is more than the " + cores + " cores this process"
                            + " may use (more threads than cores only slow the step down); give at most --threads "
                            + cores);
        }
    }

    /**
     * {@code train}: the batch buffers ({@code --prefetch} + 1 of {@code --batch-size} rows of width d: the
     * prefetch ring and the batch being trained on), and for each SAE its weights and Adam moments
     * ({@code --d-sae} x d) and its step's pre-activations ({@code --batch-size} x {@code --d-sae}).
     *
     * @param dSaes d_sae of each SAE of the run; null for one taken from --init (its size is checked
     *     when it is loaded)
     */
    static void checkTrain(CommandLine cli, int prefetch, long batchSize, long width, DType dtype, List<Long> dSaes) {
        long batchBytes = MemoryBudget.multiply(batchSize, width, dtype.byteSize());
        long buffers = MemoryBudget.multiply(prefetch + 1L, batchBytes);
        long states = 0;
        long steps = 0;
        long largestDSae = 0;
        for (Long dSae : dSaes.stream().filter(Objects::nonNull).toList()) {
            states = MemoryBudget.add(states, MemoryBudget.saeBytes(width, dSae, false));
            steps = MemoryBudget.add(steps, MemoryBudget.stepBytes(batchSize, dSae, false));
            largestDSae = Math.max(largestDSae, dSae);
        }
        long need = MemoryBudget.add(MemoryBudget.add(buffers, states), steps);
        MemoryBudget.Available available = MemoryBudget.available();
        if (available.fits(need)) {
            return;
        }
        String saes = dSaes.size() == 1 ? "the SAE's" : "the " + dSaes.size() + " SAEs'";
        String parts =
                "batch buffers " + MemoryBudget.format(buffers) + " (" + (prefetch + 1L) + " of " + batchSize + " x "
                        + width + " " + dtype + ")"
                        + (largestDSae == 0
                                ? ""
                                : ", " + saes + " weights and Adam moments " + MemoryBudget.format(states)
                                        + " (d " + width + " x d_sae " + largestDSae
                                        + (dSaes.size() > 1 ? " and less" : "") + "), "
                                        + saes + " step workspace " + MemoryBudget.format(steps) + " (" + batchSize
                                        + " x d_sae)");
        String option;
        String advice;
        if (buffers >= states && buffers >= steps && prefetch > 0) {
            long others = MemoryBudget.add(states, steps);
            long fits = others >= available.bytes() ? 0 : (available.bytes() - others) / Math.max(1, batchBytes) - 1;
            option = "--prefetch " + prefetch;
            advice = fits >= 1
                    ? "at most --prefetch " + Math.min(fits, Integer.MAX_VALUE) + " fits"
                    : "give a smaller --batch-size";
        } else if (states >= steps && states >= buffers) {
            option = "--d-sae " + largestDSae;
            advice = "give a smaller --d-sae";
        } else {
            option = "--batch-size " + batchSize;
            advice = "give a smaller --batch-size";
        }
        throw new ParameterException(
                cli,
                option + " asks for more memory than there is: the run needs at least " + MemoryBudget.format(need)
                        + " [" + parts + "] but only " + available + " is available; " + advice);
    }

    /** {@code synth}: the activations ({@code tokens x d}) and the dictionary ({@code features x d}), F32, built in memory. */
    static void checkSynth(CommandLine cli, long tokens, long features, long dIn) {
        long need = MemoryBudget.multiply(MemoryBudget.add(tokens, features), dIn, Float.BYTES);
        MemoryBudget.Available available = MemoryBudget.available();
        if (!available.fits(need)) {
            long fits = available.bytes() / Math.max(1, dIn * Float.BYTES) - features;
            throw new ParameterException(
                    cli,
                    "--tokens " + tokens + " asks for more memory than there is: the activations"
                            + " and the dictionary ((" + tokens + " + " + features + ") x " + dIn + " F32) take "
                            + MemoryBudget.format(need) + " but only " + available + " is available"
                            + (fits >= 1
                                    ? "; at most --tokens " + fits + " fits"
                                    : "; give a smaller --d-in or --features"));
        }
    }

    /**
     * {@code eval}: the staging buffer ({@code rows} of width d) and the evaluation step's pre-activations
     * ({@code rows} x d_sae), where {@code rows} is the batch size actually used.
     */
    static void checkEval(CommandLine cli, long batchSize, long rows, long width, DType dtype, long dSae) {
        long staging = MemoryBudget.multiply(rows, width, dtype.byteSize());
        long step = MemoryBudget.stepBytes(rows, dSae, false);
        long need = MemoryBudget.add(staging, step);
        MemoryBudget.Available available = MemoryBudget.available();
        if (!available.fits(need)) {
            throw new ParameterException(
                    cli,
                    "--batch-size " + batchSize + " asks for more memory than there is: a batch"
                            + " of " + rows + " rows needs at least " + MemoryBudget.format(need) + " (its copy, "
                            + rows + " x "
                            + width + " " + dtype + ", and its pre-activations, " + rows + " x d_sae " + dSae
                            + ") but only "
                            + available + " is available; give a smaller --batch-size");
        }
    }
}
