package ai.batchtopk.training;

import ai.batchtopk.Architecture;
import ai.batchtopk.SaeLens;
import java.io.IOException;
import java.nio.file.Files;
import java.util.List;

/** The SAEs of a {@code train} run: one, or the grid of its {@code --sweep} values ({@link SweepGrid}). */
final class Sweep {
    private Sweep() {}

    /** The SAEs of the run; a bad --sweep is a usage error. */
    static List<SweepGrid.Variant> variants(TrainCommand c) {
        try {
            return SweepGrid.of(
                    c.sae.sweep,
                    c.sae.architecture != null ? c.sae.architecture : initArchitecture(c),
                    c.sae.dSae,
                    c.sae.k,
                    c.sae.l0Coeff,
                    c.sae.l1Coeff);
        } catch (IllegalArgumentException e) {
            throw c.usage(e.getMessage());
        }
    }

    /** The --init SAE's architecture, which the run keeps without --arch; null when it cannot be read (yet). */
    private static Architecture initArchitecture(TrainCommand c) {
        if (c.sae.init == null || !Files.isDirectory(c.sae.init)) {
            return null;
        }
        try {
            return SaeLens.config(c.sae.init).architecture();
        } catch (IOException | RuntimeException e) {
            return null; // the run reports it when it loads the --init SAE
        }
    }
}
