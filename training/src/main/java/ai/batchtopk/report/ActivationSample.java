package ai.batchtopk.report;

import ai.batchtopk.Sae;
import ai.batchtopk.Selection;
import ai.batchtopk.io.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * What the SAE's inference rule does on the first rows of the data: the per-token L0 counts, how often
 * each latent fires, and each latent's largest activations (value and row), encoded batch by batch into
 * one off-heap codes buffer.
 */
final class ActivationSample {
    /** Codes buffer of at most this many floats (64 MiB). */
    private static final long MAX_CODES = 16L << 20;

    final long tokens;
    final int dSae;
    /** {@code l0Counts[n]}: tokens with exactly n active latents. */
    final long[] l0Counts;
    /** {@code fires[f]}: tokens on which latent f is active. */
    final long[] fires;

    final int top;
    /** Latent f's largest activations, {@code top} slots from {@code f * top}; unused slots hold row -1. */
    final float[] topValues;

    final long[] topRows;
    long activeTotal;

    private ActivationSample(long tokens, int dSae, int top) {
        this.tokens = tokens;
        this.dSae = dSae;
        this.l0Counts = new long[dSae + 1];
        this.fires = new long[dSae];
        this.top = top;
        this.topValues = new float[dSae * top];
        this.topRows = new long[dSae * top];
        java.util.Arrays.fill(topRows, -1);
    }

    /** Encodes the first {@code maxRows} rows of the data (fewer if it has fewer). */
    static ActivationSample encode(Sae sae, ActivationFiles data, long maxRows, int top) {
        long tokens = Math.min(maxRows, data.rows());
        int dSae = Math.toIntExact(sae.dSae());
        ActivationSample s = new ActivationSample(tokens, dSae, top);
        long batch = Math.max(1, Math.min(4096, MAX_CODES / dSae));
        float[] row = new float[dSae];
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment codes = arena.allocate(ValueLayout.JAVA_FLOAT, batch * dSae);
            MemorySegment staging = arena.allocate(batch * data.rowBytes(), 64);
            long done = 0;
            for (int p = 0; p < data.parts().size(); p++) {
                Tensor part = data.parts().get(p);
                for (long first = 0; first < part.dim(0) && done < tokens; ) {
                    long rows = Math.min(Math.min(batch, part.dim(0) - first), tokens - done);
                    sae.encode(data.copyRows(p, first, rows, staging), Selection.INFERENCE, codes);
                    for (long r = 0; r < rows; r++) {
                        MemorySegment.copy(codes, ValueLayout.JAVA_FLOAT, r * dSae * Float.BYTES, row, 0, dSae);
                        s.addRow(done + r, row);
                    }
                    first += rows;
                    done += rows;
                }
            }
        }
        return s;
    }

    private void addRow(long rowIndex, float[] codes) {
        int active = 0;
        for (int f = 0; f < codes.length; f++) {
            float v = codes[f];
            if (v != 0) {
                active++;
                fires[f]++;
                offer(f, v, rowIndex);
            }
        }
        l0Counts[active]++;
        activeTotal += active;
    }

    /** Keeps v if it is among latent f's {@code top} largest so far. */
    private void offer(int f, float v, long rowIndex) {
        int base = f * top, min = base;
        for (int i = base; i < base + top; i++) {
            if (topRows[i] < 0) {
                min = i;
                break;
            }
            if (topValues[i] < topValues[min]) {
                min = i;
            }
        }
        if (topRows[min] < 0 || v > topValues[min]) {
            topValues[min] = v;
            topRows[min] = rowIndex;
        }
    }

    double meanL0() {
        return tokens == 0 ? 0 : (double) activeTotal / tokens;
    }

    long dead() {
        long dead = 0;
        for (long c : fires) {
            if (c == 0) {
                dead++;
            }
        }
        return dead;
    }
}
