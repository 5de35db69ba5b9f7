package ai.batchtopk.reliability;

import ai.batchtopk.SaeLens;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.Npy;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.function.ObjIntConsumer;

/**
 * Seeded hostile .npy, safetensors and SAELens directories, each with what every reader must make of
 * it, written in plain Java (no native code runs in the test runner). The data files are all
 * re-encodings of one reference table of rows, and the SAE directories variations of one reference
 * SAE, so that for whatever must be accepted the right values and the right {@code eval} metrics are
 * known here.
 */
final class HostileFiles {
    static final int ROWS = 40;
    static final int D = 8;
    static final int D_SAE = 16;

    final Path dir;
    final Random random;
    /** The reference rows, row-major [ROWS, D]: a non-zero mean and unequal column scales. */
    final float[] rows;

    final ReferenceSae sae;
    final Path referenceSaeDir;
    final Path referenceData;
    final List<HostileFile> files = new ArrayList<>();

    private HostileFiles(Path dir, long seed) throws IOException {
        this.dir = Files.createDirectories(dir);
        this.random = new Random(seed);
        this.rows = new float[ROWS * D];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = (float) (random.nextGaussian() * (1 + i % D) * 0.5 + (i % D) * 0.2 - 0.5);
        }
        this.sae = ReferenceSae.random(ReferenceSae.Kind.STANDARD, D, D_SAE, random);
        this.referenceSaeDir = writeSae(
                dir.resolve("reference-sae"),
                sae,
                JsonCodec.writePretty(sae.config()).getBytes(StandardCharsets.UTF_8));
        this.referenceData = dir.resolve("reference.npy");
        Npy.write(referenceData, Tensor.ofFloats(new long[] {ROWS, D}, rows));
    }

    /**
     * Writes into {@code dir} every fixed variant of every kind of damage, then {@code extra} seeded random
     * picks among them, and the manifest (one JSON line per file).
     */
    static HostileFiles generate(Path dir, long seed, int extra) throws IOException {
        HostileFiles h = new HostileFiles(dir, seed);
        HostileNpy.addTo(h, extra * 2 / 5);
        HostileSafetensors.addTo(h, extra * 3 / 10);
        HostileSaeDirs.addTo(h, extra * 3 / 10);
        Files.write(h.manifest(), h.files.stream().map(HostileFile::toJson).toList());
        return h;
    }

    /** A kind of damage with {@code variants} fixed forms (each may draw more from {@link #random}). */
    record Mutation(int variants, ObjIntConsumer<HostileFiles> make) {}

    /** Every variant of every mutation once, then {@code extra} seeded random picks (new random offsets, sizes...). */
    void mutate(List<Mutation> mutations, int extra) {
        for (Mutation m : mutations) {
            for (int v = 0; v < m.variants(); v++) {
                m.make().accept(this, v);
            }
        }
        for (int i = 0; i < extra; i++) {
            Mutation m = mutations.get(random.nextInt(mutations.size()));
            m.make().accept(this, random.nextInt(m.variants()));
        }
    }

    Path manifest() {
        return dir.resolve("manifest.jsonl");
    }

    /** A fresh name for the next file: {@code <kind>-<n>-<tag>}, which the file's path then holds. */
    String nextId(String kind, String tag) {
        return String.format(Locale.ROOT, "%s-%03d-%s", kind, files.size(), tag);
    }

    /** A file every reader must refuse. */
    void refused(HostileFile.Kind kind, String id, Path path, String note) {
        files.add(new HostileFile(id, kind, path, false, false, false, null, Double.NaN, Double.NaN, note));
    }

    /**
     * A data file the library reader accepts holding {@code stored} (row-major, {@code width} wide; null
     * for a non-float tensor); train and eval accept it or not as given. eval's right answer is computed
     * when it accepts.
     */
    void data(HostileFile.Kind kind, String id, Path path, float[] stored, boolean train, boolean eval, String note) {
        Path expected = null;
        if (stored != null) {
            expected = dir.resolve(id + ".expected.npy");
            write(expected, stored);
        }
        ReferenceSae.Evaluation e = eval ? sae.evaluate(stored) : null;
        files.add(new HostileFile(
                id,
                kind,
                path,
                true,
                train,
                eval,
                expected,
                e == null ? Double.NaN : e.nmse(),
                e == null ? Double.NaN : e.l0(),
                note));
    }

    /** An SAE directory that loads, evaluating the reference rows as {@code saved} computes. */
    void saeAccepted(String id, Path path, ReferenceSae saved, String note) {
        ReferenceSae.Evaluation e = saved.evaluate(rows);
        files.add(new HostileFile(id, HostileFile.Kind.SAE_DIR, path, true, true, true, null, e.nmse(), e.l0(), note));
    }

    private static void write(Path file, float[] values) {
        try {
            Npy.write(file, Tensor.ofFloats(new long[] {values.length}, values));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Path writeSae(Path dir, ReferenceSae sae, byte[] cfg) throws IOException {
        Files.createDirectories(dir);
        Files.write(dir.resolve(SaeLens.CONFIG_FILE), cfg);
        Safetensors.write(dir.resolve(SaeLens.WEIGHTS_FILE), sae.weights(), Map.of("format", "pt"));
        return dir;
    }

    static byte[] f32(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return b.array();
    }

    static byte[] f64(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putDouble(v);
        }
        return b.array();
    }

    /** Half precision: the bytes, and {@code values} rounded in place to what they hold. */
    static byte[] f16(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < values.length; i++) {
            short h = Float.floatToFloat16(values[i]);
            b.putShort(h);
            values[i] = Float.float16ToFloat(h);
        }
        return b.array();
    }

    /** bfloat16 (the top half of a float): the bytes, and {@code values} truncated in place. */
    static byte[] bf16(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < values.length; i++) {
            int top = Float.floatToRawIntBits(values[i]) >>> 16;
            b.putShort((short) top);
            values[i] = Float.intBitsToFloat(top << 16);
        }
        return b.array();
    }

    static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        byte[] all = new byte[n];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, all, at, p.length);
            at += p.length;
        }
        return all;
    }

    /** The reference rows with one value replaced by NaN or an infinity (a copy). */
    float[] withNonFinite() {
        float[] v = rows.clone();
        float[] bad = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
        v[random.nextInt(v.length)] = bad[random.nextInt(bad.length)];
        return v;
    }

    Path write(String name, byte[] bytes) {
        try {
            return Files.write(dir.resolve(name), bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
