package ai.batchtopk.reliability;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/** The outcomes of every case run, for the closing counts line and the per-case report file. */
final class Tally {
    private record Entry(String family, String name, Verdict verdict) {}

    private final List<Entry> entries = new ArrayList<>();
    private final List<String> skipped = new ArrayList<>();

    synchronized void add(String family, String name, Verdict verdict) {
        entries.add(new Entry(family, name, verdict));
    }

    /** {@code adversarial: N cases, N clear errors, N correct, N crashes, N silent wrong results, N lost outputs, N unclear errors}. */
    synchronized String counts() {
        Map<Outcome, Integer> counts = new EnumMap<>(Outcome.class);
        for (Entry e : entries) {
            counts.merge(e.verdict().outcome(), 1, Integer::sum);
        }
        StringBuilder sb =
                new StringBuilder("adversarial: ").append(entries.size()).append(" cases");
        for (Outcome o : Outcome.values()) {
            sb.append(", ").append(counts.getOrDefault(o, 0)).append(' ').append(o.plural);
        }
        return sb.toString();
    }

    /** A case this machine cannot run (counted apart: it has no outcome). */
    synchronized void skip(String family, String name, String why) {
        skipped.add(family + " / " + name + ": " + why);
    }

    synchronized List<String> skipped() {
        return List.copyOf(skipped);
    }

    /** One line per failing case. */
    synchronized List<String> failures() {
        return entries.stream()
                .filter(e -> !e.verdict().passes())
                .map(e -> e.family() + " / " + e.name() + ": " + e.verdict())
                .toList();
    }

    /** Every case, tab-separated: family, name, outcome, detail. */
    synchronized void write(Path file) throws IOException {
        List<String> lines = new ArrayList<>();
        lines.add("family\tcase\toutcome\tdetail");
        for (Entry e : entries) {
            lines.add(e.family() + "\t" + e.name() + "\t" + e.verdict().outcome() + "\t"
                    + e.verdict().detail().replaceAll("\\s+", " "));
        }
        Files.createDirectories(file.getParent());
        // getBytes replaces what UTF-8 cannot encode (a lone surrogate quoted from a hostile file) instead of failing.
        Files.write(file, (String.join("\n", lines) + "\n").getBytes(StandardCharsets.UTF_8));
    }
}
