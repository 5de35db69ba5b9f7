package ai.batchtopk.reliability;

import ai.batchtopk.io.JsonCodec;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One generated input and what each reader must make of it. The generator writes these as JSON lines
 * (the manifest); the driver in the child JVM reads them back.
 *
 * @param id unique, e.g. {@code npy-017-truncated}
 * @param kind what the file is meant to be
 * @param path the file (or, for an SAE, the directory)
 * @param reader whether the library reader (Npy.map, Safetensors.open, SaeLens.load) must accept it
 * @param train whether {@code train --data} must accept it (data kinds only)
 * @param eval whether {@code eval} must accept it
 * @param expectedRows for an accepted data file, an f32 .npy of the rows it holds (null otherwise)
 * @param expectedNmse what eval must print when it accepts (NaN when not accepted)
 * @param expectedL0 likewise
 * @param note what was done to the file
 */
public record HostileFile(
        String id,
        Kind kind,
        Path path,
        boolean reader,
        boolean train,
        boolean eval,
        Path expectedRows,
        double expectedNmse,
        double expectedL0,
        String note) {

    public enum Kind {
        NPY,
        SAFETENSORS,
        SAE_DIR
    }

    public boolean isData() {
        return kind != Kind.SAE_DIR;
    }

    public String toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", id);
        m.put("kind", kind.name());
        m.put("path", path.toString());
        m.put("reader", reader);
        m.put("train", train);
        m.put("eval", eval);
        m.put("expected_rows", expectedRows == null ? null : expectedRows.toString());
        m.put("expected_nmse", Double.isNaN(expectedNmse) ? null : expectedNmse);
        m.put("expected_l0", Double.isNaN(expectedL0) ? null : expectedL0);
        m.put("note", note);
        return JsonCodec.write(m);
    }

    public static HostileFile fromJson(String line) {
        Map<?, ?> m = (Map<?, ?>) JsonCodec.parse(line);
        return new HostileFile(
                (String) m.get("id"),
                Kind.valueOf((String) m.get("kind")),
                Path.of((String) m.get("path")),
                (Boolean) m.get("reader"),
                (Boolean) m.get("train"),
                (Boolean) m.get("eval"),
                m.get("expected_rows") == null ? null : Path.of((String) m.get("expected_rows")),
                number(m.get("expected_nmse")),
                number(m.get("expected_l0")),
                (String) m.get("note"));
    }

    private static double number(Object o) {
        return o == null ? Double.NaN : ((Number) o).doubleValue();
    }
}
