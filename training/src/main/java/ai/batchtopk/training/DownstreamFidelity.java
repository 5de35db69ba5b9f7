package ai.batchtopk.training;

import ai.batchtopk.EvalResult;
import ai.batchtopk.Evaluator;
import ai.batchtopk.Sae;
import ai.batchtopk.Selection;
import ai.batchtopk.extract.SplicedModel;
import ai.batchtopk.io.Tensor;
import ai.batchtopk.train.MetricsLog;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the model does when the SAE's reconstruction replaces the hooked activation: the sentence
 * embeddings of the spliced model against the clean ones, the analogue for a sentence-embedding model of
 * SAELens's CE-loss score.
 *
 * <p>Two passes over the text. The first feeds the real tokens' clean activations to an {@link Evaluator}
 * (the reconstruction metrics of {@code eval --data}) and sums them for the mean-ablation baseline. The
 * second runs, per batch, the model's tail once per replacement of the real tokens' activations: the SAE's
 * reconstruction (inference rule), zeros, and the mean activation. A sequence's embedding is the last
 * hidden state mean-pooled over its attention mask ([CLS] and [SEP] included) and L2-normalised, as
 * sentence-transformers computes it for all-MiniLM-L6-v2; the downstream cosine is the mean over sequences
 * of the clean and the spliced embeddings' cosine, the token cosine the mean over real tokens of the
 * cosine between their clean and spliced last hidden states. Sums are in double.
 */
final class DownstreamFidelity {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;

    private DownstreamFidelity() {}

    /** Computes the replacement of a batch's real-token rows ({@code [rows, d]} F32) into {@code out}. */
    @FunctionalInterface
    interface Replacement {
        void fill(Tensor clean, MemorySegment out);
    }

    /**
     * How far one replacement moves the model's output.
     *
     * @param cosine mean over sequences of the cosine between clean and spliced sentence embeddings
     * @param tokenCosine mean over real tokens of the cosine between clean and spliced last hidden states
     */
    record Splice(double cosine, double tokenCosine) {}

    /** The sums of the first pass: each SAE's reconstruction metrics, and the mean activation. */
    private record FirstPass(List<EvalResult> reconstructions, float[] mean) {}

    /**
     * The reconstruction metrics of the SAE on the real tokens of {@code documents} and the downstream
     * figures, as the entries of {@code eval}'s JSON line.
     *
     * @throws CommandFailure if the documents give no token
     */
    static Map<String, Object> measure(Sae sae, SplicedModel model, List<String> documents) {
        return measureAll(List.of(sae), model, documents).getFirst();
    }

    /**
     * {@link #measure} for several SAEs of the same hook at once (a sweep, for {@code compare}): the model's
     * head runs once per batch and pass, and the tail once per SAE plus the two ablations, which every SAE
     * shares. Each SAE's figures are those {@link #measure} gives it alone.
     */
    static List<Map<String, Object>> measureAll(List<Sae> saes, SplicedModel model, List<String> documents) {
        FirstPass first = firstPass(saes, model, documents);
        int d = model.width();
        Map<String, Replacement> replacements = new LinkedHashMap<>();
        for (int i = 0; i < saes.size(); i++) {
            Sae sae = saes.get(i);
            replacements.put("sae" + i, (clean, out) -> sae.reconstruct(clean, Selection.INFERENCE, out));
        }
        replacements.put("zero", (clean, out) -> out.fill((byte) 0));
        replacements.put("mean", (clean, out) -> {
            for (long r = 0; r < clean.dim(0); r++) {
                MemorySegment.copy(first.mean(), 0, out, F32, r * d * 4L, d);
            }
        });
        Compared compared = compare(model, documents, replacements);
        Splice zero = compared.splices().get("zero");
        Splice mean = compared.splices().get("mean");
        List<Map<String, Object>> lines = new ArrayList<>();
        for (int i = 0; i < saes.size(); i++) {
            lines.add(line(
                    first.reconstructions().get(i),
                    compared.splices().get("sae" + i),
                    zero,
                    mean,
                    model,
                    compared.sequences()));
        }
        return lines;
    }

