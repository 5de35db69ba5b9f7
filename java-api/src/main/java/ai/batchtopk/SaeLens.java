package ai.batchtopk;

import ai.batchtopk.io.AtomicFiles;
import ai.batchtopk.io.DType;
import ai.batchtopk.io.JsonCodec;
import ai.batchtopk.io.MalformedFileException;
import ai.batchtopk.io.Safetensors;
import ai.batchtopk.io.SafetensorsFile;
import ai.batchtopk.io.Tensor;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * Saves and loads SAEs in the SAELens directory layout ({@code cfg.json} + {@code
 * sae_weights.safetensors}, see FORMATS.md), the format other tools already read.
 *
 * <p>SAELens has no BatchTopK architecture at inference, so a BatchTopK SAE (Matryoshka or not) is written
 * as a JumpReLU whose {@code threshold} is theta everywhere, which is exactly how it encodes at inference. So that
 * our own loader can restore the true architecture and training config, {@code cfg.json} also holds
 * a {@value #OUR_KEY} object with every {@link SaeConfig} field (and theta, exactly); SAELens ignores
 * keys it does not know.
 *
 * <p>Besides inference directories ({@code jumprelu}, {@code topk}, {@code standard}) it reads the
 * training checkpoints SAELens writes for BatchTopK ({@code architecture: "batchtopk"}: {@code k}, the
 * {@code topk_threshold} tensor as theta, {@code topk_threshold_lr} as the theta momentum) and for
 * Matryoshka BatchTopK ({@code "matryoshka_batchtopk"}: the same, plus {@code matryoshka_widths}). When
 * {@code rescale_acts_by_decoder_norm} is true (SAELens's training default), the decoder norms are
 * folded into the encoder as SAELens does when it saves for inference, which leaves the SAE's function
 * unchanged and its decoder rows unit-norm, as this library keeps them.
 *
 * <p>Reading is lenient about what it does not need (unknown keys and tensors are ignored) and strict
 * about what it does: a shape that disagrees with {@code d_in}/{@code d_sae}, an unknown dtype or an
 * architecture we cannot run is a {@link MalformedFileException} naming the file and the field.
 */
public final class SaeLens {
    public static final String CONFIG_FILE = "cfg.json";
    public static final String WEIGHTS_FILE = "sae_weights.safetensors";
    /** The key of cfg.json that holds our own config. */
    public static final String OUR_KEY = "batchtopk";
    /** The SAELens version whose layout we write. */
    public static final String SAE_LENS_VERSION = "6.0.0";

    private static final List<String> PARAMETERS = List.of("W_enc", "W_dec", "b_enc", "b_dec");
    private static final List<String> METADATA_KEYS =
            List.of("model_name", "hook_name", "context_size", "dataset_path");

    private SaeLens() {}

    /**
     * Writes the SAE's parameters for inference into {@code dir} (created if missing), each file
     * atomically.
     *
     * @param metadata SAELens metadata such as {@code model_name}, {@code hook_name},
     *     {@code context_size}, {@code dataset_path}; missing ones are written as null
     */
    public static void saveInference(Sae sae, Path dir, Map<String, ?> metadata) throws IOException {
        Objects.requireNonNull(sae, "sae");
        Objects.requireNonNull(dir, "dir");
        SaeConfig config = sae.config();
        double theta = sae.theta();
        Files.createDirectories(dir);
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (String name : PARAMETERS) {
                tensors.put(name, sae.state(name, arena));
            }
            DType dtype = tensors.get("W_enc").dtype();
            switch (config.architecture()) {
                case BATCHTOPK, MATRYOSHKA_BATCHTOPK ->
                    tensors.put("threshold", constant(dtype, config.dSae(), theta, arena));
                case JUMPRELU -> tensors.put("threshold", thresholdsOf(sae.state("log_threshold", arena), arena));
                case TOPK, RELU -> {}
            }
            // Weights first: a cfg.json that names an architecture always has its tensors beside it.
            Safetensors.write(dir.resolve(WEIGHTS_FILE), tensors, Map.of("format", "pt"));
            AtomicFiles.writeString(
                    dir.resolve(CONFIG_FILE), JsonCodec.writePretty(configJson(config, theta, metadata)) + "\n");
        }
    }

    /** The contents of cfg.json for a config. */
    static SaeLensConfig configJson(SaeConfig config, double theta, Map<String, ?> metadata) {
        boolean topk = config.architecture() == Architecture.TOPK;
        String architecture = switch (config.architecture()) {
            case BATCHTOPK, MATRYOSHKA_BATCHTOPK, JUMPRELU -> "jumprelu";
            case TOPK -> "topk";
            case RELU -> "standard";
        };
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("sae_lens_version", SAE_LENS_VERSION);
        for (String key : METADATA_KEYS) {
            meta.put(key, null);
        }
        if (metadata != null) {
            meta.putAll(metadata);
        }
        ObjectNode ours = ConfigJson.toJson(config);
        ours.put("theta", theta);
        return new SaeLensConfig(
                config.dIn(),
                config.dSae(),
                config.doublePrecision() ? "float64" : "float32",
                config.device().name().toLowerCase(Locale.ROOT),
                // Every architecture here encodes (x - b_dec).
                true,
                // SAELens's "layer_norm" is the same per-token (x - mean) / (std + 1e-5) as ours.
                config.normalization() == Normalization.PER_TOKEN ? "layer_norm" : "none",
                "none",
                architecture,
                topk ? config.k() : null,
                topk ? false : null,
                null,
                null,
                meta,
                ours);
    }

    /**
     * The config {@code dir}'s cfg.json describes, as {@link #load} would build it (without the
     * caller's adjustments), read without the weights.
     */
    public static SaeConfig config(Path dir) throws IOException {
        Objects.requireNonNull(dir, "dir");
        return loadedConfig(dir.resolve(CONFIG_FILE)).config;
    }

    /** Loads an SAE saved by {@link #saveInference} or by SAELens. */
    public static Sae load(Path dir) throws IOException {
        return load(dir, UnaryOperator.identity());
    }

    /**
     * Loads an SAE, letting the caller change the training settings first (device, learning rate,
     * step path...). The shape, architecture and precision come from the files and may not change.
     */
    public static Sae load(Path dir, UnaryOperator<SaeConfig.Builder> adjust) throws IOException {
        Objects.requireNonNull(adjust, "adjust");
        Loaded found = loadedConfig(dir.resolve(CONFIG_FILE));
        SaeConfig config = adjust.apply(found.config.toBuilder()).build();
        if (config.dIn() != found.config.dIn()
                || config.dSae() != found.config.dSae()
                || config.architecture() != found.config.architecture()
                || config.doublePrecision() != found.config.doublePrecision()) {
            throw new IllegalArgumentException("the adjustments may not change d_in, d_sae, the architecture or the "
                    + "precision of a saved SAE: " + dir);
        }
        Path weightsFile = dir.resolve(WEIGHTS_FILE);
        try (Arena arena = Arena.ofConfined()) {
            SafetensorsFile weights = Safetensors.open(weightsFile, arena);
            DType dtype = config.doublePrecision() ? DType.F64 : DType.F32;
            Map<String, Tensor> params = new LinkedHashMap<>();
            for (String name : PARAMETERS) {
                params.put(name, expect(weights, name, dtype, shapeOf(name, config)));
            }
            Tensor threshold = found.savedArchitecture.equals("jumprelu")
                    ? expect(weights, "threshold", dtype, new long[] {config.dSae()})
                    : null;
            if (found.foldDecoderNorms) {
                foldDecoderNorms(params, arena);
            }
            Sae sae = Sae.create(config);
            try {
                for (Map.Entry<String, Tensor> param : params.entrySet()) {
                    setWeight(sae, weightsFile, param.getKey(), param.getValue());
                }
                switch (config.architecture()) {
                    case BATCHTOPK, MATRYOSHKA_BATCHTOPK ->
                        sae.setState(
                                "theta",
                                scalar(
                                        found.theta != null
                                                ? found.theta
                                                : found.savedArchitecture.endsWith("batchtopk")
                                                        ? topkThreshold(weights)
                                                        : constantValue(weightsFile, threshold),
                                        arena));
                    case JUMPRELU -> sae.setState("log_threshold", logThresholdsOf(weightsFile, threshold, arena));
                    case TOPK, RELU -> {}
                }
                return sae;
            } catch (RuntimeException | IOException e) {
                sae.close();
                throw e;
            }
        }
    }

    /** Sets one parameter; a NaN or infinity in it is an error naming the weights file. */
    private static void setWeight(Sae sae, Path weightsFile, String name, Tensor value) throws MalformedFileException {
        try {
            sae.setState(name, value);
        } catch (BatchTopKException e) {
            if (e.status() != Status.NON_FINITE) {
                throw e;
            }
            throw new MalformedFileException(weightsFile, "tensor '" + name + "' holds NaN or infinity", e);
        }
    }

    /**
     * What cfg.json says: the config, SAELens's architecture name, theta if we wrote it, and whether
     * the weights were trained with SAELens's {@code rescale_acts_by_decoder_norm}.
     */
    private record Loaded(SaeConfig config, String savedArchitecture, Double theta, boolean foldDecoderNorms) {}

    private static Loaded loadedConfig(Path cfgFile) throws IOException {
        SaeLensConfig cfg;
        try {
            cfg = JsonCodec.readFile(cfgFile, SaeLensConfig.class);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(cfgFile.toString(), null, "not an SAE directory: it has no " + CONFIG_FILE);
        }
        return cfg.batchtopk() != null && !cfg.batchtopk().isNull()
                ? fromOurKey(cfgFile, cfg)
                : fromSaeLens(cfgFile, cfg);
    }

    /** Our own key: the exact config; SAELens's fields must agree with it. */
    private static Loaded fromOurKey(Path cfgFile, SaeLensConfig cfg) throws MalformedFileException {
        JsonNode ours = cfg.batchtopk();
        if (!ours.isObject()) {
            throw new MalformedFileException(cfgFile, "'" + OUR_KEY + "' must be an object");
        }
        SaeConfig config;
        try {
            config = ConfigJson.fromJson(ours);
        } catch (IllegalArgumentException e) {
            throw new MalformedFileException(cfgFile, "'" + OUR_KEY + "': " + e.getMessage(), e);
        }
        long dIn = required(cfgFile, cfg.dIn(), "d_in");
        long dSae = required(cfgFile, cfg.dSae(), "d_sae");
        if (dIn != config.dIn() || dSae != config.dSae()) {
            throw new MalformedFileException(
                    cfgFile,
                    "d_in = " + dIn + ", d_sae = " + dSae + " disagree with '" + OUR_KEY + "' (d_in = " + config.dIn()
                            + ", d_sae = " + config.dSae() + ")");
        }
        Double theta = null;
        if (ours.hasNonNull("theta")) {
            if (!ours.get("theta").isNumber()) {
                throw new MalformedFileException(cfgFile, "'" + OUR_KEY + ".theta' must be a number");
            }
            theta = ours.get("theta").doubleValue();
        }
        String saved =
                config.architecture().hasTheta() || config.architecture() == Architecture.JUMPRELU ? "jumprelu" : "";
        return new Loaded(config, saved, theta, false);
    }

    /** A file SAELens wrote: map its architecture onto ours. */
    private static Loaded fromSaeLens(Path cfgFile, SaeLensConfig cfg) throws MalformedFileException {
        long dIn = required(cfgFile, cfg.dIn(), "d_in");
        long dSae = required(cfgFile, cfg.dSae(), "d_sae");
        String architecture = Objects.requireNonNullElse(cfg.architecture(), "standard");
        SaeConfig.Builder builder = SaeConfig.builder(dIn, dSae);
        boolean foldDecoderNorms = false;
        switch (architecture) {
            case "jumprelu" -> builder.architecture(Architecture.JUMPRELU);
            case "standard" -> builder.architecture(Architecture.RELU);
            // SAELens's defaults: false for its inference TopK SAE, true for its BatchTopK training SAE.
            case "topk" -> {
                builder.architecture(Architecture.TOPK).k(kOf(cfgFile, cfg.k(), dSae));
                foldDecoderNorms = Objects.requireNonNullElse(cfg.rescaleActsByDecoderNorm(), false);
            }
            case "batchtopk", "matryoshka_batchtopk" -> {
                builder.k(kOf(cfgFile, cfg.k(), dSae));
                if (architecture.equals("batchtopk")) {
                    builder.architecture(Architecture.BATCHTOPK);
                } else {
                    builder.architecture(Architecture.MATRYOSHKA_BATCHTOPK)
                            .matryoshkaWidths(widthsOf(cfgFile, cfg.matryoshkaWidths(), dSae));
                }
                foldDecoderNorms = Objects.requireNonNullElse(cfg.rescaleActsByDecoderNorm(), true);
                if (cfg.topkThresholdLr() != null) {
                    builder.thetaMomentum(cfg.topkThresholdLr().doubleValue());
                }
            }
            default ->
                throw new MalformedFileException(
                        cfgFile,
                        "architecture " + JsonCodec.quoteShort(architecture)
                                + " is not supported (batchtopk, matryoshka_batchtopk, jumprelu, topk and standard are)");
        }
        String dtype = Objects.requireNonNullElse(cfg.dtype(), "float32");
        switch (dtype) {
            case "float32", "torch.float32" -> builder.doublePrecision(false);
            case "float64", "torch.float64" -> builder.doublePrecision(true);
            default ->
                throw new MalformedFileException(
                        cfgFile,
                        "dtype " + JsonCodec.quoteShort(dtype) + " is not supported (float32 and float64 are)");
        }
        String normalize = Objects.requireNonNullElse(cfg.normalizeActivations(), "none");
        switch (normalize) {
            case "none" -> builder.normalization(Normalization.NONE);
            case "layer_norm" -> builder.normalization(Normalization.PER_TOKEN);
            default ->
                throw new MalformedFileException(
                        cfgFile,
                        "normalize_activations " + JsonCodec.quoteShort(normalize)
                                + " is not supported (none and layer_norm are)");
        }
        if (Boolean.FALSE.equals(cfg.applyBDecToInput())) {
            throw new MalformedFileException(
                    cfgFile, "apply_b_dec_to_input = false is not supported: this library always encodes x - b_dec");
        }
        String reshape = Objects.requireNonNullElse(cfg.reshapeActivations(), "none");
        if (!reshape.equals("none")) {
            throw new MalformedFileException(
                    cfgFile, "reshape_activations " + JsonCodec.quoteShort(reshape) + " is not supported");
        }
        try {
            return new Loaded(builder.build(), architecture, null, foldDecoderNorms);
        } catch (IllegalArgumentException e) {
            throw new MalformedFileException(cfgFile, e.getMessage(), e);
        }
    }

    private static long[] shapeOf(String name, SaeConfig c) {
        return switch (name) {
            case "W_enc" -> new long[] {c.dIn(), c.dSae()};
            case "W_dec" -> new long[] {c.dSae(), c.dIn()};
            case "b_enc" -> new long[] {c.dSae()};
            case "b_dec" -> new long[] {c.dIn()};
            default -> throw new IllegalArgumentException(name);
        };
    }

    private static Tensor expect(SafetensorsFile file, String name, DType dtype, long[] shape)
            throws MalformedFileException {
        Tensor t = file.get(name);
        if (!Arrays.equals(t.shape(), shape)) {
            throw new MalformedFileException(
                    file.path(),
                    name + " has shape " + Arrays.toString(t.shape()) + " but " + CONFIG_FILE
                            + " (d_in, d_sae) makes it " + Arrays.toString(shape));
        }
        if (t.dtype() != dtype) {
            throw new MalformedFileException(
                    file.path(),
                    name + " has dtype " + t.dtype() + " but " + CONFIG_FILE + " says "
                            + (dtype == DType.F64 ? "float64" : "float32"));
        }
        return t;
    }

    /** SAELens's k: an integer for TopK, a float for BatchTopK (an average), which must be whole here. */
    private static int kOf(Path file, Number v, long dSae) throws MalformedFileException {
        if (v == null) {
            throw new MalformedFileException(file, "missing 'k'");
        }
        double k = v.doubleValue();
        if (k != Math.rint(k)) {
            throw new MalformedFileException(
                    file,
                    "k = " + v + " is not a whole number; this library keeps an integer k"
                            + " per token (k * batch size activations per batch)");
        }
        if (k < 1 || k > dSae) {
            throw new MalformedFileException(file, "k = " + v + " must be in 1..d_sae (" + dSae + ")");
        }
        return (int) k;
    }

    /**
     * SAELens's {@code matryoshka_widths}; like SAELens, a list that stops short of d_sae gets d_sae as
     * its last width.
     */
    private static List<Long> widthsOf(Path file, List<Long> given, long dSae) throws MalformedFileException {
        if (given == null) {
            throw new MalformedFileException(file, "missing 'matryoshka_widths'");
        }
        if (given.contains(null)) {
            throw new MalformedFileException(file, "'matryoshka_widths' must be an array of integers, but holds null");
        }
        List<Long> widths = new ArrayList<>(given);
        if (widths.isEmpty() || widths.getLast() < dSae) {
            widths.add(dSae);
        }
        return widths;
    }

    private static long required(Path file, Long value, String key) throws MalformedFileException {
        if (value == null) {
            throw new MalformedFileException(file, "missing '" + key + "'");
        }
        return value;
    }

    // ---- thresholds: theta and log_threshold on our side, threshold on SAELens's

    private static Tensor constant(DType dtype, long n, double value, Arena arena) {
        Tensor t = Tensor.allocate(dtype, new long[] {n}, arena);
        for (long i = 0; i < n; i++) {
            set(t, i, value);
        }
        return t;
    }

    private static Tensor scalar(double value, Arena arena) {
        Tensor t = Tensor.allocate(DType.F64, new long[0], arena);
        t.data().set(Tensor.F64_LE, 0, value);
        return t;
    }

    /** Theta of a SAELens BatchTopK training checkpoint: its {@code topk_threshold}, a scalar. */
    private static double topkThreshold(SafetensorsFile weights) throws MalformedFileException {
        Tensor t = weights.get("topk_threshold");
        if (t.numel() != 1 || (t.dtype() != DType.F64 && t.dtype() != DType.F32)) {
            throw new MalformedFileException(
                    weights.path(),
                    "topk_threshold must be one float64 or float32 value, got " + t.dtype() + " "
                            + Arrays.toString(t.shape()));
        }
        double theta = get(t, 0);
        if (!(theta >= 0) || Double.isInfinite(theta)) {
            throw new MalformedFileException(
                    weights.path(), "topk_threshold = " + theta + " is not a finite number >= 0");
        }
        return theta;
    }

    /**
     * SAELens's {@code rescale_acts_by_decoder_norm} folded into the parameters, as SAELens folds it
     * when it saves for inference: with {@code n_j = max(||W_dec[j]||, 1e-8)}, {@code W_dec[j] /= n_j},
     * {@code W_enc[:, j] *= n_j}, {@code b_enc[j] *= n_j}. The pre-activations become exactly the
     * rescaled ones SAELens selects from and compares with its threshold, so nothing else changes.
     */
    private static void foldDecoderNorms(Map<String, Tensor> params, Arena arena) {
        Tensor wEnc = copy(params.get("W_enc"), arena);
        Tensor wDec = copy(params.get("W_dec"), arena);
        Tensor bEnc = copy(params.get("b_enc"), arena);
        int dSae = Math.toIntExact(wDec.dim(0));
        long dIn = wDec.dim(1);
        double[] norms = new double[dSae];
        for (int j = 0; j < dSae; j++) {
            double squares = 0;
            for (long i = 0; i < dIn; i++) {
                double w = get(wDec, j * dIn + i);
                squares += w * w;
            }
            norms[j] = Math.max(Math.sqrt(squares), 1e-8);
            for (long i = 0; i < dIn; i++) {
                set(wDec, j * dIn + i, get(wDec, j * dIn + i) / norms[j]);
            }
            set(bEnc, j, get(bEnc, j) * norms[j]);
        }
        for (long i = 0; i < dIn; i++) {
            for (int j = 0; j < dSae; j++) {
                set(wEnc, i * dSae + j, get(wEnc, i * dSae + j) * norms[j]);
            }
        }
        params.put("W_enc", wEnc);
        params.put("W_dec", wDec);
        params.put("b_enc", bEnc);
    }

    private static Tensor copy(Tensor t, Arena arena) {
        Tensor out = Tensor.allocate(t.dtype(), t.shape(), arena);
        MemorySegment.copy(t.data(), 0, out.data(), 0, t.byteSize());
        return out;
    }

    /** Theta of a BatchTopK SAE exported by someone else: its threshold must be one value throughout. */
    private static double constantValue(Path file, Tensor threshold) throws MalformedFileException {
        double first = get(threshold, 0);
        for (long i = 1; i < threshold.numel(); i++) {
            if (get(threshold, i) != first) {
                throw new MalformedFileException(
                        file,
                        "threshold is not constant (threshold[0] = " + first + ", threshold[" + i + "] = "
                                + get(threshold, i) + "); a BatchTopK SAE has one theta");
            }
        }
        return first;
    }

    /**
     * {@code exp(log_threshold)}, choosing for each element the representable value, nearest to the
     * exact one, whose log rounds back to the same log_threshold; so saving and loading gives back
     * the very same bits whenever such a value exists (always for thresholds far from 1, as they are).
     * StrictMath keeps the result the same on every JVM.
     */
    static Tensor thresholdsOf(Tensor logThreshold, Arena arena) {
        Tensor out = Tensor.allocate(logThreshold.dtype(), logThreshold.shape(), arena);
        boolean f32 = logThreshold.dtype() == DType.F32;
        for (long i = 0; i < logThreshold.numel(); i++) {
            double lt = get(logThreshold, i);
            set(out, i, f32 ? roundTripFloat((float) lt) : roundTripDouble(lt));
        }
        return out;
    }

    private static float roundTripFloat(float lt) {
        float t = (float) StrictMath.exp(lt);
        float up = t;
        float down = t;
        for (int i = 0; i < 8; i++) {
            if ((float) StrictMath.log(up) == lt) return up;
            if ((float) StrictMath.log(down) == lt) return down;
            up = Math.nextUp(up);
            down = Math.nextDown(down);
        }
        return t;
    }

    private static double roundTripDouble(double lt) {
        double t = StrictMath.exp(lt);
        double up = t;
        double down = t;
        for (int i = 0; i < 8; i++) {
            if (StrictMath.log(up) == lt) return up;
            if (StrictMath.log(down) == lt) return down;
            up = Math.nextUp(up);
            down = Math.nextDown(down);
        }
        return t;
    }

    /** {@code log(threshold)}, which must be positive everywhere. */
    static Tensor logThresholdsOf(Path file, Tensor threshold, Arena arena) throws MalformedFileException {
        Tensor out = Tensor.allocate(threshold.dtype(), threshold.shape(), arena);
        boolean f32 = threshold.dtype() == DType.F32;
        for (long i = 0; i < threshold.numel(); i++) {
            double t = get(threshold, i);
            if (!(t > 0) || Double.isInfinite(t)) {
                throw new MalformedFileException(
                        file,
                        "threshold[" + i + "] = " + t + " is not a finite positive number, so it has no log_threshold");
            }
            double lt = StrictMath.log(t);
            set(out, i, f32 ? (float) lt : lt);
        }
        return out;
    }

    private static double get(Tensor t, long i) {
        MemorySegment d = t.data();
        return t.dtype() == DType.F32 ? d.getAtIndex(Tensor.F32_LE, i) : d.getAtIndex(Tensor.F64_LE, i);
    }

    private static void set(Tensor t, long i, double v) {
        MemorySegment d = t.data();
        if (t.dtype() == DType.F32) {
            d.setAtIndex(Tensor.F32_LE, i, (float) v);
        } else {
            d.setAtIndex(Tensor.F64_LE, i, v);
        }
    }
}
