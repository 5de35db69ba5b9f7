package ai.batchtopk.report;

import ai.batchtopk.Sae;
import ai.batchtopk.Selection;
import ai.batchtopk.io.Tensor;
import ai.batchtopk.io.TextFiles;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * The top-activating token contexts of a sample of latents, as HTML. Tokens come from an extraction
 * directory's {@code tokens.tsv} ({@code doc<TAB>pos<TAB>token} per activation row, in row order, the
 * token escaped as {@code \\ \t \n}) and, when present, {@code documents.tsv} beside it ({@code
 * doc<TAB>source file<TAB>first 80 chars}). A context is the neighbouring rows of the same document.
 */
final class TokenContexts {
    static final int BEFORE = 10;
    static final int AFTER = 3;

    /** The first rows of a token table. */
    record Table(String[] docs, String[] tokens, Map<String, String> sources) {}

    private TokenContexts() {}

    /** Reads the first {@code rows} lines of tokens.tsv (fewer if it ends first) and documents.tsv beside it. */
    static Table read(Path tokensTsv, long rows) throws IOException {
        if (!Files.isRegularFile(tokensTsv)) {
            throw new ReportException(
                    Files.isDirectory(tokensTsv)
                            ? "token table " + tokensTsv + " is a directory, not a" + " file (give its tokens.tsv)"
                            : "token table not found: " + tokensTsv);
        }
        List<String> docs = new ArrayList<>();
        List<String> tokens = new ArrayList<>();
        for (String line : TextFiles.readLines(tokensTsv, rows)) {
            String[] f = line.split("\t", 3);
            if (f.length != 3) {
                throw new ReportException(tokensTsv + " line " + (docs.size() + 1)
                        + ": expected doc<TAB>pos<TAB>token, got " + abbreviate(line));
            }
            docs.add(f[0]);
            tokens.add(unescape(f[2]));
        }
        Map<String, String> sources = new HashMap<>();
        Path documents = tokensTsv.resolveSibling("documents.tsv");
        if (Files.isRegularFile(documents)) {
            for (String line : TextFiles.readLines(documents, Long.MAX_VALUE)) {
                String[] f = line.split("\t", 3);
                if (f.length >= 2) {
                    sources.put(f[0], unescape(f[1]));
                }
            }
        }
        return new Table(docs.toArray(String[]::new), tokens.toArray(String[]::new), sources);
    }