    private static Map<String, Object> line(
            EvalResult r, Splice spliced, Splice zero, Splice mean, SplicedModel model, long sequences) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("nmse", MetricsLog.finite(r.nmse()));
        MetricsLog.putPrefixNmse(line, r);
        line.put("explained_variance", MetricsLog.finite(r.explainedVariance()));
        line.put("l0", MetricsLog.finite(r.l0()));
        line.put("dead_fraction", r.deadFraction());
        line.put("tokens", r.tokens());
        line.put("hook_name", model.hookName());
        line.put("hook_layer", model.config().layer());
        line.put("hook_site", model.config().site().label());
        line.put("downstream_cosine", spliced.cosine());
        line.put("downstream_cosine_zero_ablation", zero.cosine());
        line.put("downstream_cosine_mean_ablation", mean.cosine());
        line.put("downstream_score", MetricsLog.finite(score(spliced.cosine(), zero.cosine())));
        line.put("downstream_score_mean_ablation", MetricsLog.finite(score(mean.cosine(), zero.cosine())));
        line.put("downstream_token_cosine", spliced.tokenCosine());
        line.put("downstream_token_cosine_zero_ablation", zero.tokenCosine());
        line.put("downstream_token_cosine_mean_ablation", mean.tokenCosine());
        line.put("downstream_sequences", sequences);
        return line;
    }

    /** 1 − (1 − cos) / (1 − cos_zero): 1 for a perfect splice, 0 for one as bad as zero ablation. */
    static double score(double cosine, double zeroAblationCosine) {
        return 1 - (1 - cosine) / (1 - zeroAblationCosine);
    }

    private static FirstPass firstPass(List<Sae> saes, SplicedModel model, List<String> documents) {
        int d = model.width();
        double[] sums = new double[d];
        List<Evaluator> evaluators = new ArrayList<>();
        try {
            saes.forEach(sae -> evaluators.add(new Evaluator(sae)));
            Evaluator evaluator = evaluators.getFirst();
            Iterator<SplicedModel.Batch> batches = model.run(documents);
            while (batches.hasNext()) {
                Tensor rows = batches.next().realRows();
                for (Evaluator e : evaluators) {
                    e.add(rows);
                }
                MemorySegment data = rows.data();
                for (long i = 0, n = rows.dim(0) * d; i < n; i++) {
                    sums[(int) (i % d)] += data.getAtIndex(F32, i);
                }
            }
            if (evaluator.tokens() == 0) {
                throw new CommandFailure("the text gives no tokens to evaluate on (" + documents.size() + " document"
                        + (documents.size() == 1 ? "" : "s") + ", none with a wordpiece)");
            }
            float[] mean = new float[d];
            for (int j = 0; j < d; j++) {
                mean[j] = (float) (sums[j] / evaluator.tokens());
            }
            return new FirstPass(evaluators.stream().map(Evaluator::result).toList(), mean);
        } finally {
            evaluators.forEach(Evaluator::close);
        }
    }

    /** The figures of each replacement, and how many sequences they are over. */
    record Compared(Map<String, Splice> splices, long sequences) {}

    /** Runs the model's tail on each replacement of every batch's real-token activations. */
    static Compared compare(SplicedModel model, List<String> documents, Map<String, Replacement> replacements) {
        int d = model.width();
        int h = model.hidden();
        long capacity = (long) model.config().batchSize() * model.config().maxLength();
        Map<String, double[]> sums = new LinkedHashMap<>(); // {sentence cosines, token cosines}
        replacements.keySet().forEach(name -> sums.put(name, new double[2]));
        long sequences = 0;
        long tokens = 0;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment replaced = arena.allocate(capacity * d * 4, 64);
            Iterator<SplicedModel.Batch> batches = model.run(documents);
            while (batches.hasNext()) {
                SplicedModel.Batch batch = batches.next();
                Tensor clean = batch.realRows();
                double[][] cleanEmbeddings = embeddings(batch, batch.cleanHidden(), h);
                for (Map.Entry<String, Replacement> e : replacements.entrySet()) {
                    MemorySegment out = replaced.asSlice(0, batch.realTokens() * d * 4);
                    e.getValue().fill(clean, out);
                    MemorySegment hidden = batch.splice(out);
                    double[] s = sums.get(e.getKey());
                    double[][] embeddings = embeddings(batch, hidden, h);
                    for (int i = 0; i < batch.sequences(); i++) {
                        s[0] += dot(cleanEmbeddings[i], embeddings[i]);
                    }
                    s[1] += tokenCosines(batch, batch.cleanHidden(), hidden, h);
                }
                sequences += batch.sequences();
                tokens += batch.realTokens();
            }
        }
        if (tokens == 0) {
            throw new CommandFailure("the text gives no tokens to evaluate on");
        }
        Map<String, Splice> splices = new LinkedHashMap<>();
        for (Map.Entry<String, double[]> e : sums.entrySet()) {
            splices.put(e.getKey(), new Splice(e.getValue()[0] / sequences, e.getValue()[1] / tokens));
        }
        return new Compared(splices, sequences);
    }

    /** Each sequence's last hidden state mean-pooled over its attended positions, L2-normalised. */
    private static double[][] embeddings(SplicedModel.Batch batch, MemorySegment hidden, int h) {
        double[][] out = new double[batch.sequences()][h];
        for (int s = 0; s < batch.sequences(); s++) {
            double[] e = out[s];
            int attended = batch.attendedLength(s);
            long base = (long) s * batch.length() * h;
            for (int p = 0; p < attended; p++) {
                for (int j = 0; j < h; j++) {
                    e[j] += hidden.getAtIndex(F32, base + (long) p * h + j);
                }
            }
            double norm = 0;
            for (int j = 0; j < h; j++) {
                e[j] /= attended;
                norm += e[j] * e[j];
            }
            // sentence-transformers' Normalize: x / max(|x|, 1e-12).
            norm = Math.max(Math.sqrt(norm), 1e-12);
            for (int j = 0; j < h; j++) {
                e[j] /= norm;
            }
        }
        return out;
    }

    /** The sum over the batch's real tokens of the cosine between two last hidden states. */
    private static double tokenCosines(SplicedModel.Batch batch, MemorySegment a, MemorySegment b, int h) {
        double sum = 0;
        for (int s = 0; s < batch.sequences(); s++) {
            for (int p = 1; p <= batch.realLength(s); p++) {
                long base = ((long) s * batch.length() + p) * h;
                double ab = 0;
                double aa = 0;
                double bb = 0;
                for (int j = 0; j < h; j++) {
                    double x = a.getAtIndex(F32, base + j);
                    double y = b.getAtIndex(F32, base + j);
                    ab += x * y;
                    aa += x * x;
                    bb += y * y;
                }
                sum += ab / Math.max(Math.sqrt(aa * bb), 1e-24);
            }
        }
        return sum;
    }

    private static double dot(double[] x, double[] y) {
        double sum = 0;
        for (int j = 0; j < x.length; j++) {
            sum += x[j] * y[j];
        }
        return sum;
    }
}
