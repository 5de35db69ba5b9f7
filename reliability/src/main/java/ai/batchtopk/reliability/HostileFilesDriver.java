package ai.batchtopk.reliability;

import ai.batchtopk.Sae;
import ai.batchtopk.SaeLens;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.SafetensorsFile;
import ai.batchtopk.io.Tensor;
import ai.batchtopk.training.Main;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.Writer;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs in a child JVM: goes through a manifest of hostile files and, for each, calls the library
 * reader and the command line ({@code eval}, {@code train}) in this process, writing what happened as
 * JSON lines. Each file's lines start with {@code begin} and end with {@code end}, flushed, so that
 * when native code takes this JVM down the runner knows which file did it and goes on from the next.
 *
 * <p>Arguments: MANIFEST RESULTS REFERENCE_SAE_DIR REFERENCE_DATA SCRATCH_DIR FIRST_INDEX.
 */
public final class HostileFilesDriver {
    private HostileFilesDriver() {}

    public static void main(String[] args) throws IOException {
        List<String> manifest = Files.readAllLines(Path.of(args[0]));
        Path results = Path.of(args[1]);
        Path referenceSae = Path.of(args[2]);
        Path referenceData = Path.of(args[3]);
        Path scratch = Path.of(args[4]);
        int first = Integer.parseInt(args[5]);
        try (Writer out = Files.newBufferedWriter(
                results, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
            for (int i = first; i < manifest.size(); i++) {
                HostileFile file = HostileFile.fromJson(manifest.get(i));
                long start = System.nanoTime();
                line(out, Map.of("id", file.id(), "phase", "begin"));
                line(out, read(file));
                if (file.isData()) {
                    line(
                            out,
                            cli(
                                    file,
                                    "eval",
                                    "eval",
                                    "--sae",
                                    referenceSae,
                                    "--data",
                                    file.path(),
                                    "--batch-size",
                                    16));
                    line(
                            out,
                            cli(
                                    file,
                                    "train",
                                    "train",
                                    "--data",
                                    file.path(),
                                    "--d-sae",
                                    16,
                                    "--k",
                                    2,
                                    "--batch-size",
                                    8,
                                    "--steps",
                                    5,
                                    "--no-shuffle",
                                    "--out",
                                    scratch.resolve(file.id())));
                } else {
                    line(
                            out,
                            cli(
                                    file,
                                    "eval",
                                    "eval",
                                    "--sae",
                                    file.path(),
                                    "--data",
                                    referenceData,
                                    "--batch-size",
                                    16));
                    line(
                            out,
                            cli(
                                    file,
                                    "train",
                                    "train",
                                    "--data",
                                    referenceData,
                                    "--init",
                                    file.path(),
                                    "--batch-size",
                                    8,
                                    "--steps",
                                    5,
                                    "--no-shuffle",
                                    "--out",
                                    scratch.resolve(file.id())));
                }
                line(out, Map.of("id", file.id(), "phase", "end", "ms", (System.nanoTime() - start) / 1_000_000));
            }
        }
    }

    private static void line(Writer out, Map<String, ?> fields) throws IOException {
        out.write(JsonCodec.write(fields));
        out.write('\n');
        out.flush();
    }

    /** The library reader: accepted (with how the values compare to the expected rows) or the exception. */
    private static Map<String, Object> read(HostileFile file) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("id", file.id());
        r.put("check", "reader");
        try (Arena arena = Arena.ofConfined()) {
            switch (file.kind()) {
                case NPY -> r.put("detail", compare(Npy.map(file.path(), arena, DType.BF16), file, arena));
                case SAFETENSORS -> {
                    SafetensorsFile st = Safetensors.open(file.path(), arena);
                    Tensor acts = st.contains("acts")
                            ? st.get("acts")
                            : st.tensors().values().iterator().next();
                    r.put("detail", compare(acts, file, arena));
                }
                case SAE_DIR -> {
                    try (Sae sae = SaeLens.load(file.path())) {
                        r.put("detail", "loaded: d_in " + sae.dIn() + ", d_sae " + sae.dSae());
                    }
                }
            }
            r.put("ok", true);
        } catch (Throwable e) {
            r.put("ok", false);
            r.put("exception", e.getClass().getName());
            r.put("message", String.valueOf(e.getMessage()));
        }
        return r;
    }

    /** "equal" when the tensor holds exactly the expected rows; else what differs. */
    private static String compare(Tensor tensor, HostileFile file, Arena arena) throws IOException {
        String shape = tensor.dtype() + " " + Arrays.toString(tensor.shape());
        if (file.expectedRows() == null || !tensor.dtype().isFloatingPoint()) {
            return "accepted as " + shape;
        }
        float[] expected = Npy.map(file.expectedRows(), arena).toFloatArray();
        float[] actual = tensor.toFloatArray();
        if (actual.length != expected.length) {
            return "differs: " + shape + " holds " + actual.length + " values, expected " + expected.length;
        }
        for (int i = 0; i < actual.length; i++) {
            if (Float.compare(actual[i], expected[i]) != 0) {
                return "differs: value " + i + " is " + actual[i] + ", expected " + expected[i];
            }
        }
        return "equal";
    }

    /** One command line run in this JVM: exit code, stdout, stderr, or what escaped Main.run. */
    private static Map<String, Object> cli(HostileFile file, String check, Object... args) {
        String[] text = Arrays.stream(args).map(String::valueOf).toArray(String[]::new);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("id", file.id());
        r.put("check", check);
        try {
            r.put(
                    "exit",
                    Main.run(
                            new PrintStream(out, true, StandardCharsets.UTF_8),
                            new PrintStream(err, true, StandardCharsets.UTF_8),
                            text));
        } catch (Throwable e) {
            StringWriter trace = new StringWriter();
            e.printStackTrace(new PrintWriter(trace));
            r.put("threw", trace.toString());
        }
        r.put("out", out.toString(StandardCharsets.UTF_8));
        r.put("err", err.toString(StandardCharsets.UTF_8));
        return r;
    }
}