    static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length()) {
                char n = s.charAt(++i);
                out.append(
                        switch (n) {
                            case 't' -> '\t';
                            case 'n' -> '\n';
                            case 'r' -> '\r';
                            default -> n;
                        });
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    /**
     * Up to {@code n} live latents spread evenly over the firing frequencies: the live latents sorted by
     * frequency are cut into n equal strata and one latent is drawn from each (seeded). Most frequent first.
     */
    static int[] pick(long[] fires, int n, long seed) {
        Integer[] live = java.util.stream.IntStream.range(0, fires.length)
                .filter(f -> fires[f] > 0)
                .boxed()
                .toArray(Integer[]::new);
        Arrays.sort(live, (a, b) -> fires[a] != fires[b] ? Long.compare(fires[b], fires[a]) : Integer.compare(a, b));
        int count = Math.min(n, live.length);
        int[] picked = new int[count];
        Random random = new Random(seed);
        for (int i = 0; i < count; i++) {
            int lo = (int) ((long) i * live.length / count), hi = (int) ((long) (i + 1) * live.length / count);
            picked[i] = live[lo + random.nextInt(hi - lo)];
        }
        return picked;
    }

    /** One section per latent: its firing frequency and its top activations in context, shaded by its values. */
    static String html(Table table, ActivationSample sample, int[] latents, Sae sae, ActivationFiles data) {
        long usable = Math.min(sample.tokens, table.tokens().length);
        // Every row shown, to encode once more for the shading of the context tokens.
        Map<Long, Integer> index = new LinkedHashMap<>();
        Map<Integer, List<long[]>> windows = new LinkedHashMap<>();
        for (int f : latents) {
            List<long[]> rows = new ArrayList<>();
            for (int slot : topSlots(sample, f)) {
                long hit = sample.topRows[slot];
                if (hit >= usable) {
                    continue;
                }
                long from = hit, to = hit;
                while (from > 0
                        && hit - from < BEFORE
                        && table.docs()[(int) from - 1].equals(table.docs()[(int) hit])) {
                    from--;
                }
                while (to + 1 < table.tokens().length
                        && to + 1 < data.rows()
                        && to - hit < AFTER
                        && table.docs()[(int) to + 1].equals(table.docs()[(int) hit])) {
                    to++;
                }
                rows.add(new long[] {hit, from, to, slot});
                for (long r = from; r <= to; r++) {
                    index.putIfAbsent(r, index.size());
                }
            }
            windows.put(f, rows);
        }
        float[][] values = encodeRows(
                sae, data, index.keySet().stream().mapToLong(Long::longValue).toArray(), latents);
        StringBuilder out = new StringBuilder();
        for (int li = 0; li < latents.length; li++) {
            int f = latents[li];
            double frequency = (double) sample.fires[f] / sample.tokens;
            float max = 0;
            for (long[] w : windows.get(f)) {
                max = Math.max(max, sample.topValues[(int) w[3]]);
            }
            out.append("<section class=\"latent\"><h3>latent ").append(f).append("</h3>");
            out.append(String.format(
                    Locale.ROOT,
                    "<p class=\"meta\">fires on %s of sample tokens (%d), log10 frequency %.2f, max activation %s</p>\n",
                    percent(frequency),
                    sample.fires[f],
                    Math.log10(frequency),
                    Html.number((double) max)));
            out.append("<table class=\"ctx\">\n");
            for (long[] w : windows.get(f)) {
                long hit = w[0];
                String doc = table.docs()[(int) hit];
                String source = table.sources().get(doc);
                out.append("<tr><td class=\"act\">")
                        .append(Html.number((double) sample.topValues[(int) w[3]]))
                        .append("</td><td class=\"doc\" title=\"")
                        .append(Html.escape(source == null ? "document " + doc : source))
                        .append("\">")
                        .append(Html.escape(abbreviate(doc)))
                        .append("</td><td class=\"text\">");
                for (long r = w[1]; r <= w[2]; r++) {
                    float v = values[index.get(r)][li];
                    double alpha = max > 0 ? Math.max(0, Math.min(1, v / max)) : 0;
                    out.append("<span class=\"")
                            .append(r == hit ? "tok hit" : "tok")
                            .append('"');
                    if (alpha > 0) {
                        out.append(String.format(
                                Locale.ROOT, " style=\"background:rgba(255,136,0,%.2f)\"", 0.08 + 0.72 * alpha));
                    }
                    out.append(" title=\"")
                            .append(Html.escape(String.format(Locale.ROOT, "row %d: %s", r, Html.number((double) v))))
                            .append("\">")
                            .append(Html.escape(visible(table.tokens()[(int) r])))
                            .append("</span>");
                }
                out.append("</td></tr>\n");
            }
            out.append("</table></section>\n");
        }
        return out.toString();
    }

    /** The latent's filled top slots, largest activation first. */
    private static Integer[] topSlots(ActivationSample sample, int f) {
        List<Integer> slots = new ArrayList<>();
        for (int i = f * sample.top; i < (f + 1) * sample.top; i++) {
            if (sample.topRows[i] >= 0) {
                slots.add(i);
            }
        }
        slots.sort((a, b) -> Float.compare(sample.topValues[b], sample.topValues[a]));
        return slots.toArray(Integer[]::new);
    }

    /** The chosen latents' codes of the given rows ({@code [row][latent]}), encoded with the inference rule. */
    private static float[][] encodeRows(Sae sae, ActivationFiles data, long[] rows, int[] latents) {
        float[][] out = new float[rows.length][latents.length];
        int dSae = Math.toIntExact(sae.dSae());
        int batch = (int) Math.max(1, Math.min(1024, (8L << 20) / dSae));
        long rowBytes = data.rowBytes();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment in = arena.allocate(batch * rowBytes, 16);
            MemorySegment codes = arena.allocate(ValueLayout.JAVA_FLOAT, (long) batch * dSae);
            for (int first = 0; first < rows.length; first += batch) {
                int n = Math.min(batch, rows.length - first);
                for (int i = 0; i < n; i++) {
                    data.copyRow(rows[first + i], in, i * rowBytes);
                }
                Tensor t = new Tensor(data.dtype(), new long[] {n, data.width()}, in.asSlice(0, n * rowBytes));
                sae.encode(t, Selection.INFERENCE, codes);
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < latents.length; j++) {
                        out[first + i][j] = codes.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * dSae + latents[j]);
                    }
                }
            }
        }
        return out;
    }

    /** Whitespace that would vanish or break the line, shown as a sign. */
    private static String visible(String token) {
        return token.replace("\n", "↵").replace("\t", "⇥").replace("\r", "");
    }

    private static String percent(double fraction) {
        return fraction >= 0.001
                ? String.format(Locale.ROOT, "%.2f%%", 100 * fraction)
                : String.format(Locale.ROOT, "%.4f%%", 100 * fraction);
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 37) + "...";
    }
}
